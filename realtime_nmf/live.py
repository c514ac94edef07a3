"""Live audio: devices, the PortAudio stream, the status line, switching while running, the summary.

This is the only module that imports sounddevice (PortAudio), and only when a function
here is called; file mode works on a machine without PortAudio.

The callback does nothing but count PortAudio's status flags and call
:meth:`realtime_nmf.engine.LiveEngine.process`, which runs the chain on preallocated
buffers and never raises. Recording goes through a preallocated pool to a writer
thread (:class:`realtime_nmf.recorder.Recorder`).
"""

from __future__ import annotations

import os
import select
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .engine import LiveEngine
from .errors import DeviceError, ParameterError, RealtimeNMFError
from .presets import Preset, load_preset
from .processors.separator import NMFSeparator
from .recorder import FileSource, Recorder

__all__ = ["LiveOptions", "LiveSession", "device_table", "find_device", "run_live"]


def _sounddevice():
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
    sd = _sounddevice()
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
    sd = _sounddevice()
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


# --------------------------------------------------------------------------------------
# the session


@dataclass
class LiveOptions:
    """Settings of a live run (the ``rtnmf run`` options without --input/--output files)."""

    input_device: str | int | None = None
    output_device: str | int | None = None
    input_file: str | None = None  # play a file instead of the microphone
    output_file: str | None = None  # write to a file instead of the speakers
    record: str | None = None
    record_input: str | None = None
    duration: float | None = None
    block_size: int = 0  # 0: let the host choose
    latency: str | float = "low"
    quiet: bool = False
    channels: int | None = None


@dataclass
class LiveSummary:
    """What a live run did; :meth:`text` is what ``rtnmf run`` prints at the end."""

    seconds: float
    device_rate: int
    processing_rate: int
    block_size: int
    algorithmic_ms: float
    resampling_ms: float
    block_ms: float
    input_ms: float
    output_ms: float
    loads: np.ndarray
    durations_us: np.ndarray
    input_overflows: int
    output_underflows: int
    errors: int
    last_error: str
    underruns: int
    lost_blocks: int
    events: list = field(default_factory=list)
    engine_delay: float = 0.0  # device samples: algorithmic + resampling
    pace: float = float("nan")
    recordings: list = field(default_factory=list)
    interrupted: bool = False

    @property
    def total_latency_ms(self) -> float:
        return self.algorithmic_ms + self.resampling_ms + self.block_ms + self.input_ms + self.output_ms

    def text(self) -> str:
        p = (lambda a, q: float(np.percentile(a, q)) if a.size else float("nan"))
        resampled = f", processing at {self.processing_rate} Hz (resampled in the stream)" if self.device_rate != self.processing_rate else ""
        block = f"blocks of {self.block_size}" if self.block_size else "blocks chosen by the host"
        lines = [
            f"live run: {self.seconds:.1f} s at {self.device_rate} Hz, {block}{resampled}, pace {self.pace:.3f}x real time"
            + (" (stopped by Ctrl-C or a signal)" if self.interrupted else ""),
            f"latency:  {self.total_latency_ms:.1f} ms = {self.algorithmic_ms:.1f} algorithmic (STFT window) + {self.resampling_ms:.1f} resampling"
            f" + {self.block_ms:.1f} block + {self.input_ms:.1f} input + {self.output_ms:.1f} output (PortAudio); "
            f"the engine delays by {self.engine_delay:.1f} samples",
            f"callback: p50 {100 * p(self.loads, 50):.1f} %, p99 {100 * p(self.loads, 99):.1f} %, max {100 * (self.loads.max() if self.loads.size else 0):.1f} % "
            f"of the block duration ({p(self.durations_us, 50):.0f} / {p(self.durations_us, 99):.0f} / "
            f"{(self.durations_us.max() if self.durations_us.size else 0):.0f} us)",
            f"xruns:    {self.input_overflows} input overflows, {self.output_underflows} output underflows; "
            f"blocks lost: {self.lost_blocks}; engine errors: {self.errors}" + (f" (last: {self.last_error})" if self.errors else "")
            + (f"; resampler underruns: {self.underruns} samples" if self.underruns else ""),
        ]
        for event in self.events:
            lines.append(f"event:    {event}")
        for label, path, samples, rate, error in self.recordings:
            state = f"error: {error}" if error else f"{samples / rate:.2f} s, finalised"
            lines.append(f"{label}: {path} ({state})")
        return "\n".join(lines)


