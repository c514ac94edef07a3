"""Audio devices through PortAudio (sounddevice): the device table, choosing devices and rates, the stream.

This is the only module that imports sounddevice, and only when a function here is
called; file mode works on a machine without PortAudio.

**PortAudio calls that can hang run on a helper thread with a bounded wait.** When the
sound server dies or stops answering, PortAudio does not return: with the JACK server
killed during a stream (sounddevice 0.5.6, PortAudio 19.6.0, jackd2 1.9.21), callbacks
stop at once, ``stream.active`` turns False, no ``finished_callback`` arrives, and
``stream.stop()``, ``abort()``, ``close()`` and ``sounddevice._terminate()`` (which
Python's exit calls) all wait forever, or, now and then, ``close()`` fails an assertion in
PortAudio's JACK host (``pa_jack.c: CleanUpStream: Assertion 'err == 0'``) and aborts the
process; with the server stopped (SIGSTOP) ``import sounddevice`` and opening a stream
wait too. After a lost device the session therefore calls PortAudio no more. So importing, opening, starting and
stopping are done by :func:`_bounded`: the caller waits at most a few seconds (and
Ctrl-C interrupts the wait), and a call that did not return is remembered
(:func:`portaudio_stuck`): such a process must end with ``os._exit`` once its files are
finalised, because a normal exit would wait in PortAudio forever.
"""

from __future__ import annotations

import importlib
import sys
import threading
from typing import Callable

from ..errors import DeviceError, ParameterError

__all__ = ["DeviceStream", "check_block_size", "sounddevice_module", "choose_rate", "device_channels", "device_table", "find_device", "open_stream",
           "parse_channels", "portaudio_stuck", "release"]

#: seconds to wait for PortAudio to initialise (``import sounddevice``) and to open or start a stream
ANSWER_TIMEOUT = 10.0
#: seconds to wait for a stream to stop and close
CLOSE_TIMEOUT = 1.0

_pending: list[threading.Thread] = []  # helper threads whose PortAudio call has not returned


def portaudio_stuck() -> str | None:
    """The PortAudio call that did not return (``"stopping the stream"``...), or None if none is pending."""
    _pending[:] = [t for t in _pending if t.is_alive()]
    return _pending[0].name.removeprefix("portaudio: ") if _pending else None


def _bounded(function: Callable, timeout: float, what: str):
    """``function()`` on a daemon thread; its result, or DeviceError if it takes longer than ``timeout`` s.

    The wait is interruptible (Ctrl-C raises KeyboardInterrupt here); a call left
    running is remembered by :func:`portaudio_stuck`.
    """
    outcome: dict = {}

    def call():
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc

    thread = threading.Thread(target=call, name=f"portaudio: {what}", daemon=True)
    _pending.append(thread)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise DeviceError(f"the audio system did not answer within {timeout:g} s ({what}); the sound server (JACK, PulseAudio) "
                          "or the device may have hung: restart it, or unplug and replug the device, and try again")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def sounddevice_module():
    """The sounddevice module, imported (PortAudio initialised) with a bounded wait; DeviceError if it cannot be."""
    try:
        return _bounded(lambda: importlib.import_module("sounddevice"), ANSWER_TIMEOUT, "initialising PortAudio")
    except OSError as exc:  # the wheel does not ship PortAudio on Linux
        raise DeviceError(
            f"live audio needs the PortAudio library, which is not installed ({exc}); on Debian or Ubuntu: "
            "sudo apt-get install libportaudio2 (file mode, --input FILE --output FILE, works without it)"
        ) from None
    except ImportError as exc:
        raise DeviceError(f"live audio needs the sounddevice package ({exc}); pip install sounddevice") from None


