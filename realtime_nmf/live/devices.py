"""Audio devices: the only module that imports sounddevice (PortAudio), and only when called.

File mode works on a machine without PortAudio; live mode starts here: listing devices,
choosing them by index or name, negotiating a sample rate, opening the stream whose
callback only calls :meth:`realtime_nmf.live.engine.LiveEngine.process`.
"""

from __future__ import annotations

from ..errors import DeviceError

__all__ = ["device_table", "find_device", "choose_rate", "open_stream", "sounddevice_module"]


def sounddevice_module():
    try:
        import sounddevice
    except OSError as exc:  # the wheel does not ship PortAudio on Linux
        raise DeviceError(
            f"live audio needs the PortAudio library, which is not installed ({exc}); on Debian or Ubuntu: "
            "sudo apt-get install libportaudio2 (file mode, --input FILE --output FILE, works without it)"
        ) from None
    except ImportError as exc:
        raise DeviceError(f"live audio needs the sounddevice package ({exc}); pip install sounddevice") from None
    return sounddevice


# --------------------------------------------------------------------------------------
# devices


def device_table() -> str:
    """All audio devices, one per line, with the default input and output marked."""
    sd = sounddevice_module()
    devices = sd.query_devices()
    if len(devices) == 0:
        return "no audio devices found (no sound card, or no sound server running)"
    hostapis = sd.query_hostapis()
    default_in, default_out = _defaults(sd)
    lines = [" idx  in out  rate    host API     name"]
    for device in devices:
        i = device["index"]
        mark = ("<" if i == default_in else " ") + (">" if i == default_out else " ")
        lines.append(f"{mark}{i:3d}  {device['max_input_channels']:2d} {device['max_output_channels']:3d}  "
                     f"{int(device['default_samplerate']):6d}  {hostapis[device['hostapi']]['name'][:11]:<11}  {device['name']}")
    lines.append("< default input, > default output; choose with --input-device/--output-device and an index or part of a name")
    return "\n".join(lines)


def _defaults(sd) -> tuple[int, int]:
    default = sd.default.device
    try:
        default_in, default_out = int(default[0]), int(default[1])
    except (TypeError, ValueError, IndexError):
        default_in = default_out = -1
    return default_in, default_out


def find_device(spec: str | int | None, kind: str) -> int:
    """Resolve ``spec`` (an index, a unique part of a name, or None for the default) to a device index.

    Parameters
    ----------
    spec : str, int or None
    kind : {"input", "output"}

    Raises
    ------
    DeviceError
        If no such device exists, the name is ambiguous, or the device has no channels
        of that kind; the message lists the devices.
    """
    sd = sounddevice_module()
    devices = sd.query_devices()
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    if spec is None:
        default_in, default_out = _defaults(sd)
        index = default_in if kind == "input" else default_out
        if index < 0 or index >= len(devices) or devices[index][key] < 1:
            raise DeviceError(f"there is no default {kind} device\n{device_table()}")
        return index
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(devices):
            raise DeviceError(f"there is no audio device {index}\n{device_table()}")
    else:
        matches = [d["index"] for d in devices if text.lower() in d["name"].lower() and d[key] > 0]
        if not matches:
            raise DeviceError(f"no {kind} device has {text!r} in its name\n{device_table()}")
        if len(matches) > 1:
            names = ", ".join(f"{i}: {devices[i]['name']}" for i in matches)
            raise DeviceError(f"{text!r} matches several {kind} devices ({names}); give more of the name or the index")
        index = matches[0]
    if devices[index][key] < 1:
        raise DeviceError(f"device {index} ({devices[index]['name']}) has no {kind} channels\n{device_table()}")
    return index


def choose_rate(sd, input_device, output_device, channels_in, channels_out, wanted: int) -> int:
    """The dictionary's rate if the devices take it, else the output (or input) device's default rate."""

    def accepts(rate: float) -> bool:
        try:
            if input_device is not None:
                sd.check_input_settings(device=input_device, channels=channels_in, dtype="float32", samplerate=rate)
            if output_device is not None:
                sd.check_output_settings(device=output_device, channels=channels_out, dtype="float32", samplerate=rate)
            return True
        except Exception:
            return False

    if accepts(wanted):
        return int(wanted)
    device = output_device if output_device is not None else input_device
    fallback = int(sd.query_devices(device)["default_samplerate"])
    if accepts(fallback):
        return fallback
    supported = [r for r in (8000, 16000, 22050, 32000, 44100, 48000, 96000) if accepts(r)]
    raise DeviceError(
        f"the audio devices take neither {wanted} Hz (the dictionary's rate) nor {fallback} Hz; "
        f"rates they accept: {', '.join(map(str, supported)) or 'none of the common ones'}"
    )


def open_stream(sd, *, input_device: int | None, output_device: int | None, channels_in: int, channels_out: int, sample_rate: int,
                block_size: int, latency, engine, on_status):
    """Open (not start) a PortAudio stream whose callback runs ``engine.process``.

    Parameters
    ----------
    sd : module
        sounddevice, from :func:`sounddevice_module`.
    input_device, output_device : int or None
        None for an output-only or input-only stream.
    channels_in, channels_out : int
    sample_rate : int
    block_size : int
        0 lets the host choose.
    latency : str or float
        PortAudio's latency setting.
    engine : LiveEngine
    on_status : callable(status)
        Called from the callback with PortAudio's status flags when any is set.

    Raises
    ------
    DeviceError
        When PortAudio refuses to open the stream.
    """
    def duplex(indata, outdata, frames, time_info, status):
        if status:
            on_status(status)
        engine.process(indata, outdata)

    def capture(indata, frames, time_info, status):
        if status:
            on_status(status)
        engine.process(indata, None)

    def playback(outdata, frames, time_info, status):
        if status:
            on_status(status)
        engine.process(None, outdata)

    common = dict(samplerate=sample_rate, blocksize=block_size, dtype="float32", latency=latency)
    try:
        if input_device is not None and output_device is not None:
            return sd.Stream(device=(input_device, output_device), channels=(channels_in, channels_out), callback=duplex, **common)
        if input_device is not None:
            return sd.InputStream(device=input_device, channels=channels_in, callback=capture, **common)
        return sd.OutputStream(device=output_device, channels=channels_out, callback=playback, **common)
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot open the audio stream ({exc}); the device may be busy or refuse these settings\n{device_table()}") from None