def _choose_rate(sd, input_device, output_device, channels_in, channels_out, wanted: int) -> int:
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


class LiveSession:
    """One live run: devices opened, engine built, stream started; :meth:`run` blocks until the end.

    Parameters
    ----------
    presets : list of Preset
        The first is used; keys cycle through the others.
    options : LiveOptions
    """

    def __init__(self, presets: list[Preset], options: LiveOptions):
        if not presets:
            raise ParameterError("give at least one preset")
        self.presets = presets
        self.preset_index = 0
        self.options = options
        self.messages: list[str] = []  # what happened while running, "12.3 s: ..." (shown and summarised)
        sd = self.sd = _sounddevice()
        use_input = options.input_file is None
        use_output = options.output_file is None
        self.input_device = find_device(options.input_device, "input") if use_input else None
        self.output_device = find_device(options.output_device, "output") if use_output else None
        devices = sd.query_devices()
        if options.channels is not None:
            channels_in = int(options.channels)
        elif use_input:
            channels_in = min(2, int(devices[self.input_device]["max_input_channels"]))
        else:
            channels_in = min(2, FileSource.channels_of(options.input_file))
        channels_out = min(2, int(devices[self.output_device]["max_output_channels"])) if use_output else channels_in
        self.channels_in, self.channels_out = channels_in, channels_out
        preset = presets[0]
        self.device_rate = _choose_rate(sd, self.input_device, self.output_device, channels_in, channels_out, preset.sample_rate)
        block = int(options.block_size or 0)
        if block < 0:
            raise ParameterError(f"block_size={block} must be 0 (let the host choose) or a positive number of samples")
        self.block_size = block
        self.engine = LiveEngine(preset.build(), processing_rate=preset.sample_rate, device_rate=self.device_rate,
                                 n_channels=channels_in, out_channels=channels_out, max_block=max(block, 8192))
        self.engine.warm_up(block or 256)
        self._recorders: list[tuple[str, Recorder]] = []
        max_block = self.engine.max_block
        limit = int(round(options.duration * self.device_rate)) if options.duration else None
        if options.record or options.output_file:
            path = options.output_file or options.record
            recorder = Recorder(path, self.device_rate, channels_in, max_block, max_samples=limit)
            self.engine.recorders.append(recorder)
            self._recorders.append(("recording", recorder))
            if options.record and options.output_file and options.record != options.output_file:
                extra = Recorder(options.record, self.device_rate, channels_in, max_block, max_samples=limit)
                self.engine.recorders.append(extra)
                self._recorders.append(("recording", extra))
        if options.record_input:
            recorder = Recorder(options.record_input, self.device_rate, channels_in, max_block, max_samples=limit)
            self.engine.input_recorders.append(recorder)
            self._recorders.append(("input recording", recorder))
        self.source = None
        if options.input_file:
            self.source = FileSource(options.input_file, self.device_rate, channels_in)
            self.engine.source = self.source
        self._watch = {id(p): self._mtime(p) for p in presets}

    # ----------------------------------------------------------------------------------
    @staticmethod
    def _mtime(preset: Preset) -> float:
        try:
            return max(os.stat(preset.path).st_mtime if preset.path else 0.0, os.stat(preset.dictionary_path).st_mtime)
        except OSError:
            return 0.0

    def _callback_duplex(self, indata, outdata, frames, time_info, status):
        if status:
            self._count(status)
        self.engine.process(indata, outdata)

    def _callback_input(self, indata, frames, time_info, status):
        if status:
            self._count(status)
        self.engine.process(indata, None)

    def _callback_output(self, outdata, frames, time_info, status):
        if status:
            self._count(status)
        self.engine.process(None, outdata)

    def _count(self, status) -> None:
        if status.input_overflow:
            self.engine.stats.input_overflows += 1
        if status.output_underflow:
            self.engine.stats.output_underflows += 1

    def _open_stream(self):
        sd, o = self.sd, self.options
        common = dict(samplerate=self.device_rate, blocksize=self.block_size, dtype="float32", latency=o.latency)
        try:
            if self.input_device is not None and self.output_device is not None:
                return sd.Stream(device=(self.input_device, self.output_device), channels=(self.channels_in, self.channels_out),
                                 callback=self._callback_duplex, **common)
            if self.input_device is not None:
                return sd.InputStream(device=self.input_device, channels=self.channels_in, callback=self._callback_input, **common)
            return sd.OutputStream(device=self.output_device, channels=self.channels_out, callback=self._callback_output, **common)
        except sd.PortAudioError as exc:
            raise DeviceError(f"cannot open the audio stream ({exc}); the device may be busy or refuse these settings\n{device_table()}") from None

    # ----------------------------------------------------------------------------------
    def _event(self, text: str) -> None:
        self.messages.append(f"{self.engine.stats.samples / self.device_rate:.1f} s: {text}")

    def current_preset(self) -> Preset:
        return self.presets[self.preset_index]

    def switch_preset(self, step: int) -> None:
        """Cycle to the next (+1) or previous (-1) preset given on the command line."""
        if len(self.presets) < 2:
            self._event("only one preset was given (--preset can be repeated)")
            return
        index = (self.preset_index + step) % len(self.presets)
        self._stage(self.presets[index])
        self.preset_index = index

    def _stage(self, preset: Preset) -> None:
        if preset.sample_rate != self.engine.processing_rate:
            self._event(f"preset {preset.name} runs at {preset.sample_rate} Hz, not {self.engine.processing_rate} Hz; not switched")
            return
        self.engine.stage(preset.build())
        self._event(f"switched to {preset.name}")

    def separator(self) -> NMFSeparator | None:
        return next((p for p in self.engine.chain if isinstance(p, NMFSeparator)), None)

    def toggle_component(self, index: int) -> None:
        """Keep or drop one component of the running separator (takes effect at the next frame)."""
        separator = self.separator()
        if separator is None:
            return
        keep = set(separator.keep)
        keep.symmetric_difference_update({index})
        if not keep:
            self._event("at least one component must stay kept")
            return
        try:
            kept = separator.set_keep(sorted(keep))
        except RealtimeNMFError as exc:
            self._event(str(exc))
            return
        self._event(f"keeping components {','.join(map(str, kept))}")

    def check_for_edits(self) -> None:
        """Reload the current preset when its file or dictionary changed on disk."""
        preset = self.current_preset()
        mtime = self._mtime(preset)
        if preset.path is None or mtime <= self._watch.get(id(preset), 0.0):
            return
        self._watch[id(preset)] = mtime
        try:
            fresh = load_preset(preset.path)
        except RealtimeNMFError as exc:
            self._event(f"{preset.name} not reloaded: {exc}")
            return
        self.presets[self.preset_index] = fresh
        self._watch[id(fresh)] = mtime
        self._event(f"{preset.name} changed on disk: reloading")
        self._stage(fresh)

    # ----------------------------------------------------------------------------------
    def status_line(self, elapsed: float) -> str:
        stats = self.engine.stats
        peak = stats.input_peak
        stats.input_peak = 0.0
        level = 20 * np.log10(max(peak, 1e-6))
        loads = stats.loads(last=200)
        meter = ""
        separator = self.separator()
        if separator is not None:
            h = separator.activations.mean(axis=1)
            kept = separator.keep
            top = max(float(h.max()), 1e-12)
            bars = " ▁▂▃▄▅▆▇█"
            meter = "".join(bars[min(8, int(9 * float(h[k]) / top))] for k in kept[:24])
        name = self.current_preset().name + (" BYPASS" if self.engine.bypass else "")
        parts = [f"{elapsed:7.1f} s", f"in {level:6.1f} dBFS", f"{name} [{meter}]",
                 f"load {100 * (np.median(loads) if loads.size else 0):4.1f}%/{100 * (loads.max() if loads.size else 0):5.1f}%",
                 f"xruns {stats.xruns}"]
        if stats.errors:
            parts.append(f"errors {stats.errors}")
        return " | ".join(parts)

    def run(self) -> LiveSummary:
        """Start the stream and block until --duration, end of the input file, 'q' or Ctrl-C; return the summary."""
        stream = self._open_stream()
        interrupted = False
        keys = _Keyboard() if (not self.options.quiet and sys.stdin.isatty()) else None
        started = time.monotonic()
        limit = self.options.duration
        end_of_file = None
        typed = ""
        try:
            with stream:
                if not self.options.quiet:
                    print(self._help(), file=sys.stderr)
                last_status = 0.0
                while True:
                    if keys is None:
                        time.sleep(0.02)
                        key = ""
                    else:
                        key = keys.read(0.02)
                    if key:
                        if key == "q":
                            break
                        if key.isdigit():
                            typed += key
                        elif key in "\r\n" and typed:
                            self.toggle_component(int(typed))
                            typed = ""
                        elif key == "n":
                            self.switch_preset(+1)
                        elif key == "p":
                            self.switch_preset(-1)
                        elif key == "b":
                            self.engine.bypass = not self.engine.bypass
                            self._event("bypass on: the unprocessed input" if self.engine.bypass else "bypass off")
                    audio_seconds = self.engine.stats.samples / self.device_rate
                    if limit is not None and audio_seconds >= limit:
                        break
                    if self.source is not None and self.source.finished and self.source.fifo.available == 0:
                        if end_of_file is None:
                            end_of_file = audio_seconds
                        elif audio_seconds >= end_of_file + self.engine.latency / self.device_rate + 0.05:
                            break
                    now = time.monotonic()
                    if now - last_status >= 0.25:
                        last_status = now
                        self.check_for_edits()
                        if not self.engine.switching:
                            self.engine.drop_retired()
                        if not self.options.quiet:
                            message = f" | {self.messages[-1]}" if self.messages else ""
                            line = self.status_line(audio_seconds) + message + (f" | toggle {typed}_" if typed else "")
                            print("\r" + line[:200].ljust(100), end="", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if keys is not None:
                keys.restore()
            if not self.options.quiet:
                print(file=sys.stderr)
            for _, recorder in self._recorders:
                recorder.close()
            if self.source is not None:
                self.source.close()
        return self._summary(stream, interrupted)

    def _help(self) -> str:
        preset = self.current_preset()
        lines = [f"live: {preset.name} at {self.device_rate} Hz (dictionary {preset.sample_rate} Hz), "
                 f"{self.channels_in} in / {self.channels_out} out channels; Ctrl-C stops"]
        if sys.stdin.isatty():
            lines.append("keys: a component number + Enter toggles it, n/p next/previous preset, b bypass, q quit; "
                         "edits to the preset file are picked up")
        if self.input_device is not None and self.output_device is not None:
            lines.append("use headphones: a microphone next to speakers feeds back")
        return "\n".join(lines)

    def _summary(self, stream, interrupted: bool) -> LiveSummary:
        stats = self.engine.stats
        try:
            latency = stream.latency
        except Exception:
            latency = (0.0, 0.0)
        if isinstance(latency, (tuple, list)):
            input_latency, output_latency = float(latency[0]), float(latency[1])
        elif self.input_device is not None:
            input_latency, output_latency = float(latency), 0.0
        else:
            input_latency, output_latency = 0.0, float(latency)
        loads = stats.loads()
        n = min(stats.blocks, stats.durations.shape[0])
        block = self.block_size or (stats.samples / stats.blocks if stats.blocks else 0)
        chain_latency = self.engine.chain.latency
        recordings = [(label, r.path, r.samples_written, r.sample_rate, r.error) for label, r in self._recorders]
        return LiveSummary(
            seconds=stats.samples / self.device_rate,
            device_rate=self.device_rate,
            processing_rate=self.engine.processing_rate,
            block_size=self.block_size,
            algorithmic_ms=1000.0 * chain_latency / self.engine.processing_rate,
            resampling_ms=1000.0 * self.engine.resampling_delay / self.device_rate,
            block_ms=1000.0 * block / self.device_rate,
            input_ms=1000.0 * input_latency,
            output_ms=1000.0 * output_latency,
            loads=loads,
            durations_us=1e6 * stats.durations[:n].copy() if stats.blocks <= stats.durations.shape[0] else 1e6 * stats.durations.copy(),
            input_overflows=stats.input_overflows,
            output_underflows=stats.output_underflows,
            errors=stats.errors,
            last_error=stats.last_error,
            underruns=stats.underruns,
            lost_blocks=sum(r.lost_blocks for _, r in self._recorders),
            pace=stats.pace(self.device_rate),
            engine_delay=self.engine.latency,
            recordings=recordings,
            events=list(self.messages),
            interrupted=interrupted,
        )


def run_live(presets: list[Preset], options: LiveOptions) -> LiveSummary:
    """Open the devices, run until the end, return the summary (see :class:`LiveSession`)."""
    return LiveSession(presets, options).run()


class _Keyboard:
    """Single key presses from a terminal without waiting (POSIX); a no-op elsewhere."""

    def __init__(self):
        self._saved = None
        try:
            import termios
            import tty

            self._fd = sys.stdin.fileno()
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
        except Exception:
            self._saved = None

    def read(self, timeout: float) -> str:
        if self._saved is None:
            time.sleep(timeout)
            return ""
        ready, _, _ = select.select([sys.stdin], [], [], timeout)
        return sys.stdin.read(1) if ready else ""

    def restore(self) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._saved = None