def release(timeout: float = CLOSE_TIMEOUT) -> bool:
    """Let PortAudio go (``Pa_Terminate``: closes the connection to the sound server); True if it did within ``timeout`` s.

    The command calls it after a live run and then ends the process at once, so neither
    a hung PortAudio nor a slow interpreter shutdown can delay the end of the run.
    """
    sd = sys.modules.get("sounddevice")
    if sd is None or portaudio_stuck():
        return sd is None
    try:
        _bounded(sd._terminate, timeout, "closing PortAudio")
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------------------
# the device table and choosing a device


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
    """Resolve ``spec`` (an index, a device's name, a unique part of a name, or None for the default) to an index.

    A name that is exactly a device's name (ignoring case) chooses that device even when
    it is also part of other devices' names (``system`` beside ``systemx``).

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
        usable = [d for d in devices if d[key] > 0]
        matches = [d["index"] for d in usable if d["name"].strip().lower() == text.lower()]
        if not matches:
            matches = [d["index"] for d in usable if text.lower() in d["name"].lower()]
        if not matches:
            raise DeviceError(f"no {kind} device has {text!r} in its name\n{device_table()}")
        if len(matches) > 1:
            names = ", ".join(f"{i}: {devices[i]['name']}" for i in matches)
            raise DeviceError(f"{text!r} matches several {kind} devices ({names}); give more of the name or the index")
        index = matches[0]
    if devices[index][key] < 1:
        raise DeviceError(f"device {index} ({devices[index]['name']}) has no {kind} channels\n{device_table()}")
    return index


def device_channels(index: int, kind: str) -> tuple[str, int]:
    """The name of device ``index`` and how many ``kind`` ("input" or "output") channels it has."""
    device = sounddevice_module().query_devices(index)
    return device["name"], int(device["max_input_channels" if kind == "input" else "max_output_channels"])


def parse_channels(text: str | None, option: str) -> tuple[int, ...] | None:
    """``"1"``, ``"1,2"`` or ``"2,1"`` (channels counted from 1, as on a device's labels) -> 0-based indices.

    Raises
    ------
    ParameterError
        Naming ``option`` and an example.
    """
    if text is None:
        return None
    try:
        channels = tuple(int(part) - 1 for part in str(text).split(","))
    except ValueError:
        channels = ()
    if not channels or min(channels) < 0 or len(set(channels)) != len(channels):
        raise ParameterError(f"{option} {text!r} must list channels counted from 1, without repeats, e.g. 1 or 1,2")
    return channels


def choose_rate(input_device, output_device, channels_in: int, channels_out: int, wanted: int) -> int:
    """The dictionary's rate if the devices take it, else the output (or input) device's default rate."""
    sd = sounddevice_module()

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


# --------------------------------------------------------------------------------------
# the stream


class DeviceStream:
    """A started PortAudio stream whose callback runs a :class:`~realtime_nmf.live.engine.LiveEngine`.

    Made by :func:`open_stream`. Every call that could wait on a lost device is bounded.
    """

    def __init__(self, stream):
        self._stream = stream
        self.closed = False
        self.latency = self._latency()

    def _latency(self) -> tuple[float, float]:
        """(input, output) latency PortAudio reports, in seconds (0 for a side the stream does not have)."""
        try:
            latency = self._stream.latency
        except Exception:
            return 0.0, 0.0
        if isinstance(latency, (tuple, list)):
            return float(latency[0]), float(latency[1])
        kind = type(self._stream).__name__
        return (float(latency), 0.0) if kind == "InputStream" else (0.0, float(latency))

    def start(self) -> None:
        _bounded(self._stream.start, ANSWER_TIMEOUT, "starting the stream")
        self.latency = self._latency()

    @property
    def active(self) -> bool:
        """False once PortAudio has ended the stream by itself (with JACK: the server went away)."""
        try:
            return bool(self._stream.active)
        except Exception:
            return False

    def close(self, *, abort: bool = False, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Stop (or abort: drop what is buffered) and close; True if PortAudio let go within ``timeout`` s.

        False means a PortAudio call is still waiting (a lost device): the process must
        end with ``os._exit`` (see the module's docstring).
        """
        if self.closed:
            return True
        self.closed = True
        stream = self._stream

        def teardown():
            try:
                (stream.abort if abort else stream.stop)()
            finally:
                stream.close()

        try:
            _bounded(teardown, timeout, "stopping the stream")
        except DeviceError:
            return False
        except Exception:  # PortAudio reported an error while stopping: it answered, the stream is closed
            return True
        return True


def open_stream(engine, *, input_device: int | None, output_device: int | None, channels_in: int, channels_out: int,
                sample_rate: int, block_size: int, latency) -> DeviceStream:
    """Open (not start) a stream whose callback runs ``engine.process`` and counts PortAudio's status flags.

    Parameters
    ----------
    engine : LiveEngine
    input_device, output_device : int or None
        None for a side the stream does not have (a file source, a file output).
    channels_in, channels_out : int
        Device channels opened (the engine picks the ones it processes).
    """
    sd = sounddevice_module()

    def count(status) -> None:
        stats = engine.stats
        if status.input_overflow:
            stats.input_overflows += 1
        if status.output_underflow:
            stats.output_underflows += 1

    def duplex(indata, outdata, frames, time_info, status):
        if status:
            count(status)
        engine.process(indata, outdata)

    def capture(indata, frames, time_info, status):
        if status:
            count(status)
        engine.process(indata, None)

    def playback(outdata, frames, time_info, status):
        if status:
            count(status)
        engine.process(None, outdata)

    common = dict(samplerate=sample_rate, blocksize=block_size, dtype="float32", latency=latency)

    def make():
        if input_device is not None and output_device is not None:
            return sd.Stream(device=(input_device, output_device), channels=(channels_in, channels_out), callback=duplex, **common)
        if input_device is not None:
            return sd.InputStream(device=input_device, channels=channels_in, callback=capture, **common)
        return sd.OutputStream(device=output_device, channels=channels_out, callback=playback, **common)

    try:
        return DeviceStream(_bounded(make, ANSWER_TIMEOUT, "opening the stream"))
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot open the audio stream ({exc}); the device may be busy or refuse these settings\n{device_table()}") from None


def check_block_size(block_size: int, sample_rate: int) -> int:
    """Return ``block_size`` (0: the host chooses) or raise ParameterError with the range that works."""
    if isinstance(block_size, bool) or not isinstance(block_size, int) or not 0 <= block_size <= sample_rate:
        raise ParameterError(f"block size {block_size!r} (--block-size) must be 0 (the audio host chooses) or 1 to {sample_rate} samples "
                             f"(up to 1 s at {sample_rate} Hz; 256 to 1024 suit most devices)")
    return block_size
