"""A live session: the devices, the engine, the recorders; switching presets and components while running; the summary.

The session never prints: what happens while running is collected in
:attr:`LiveSession.messages` for the console (:mod:`realtime_nmf.live.console`) to show,
and :meth:`LiveSession.summary` returns what the run did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError, RealtimeNMFError
from ..presets import Preset, load_preset
from ..selections import keep_text, save_selection
from ..processors.separator import NMFSeparator
from .devices import choose_rate, find_device, open_stream, sounddevice_module
from .engine import LiveEngine
from .recorder import FileSource, Recorder

__all__ = ["LiveOptions", "LiveSummary", "LiveSession"]


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
    resampler: str = ""  # which streaming resampler ran, when the rates differ
    recordings: list = field(default_factory=list)
    interrupted: bool = False

    @property
    def total_latency_ms(self) -> float:
        return self.algorithmic_ms + self.resampling_ms + self.block_ms + self.input_ms + self.output_ms

    def text(self) -> str:
        p = (lambda a, q: float(np.percentile(a, q)) if a.size else float("nan"))
        how = f", {self.resampler}" if self.resampler else ""
        resampled = f", processing at {self.processing_rate} Hz (resampled in the stream{how})" if self.device_rate != self.processing_rate else ""
        block = f"blocks of {self.block_size}" if self.block_size else "blocks chosen by the host"
        lines = [
            f"live run: {self.seconds:.1f} s at {self.device_rate} Hz, {block}{resampled}, pace {self.pace:.3f}x real time"
            + (" (stopped by Ctrl-C or a signal)" if self.interrupted else ""),
            f"latency:  {self.total_latency_ms:.1f} ms = {self.algorithmic_ms:.1f} algorithmic (synthesis window) + {self.resampling_ms:.1f} resampling"
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


class LiveSession:
    """One live run: devices chosen, engine built, recorders and file source started; never prints.

    :func:`realtime_nmf.live.console.run_live` opens the stream (:meth:`open_stream`),
    drives the session from the keyboard and prints what :attr:`messages` collects;
    tests drive it directly.

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
        sd = self.sd = sounddevice_module()
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
        self.device_rate = choose_rate(sd, self.input_device, self.output_device, channels_in, channels_out, preset.sample_rate)
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
        self._end_of_file: float | None = None  # audio seconds when the input file ran out

    # ----------------------------------------------------------------------------------
    @staticmethod
    def _mtime(preset: Preset) -> float:
        try:
            return max(os.stat(preset.path).st_mtime if preset.path else 0.0, os.stat(preset.dictionary_path).st_mtime)
        except OSError:
            return 0.0

    def _count(self, status) -> None:
        if status.input_overflow:
            self.engine.stats.input_overflows += 1
        if status.output_underflow:
            self.engine.stats.output_underflows += 1

    def open_stream(self):
        """The PortAudio stream of this session, opened but not started (a context manager)."""
        return open_stream(self.sd, input_device=self.input_device, output_device=self.output_device, channels_in=self.channels_in,
                           channels_out=self.channels_out, sample_rate=self.device_rate, block_size=self.block_size,
                           latency=self.options.latency, engine=self.engine, on_status=self._count)

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

    def save_selection(self) -> None:
        """Write the running separator's kept components into the current preset's file (atomically, after a backup).

        The file's own reload is not taken for an edit; a preset without a file, or a
        bundled one, is not changed and the message gives the command that saves the
        selection instead.
        """
        separator = self.separator()
        if separator is None:
            return
        try:
            saved, backup = save_selection(self.current_preset(), list(separator.keep))
        except RealtimeNMFError as exc:
            self._event(f"not saved: {exc}")
            return
        self.presets[self.preset_index] = saved
        self._watch[id(saved)] = self._mtime(saved)
        self._event(f"saved keep {keep_text(saved.keep_indices)} to {saved.path} (the file as it was: {backup.name})")

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
    @property
    def audio_seconds(self) -> float:
        """Seconds of audio the engine has processed."""
        return self.engine.stats.samples / self.device_rate

    def finished(self) -> bool:
        """Whether the run is over: --duration reached, or the input file played out (and its latency after it)."""
        seconds = self.audio_seconds
        if self.options.duration is not None and seconds >= self.options.duration:
            return True
        if self.source is not None and self.source.finished and self.source.fifo.available == 0:
            if self._end_of_file is None:
                self._end_of_file = seconds
            elif seconds >= self._end_of_file + self.engine.latency / self.device_rate + 0.05:
                return True
        return False

    def housekeeping(self) -> None:
        """Periodic work off the audio thread: reload edited presets, free replaced chains."""
        self.check_for_edits()
        if not self.engine.switching:
            self.engine.drop_retired()

    def toggle_bypass(self) -> None:
        """Switch between the processed and the unprocessed (latency-aligned) input."""
        self.engine.bypass = not self.engine.bypass
        self._event("bypass on: the unprocessed input" if self.engine.bypass else "bypass off")

    def close(self) -> None:
        """Finalise the recordings and stop the file source (after the stream has stopped)."""
        for _, recorder in self._recorders:
            recorder.close()
        if self.source is not None:
            self.source.close()

    def summary(self, stream, interrupted: bool) -> LiveSummary:
        """What the run did (after :meth:`close`)."""
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
            resampler=self.engine.resampler_name,
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
