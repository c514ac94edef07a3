"""A live run: devices chosen, engine built, stream started, switching while running, a watchdog, the summary.

:class:`LiveSession` never prints and never reads the keyboard; the console
(:mod:`realtime_nmf.live.console`) drives it: :meth:`~LiveSession.start`, then
:meth:`~LiveSession.poll` a few dozen times a second (which also runs the watchdog), the
key actions, and :meth:`~LiveSession.stop`, which returns a :class:`LiveSummary`.

**The watchdog.** The audio callback counts its blocks (``engine.stats.blocks``). When
the count has not moved for :attr:`LiveOptions.stall_timeout` seconds (longer for very
large blocks) while the stream should be running, or PortAudio ends the stream by itself,
the device counts as lost: :meth:`poll` returns ``"device lost"``, and :meth:`stop`
finalises every recording under its own name with what arrived and leaves the stream
alone (PortAudio does not return from a lost JACK server, or aborts the process; see
:mod:`realtime_nmf.live.devices`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from .._atomic import check_run_paths
from .._threads import blas_threads
from ..errors import ParameterError, PresetError, RealtimeNMFError
from ..presets import Preset, load_preset
from ..selections import keep_text, save_selection
from ..processors.separator import NMFSeparator
from .devices import check_block_size, choose_rate, device_channels, find_device, open_stream, portaudio_stuck
from .engine import LiveEngine
from .recorder import FileSource, Recorder
from .summary import LiveStatus, LiveSummary, RecordingResult

__all__ = ["LiveOptions", "LiveSession", "LiveSummary"]

#: a measured mean load (processing time / audio time) from which a block size is warned about
LOAD_WARNING = 0.5
#: seconds the first callback may take to arrive after the stream started
FIRST_CALLBACK_TIMEOUT = 5.0

FEEDBACK_MESSAGE = ("the microphone would play through the speakers, and a microphone near speakers feeds back (a loud howl): "
                    "use headphones and pass --allow-feedback, or --output FILE")


@dataclass
class LiveOptions:
    """Settings of a live run (the ``rtnmf run`` options)."""

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
    input_channels: tuple | None = None  # device (or file) input channels to process, 0-based; default the first two
    output_channels: tuple | None = None  # device output channels to play on, 0-based; default the first two
    allow_feedback: bool = False  # microphone to speakers (use headphones)
    stall_timeout: float = 1.0  # seconds without a callback after which the device counts as lost
    threads: int | None = 1  # BLAS threads while running (None: the library's default)


class LiveSession:
    """One live run. Construction checks everything and builds the engine; :meth:`start` opens the stream.

    Parameters
    ----------
    presets : list of Preset
        The first runs; the keys cycle through the others. All must run at one sample
        rate (they are checked here).
    options : LiveOptions

    Raises
    ------
    RealtimeNMFError
        For anything that cannot run (a device, a channel, a block size, a preset, a
        file), with the fix in the message; nothing is left on disk.
    """

    def __init__(self, presets: list[Preset], options: LiveOptions):
        if not presets:
            raise ParameterError("give at least one preset")
        self.presets = list(presets)
        self.preset_index = 0
        self.options = options
        self.events: list[str] = []  # "12.3 s: ..." as they happen (the console shows them; the summary lists them)
        self.warnings: list[str] = []  # found before the start (the console shows them first)
        self._recorders: list[tuple[str, Recorder]] = []
        self.source: FileSource | None = None
        self.stream = None
        self.started = False
        self._failed_reported: set[int] = set()
        self._lost: str | None = None
        try:
            self._setup()
        except BaseException:
            self.discard()
            raise

    # ----------------------------------------------------------------------------------
    def _setup(self) -> None:
        o = self.options
        check_run_paths(self.presets, o.input_file, output=o.output_file, record=o.record, record_input=o.record_input)
        use_input, use_output = o.input_file is None, o.output_file is None
        if use_input and use_output and not o.allow_feedback:
            raise ParameterError(FEEDBACK_MESSAGE)
        if not use_output and o.output_channels is not None:
            raise ParameterError("--output-channels is for the speakers; --output FILE gets the processed channels")
        self.input_device = find_device(o.input_device, "input") if use_input else None
        self.output_device = find_device(o.output_device, "output") if use_output else None

        # channels: which inputs are processed, which outputs play them
        if use_input:
            name, available = device_channels(self.input_device, "input")
            where = f"input device {self.input_device} ({name})"
        else:
            available, where = FileSource.channels_of(o.input_file), str(o.input_file)
        chosen = o.input_channels if o.input_channels is not None else tuple(range(min(2, available)))
        if max(chosen) >= available:
            raise ParameterError(f"--input-channels {','.join(str(c + 1) for c in chosen)}: {where} has {available} channel(s); "
                                 f"choose from 1 to {available}")
        self.input_channels = tuple(chosen)
        n = self.n_channels = len(chosen)
        if use_output:
            name, available_out = device_channels(self.output_device, "output")
            outputs = o.output_channels if o.output_channels is not None else tuple(range(min(2, available_out)))
            if max(outputs) >= available_out:
                raise ParameterError(f"--output-channels {','.join(str(c + 1) for c in outputs)}: output device {self.output_device} "
                                     f"({name}) has {available_out} channel(s); choose from 1 to {available_out}")
            self.channels_out = max(outputs) + 1
            output_map = [-1] * self.channels_out
            for k, channel in enumerate(outputs):
                output_map[channel] = k % n  # a mono input plays on every listed output
        else:
            self.channels_out, output_map = n, None
        self.channels_in = max(chosen) + 1 if use_input else n  # device channels opened

        # presets: all must run in this stream
        first = self.presets[0]
        for preset in self.presets[1:]:
            if preset.sample_rate != first.sample_rate:
                raise PresetError(f"preset {preset.name} runs at {preset.sample_rate} Hz and {first.name} at {first.sample_rate} Hz; "
                                  "presets switched live must share their dictionary's sample rate: "
                                  f"run {preset.name} on its own (rtnmf run --preset {preset.name}) or train its dictionary at {first.sample_rate} Hz")
            preset.build().prepare(preset.sample_rate, n)  # a chain that cannot be built is refused now, not mid-run
        self.device_rate = choose_rate(self.input_device, self.output_device, self.channels_in, self.channels_out, first.sample_rate)
        self.block_size = check_block_size(o.block_size or 0, self.device_rate)
        self.engine = LiveEngine(first.build(), processing_rate=first.sample_rate, device_rate=self.device_rate, n_channels=n,
                                 out_channels=self.channels_out, max_block=max(self.block_size, 8192),
                                 input_channels=self.input_channels if use_input else None, output_map=output_map)
        with blas_threads(o.threads):
            self.engine.warm_up(self.block_size or 256)
            self.load = self.engine.measure_load(self.block_size or 256)
        if self.load.mean >= LOAD_WARNING:
            blocks = f"--block-size {self.block_size}" if self.block_size else "blocks of 256 samples"
            self.warnings.append(
                f"with {blocks} the engine needs {100 * self.load.mean:.0f} % of real time on this machine (measured on 1 s of silence; "
                f"slowest block {self.load.worst_ms:.1f} ms, {1000 * self.load.block / self.device_rate:.1f} ms of audio): expect dropouts; "
                "a larger block (e.g. --block-size 1024) costs less per second, or close other programs")

        # recordings and the file source
        max_block = self.engine.max_block
        limit = int(round(o.duration * self.device_rate)) if o.duration else None
        for label, path, target in (("output", o.output_file, self.engine.recorders), ("recording", o.record, self.engine.recorders),
                                    ("input recording", o.record_input, self.engine.input_recorders)):
            if path is not None:
                recorder = Recorder(path, self.device_rate, n, max_block, max_samples=limit)
                target.append(recorder)
                self._recorders.append((label, recorder))
        if o.input_file:
            self.source = FileSource(o.input_file, self.device_rate, n, channels=o.input_channels)
            self.engine.source = self.source
        self._watch = {id(p): self._mtime(p) for p in self.presets}

    def discard(self) -> None:
        """Undo a session that never ran: delete the unfinished recordings, stop the file reader."""
        for _, recorder in self._recorders:
            recorder.abort()
        self._recorders.clear()
        if self.source is not None:
            self.source.close()
        if getattr(self, "_threads", None) is not None:
            self._threads.__exit__(None, None, None)
            self._threads = None

    # ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Open and start the stream (bounded waits; DeviceError if the device does not answer)."""
        o = self.options
        self._threads = blas_threads(o.threads)
        self._threads.__enter__()
        self.stream = open_stream(self.engine, input_device=self.input_device, output_device=self.output_device,
                                  channels_in=self.channels_in, channels_out=self.channels_out, sample_rate=self.device_rate,
                                  block_size=self.block_size, latency=o.latency)
        self.stream.start()
        self.started = True
        now = time.monotonic()
        self._started_at = self._progress_at = self._housekeeping_at = now
        self._seen_blocks = 0
        self._end_of_file: float | None = None

    @property
    def seconds(self) -> float:
        """Audio processed so far, in seconds."""
        return self.engine.stats.samples / self.device_rate

    def _event(self, text: str) -> None:
        self.events.append(f"{self.seconds:.1f} s: {text}")

    def poll(self) -> str | None:
        """Run the watchdog and the housekeeping; return why the run should end, or None to go on.

        Reasons: ``"device lost"``, ``"recording failed"`` (the only output could not be
        written), ``"duration"``, ``"end of input"``.
        """
        now = time.monotonic()
        stats = self.engine.stats
        if stats.blocks != self._seen_blocks:
            self._seen_blocks, self._progress_at = stats.blocks, now
        quiet_for = now - self._progress_at
        if not self.stream.active:
            self._lost = "the audio system ended the stream"
        elif stats.blocks == 0 and quiet_for > FIRST_CALLBACK_TIMEOUT:
            self._lost = f"no audio arrived in the {FIRST_CALLBACK_TIMEOUT:g} s after the stream started"
        elif stats.blocks and quiet_for > self._stall_limit():
            self._lost = f"no audio for {quiet_for:.1f} s"
        if self._lost:
            return "device lost"
        for i, (label, recorder) in enumerate(self._recorders):
            if recorder.failed and i not in self._failed_reported:
                self._failed_reported.add(i)
                self._event(f"{label} {recorder.path.name} failed after {recorder.seconds:.1f} s: {recorder.error}")
                if label == "output":  # nothing else is kept of this run
                    return "recording failed"
        seconds = self.seconds
        if self.options.duration is not None and seconds >= self.options.duration:
            return "duration"
        if self.source is not None and self.source.finished and self.source.fifo.available == 0:
            if self._end_of_file is None:
                self._end_of_file = seconds
            elif seconds >= self._end_of_file + self.engine.latency / self.device_rate + 0.05:
                return "end of input"
        if now - self._housekeeping_at >= 0.25:
            self._housekeeping_at = now
            self.check_for_edits()
            if not self.engine.switching:
                self.engine.drop_retired()
        return None

    def _stall_limit(self) -> float:
        stats = self.engine.stats
        block = max(self.block_size, stats.samples / max(stats.blocks, 1))
        return max(self.options.stall_timeout, 4.0 * block / self.device_rate)

    # ----------------------------------------------------------------------------------
    # what the keys do

    def current_preset(self) -> Preset:
        return self.presets[self.preset_index]

    def switch_preset(self, step: int) -> bool:
        """Cycle to the next (+1) or previous (-1) preset; a refused switch changes nothing."""
        if len(self.presets) < 2:
            self._event("only one preset was given (--preset can be repeated)")
            return False
        index = (self.preset_index + step) % len(self.presets)
        if not self._stage(self.presets[index]):
            return False
        self.preset_index = index
        return True

    def _stage(self, preset: Preset) -> bool:
        if preset.sample_rate != self.engine.processing_rate:
            self._event(f"{preset.name} runs at {preset.sample_rate} Hz, not {self.engine.processing_rate} Hz; not switched")
            return False
        try:
            chain = preset.build()
            self.engine.stage(chain)
        except RealtimeNMFError as exc:
            self._event(f"{preset.name} cannot run ({exc}); not switched")
            return False
        self._event(f"switched to {preset.name}")
        return True

    def toggle_bypass(self) -> None:
        self.engine.bypass = not self.engine.bypass
        self._event("bypass on: the unprocessed input" if self.engine.bypass else "bypass off")

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

    @staticmethod
    def _mtime(preset: Preset) -> float:
        try:
            return max(os.stat(preset.path).st_mtime if preset.path else 0.0, os.stat(preset.dictionary_path).st_mtime)
        except OSError:
            return 0.0

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
        """Reload the current preset when its file or dictionary changed on disk (a refused reload changes nothing)."""
        preset = self.current_preset()
        mtime = self._mtime(preset)
        if preset.path is None or mtime <= self._watch.get(id(preset), 0.0):
            return
        self._watch[id(preset)] = mtime  # this edit is handled, accepted or not
        try:
            fresh = load_preset(preset.path)
        except RealtimeNMFError as exc:
            self._event(f"{preset.name} not reloaded: {exc}")
            return
        self._event(f"{preset.name} changed on disk: reloading")
        if self._stage(fresh):
            self.presets[self.preset_index] = fresh
            self._watch[id(fresh)] = mtime

    # ----------------------------------------------------------------------------------
    def status(self) -> LiveStatus:
        """What the status line shows (the input peak since the previous call)."""
        stats = self.engine.stats
        peak, stats.input_peak = stats.input_peak, 0.0
        loads = stats.loads(last=200)
        meters = []
        separator = self.separator()
        if separator is not None:
            h = separator.activations.mean(axis=1)
            top = max(float(h.max()), 1e-12)
            meters = [(k, float(h[k]) / top) for k in separator.keep]
        return LiveStatus(seconds=self.seconds, level_db=20 * float(np.log10(max(peak, 1e-6))), preset=self.current_preset().name,
                          bypass=self.engine.bypass, meters=meters, load_p50=float(np.median(loads)) if loads.size else 0.0,
                          load_max=float(loads.max()) if loads.size else 0.0, xruns=stats.xruns, errors=stats.errors,
                          failed_recordings=sum(r.failed for _, r in self._recorders))

    def stop(self, reason: str) -> LiveSummary:
        """Finalise every recording, then end the stream (at most about a second waiting for PortAudio); summarise.

        The recordings come first, so that nothing PortAudio does afterwards can lose
        them. After a lost device PortAudio is not called at all: with the JACK server
        gone, ``abort()`` and ``close()`` either wait forever or fail an assertion in
        PortAudio's JACK host (``pa_jack.c: CleanUpStream: Assertion 'err == 0'``), which
        aborts the process; the console's caller ends the process with ``os._exit``.

        Parameters
        ----------
        reason : str
            What ended it: a reason :meth:`poll` returned, ``"quit"`` or ``"interrupted"``.
        """
        lost = reason == "device lost"
        self._stopped_at = self.seconds
        recordings = []
        for label, recorder in self._recorders:
            recorder.close()
            recordings.append(RecordingResult(label, recorder.path, recorder.seconds, recorder.error))
        self._recorders.clear()
        if self.source is not None:
            self.source.close()
        released = not lost
        if self.stream is not None and not lost:
            released = self.stream.close()
            if not released:  # stopping hung: the device went away at the end
                lost, self._lost = True, "the audio system did not answer when the stream was stopped"
        if getattr(self, "_threads", None) is not None:
            self._threads.__exit__(None, None, None)
            self._threads = None
        return self._summary(reason, lost, released and portaudio_stuck() is None, recordings)

    def _summary(self, reason: str, lost: bool, released: bool, recordings: list) -> LiveSummary:
        stats = self.engine.stats
        input_latency, output_latency = self.stream.latency if self.stream is not None else (0.0, 0.0)
        n = min(stats.blocks, stats.durations.shape[0])
        block = self.block_size or (stats.samples / stats.blocks if stats.blocks else 0)
        return LiveSummary(
            seconds=self._stopped_at, device_rate=self.device_rate, processing_rate=self.engine.processing_rate, block_size=self.block_size,
            algorithmic_ms=1000.0 * self.engine.chain.latency / self.engine.processing_rate,
            resampling_ms=1000.0 * self.engine.resampling_delay / self.device_rate, resampler=self.engine.resampler_name,
            block_ms=1000.0 * block / self.device_rate,
            input_ms=1000.0 * input_latency, output_ms=1000.0 * output_latency, loads=stats.loads(), durations_us=1e6 * stats.durations[:n].copy(),
            input_overflows=stats.input_overflows, output_underflows=stats.output_underflows, errors=stats.errors, last_error=stats.last_error,
            underruns=stats.underruns, lost_blocks=sum(r.lost_blocks for r in self.engine.recorders + self.engine.input_recorders),
            pace=stats.pace(self.device_rate), engine_delay=self.engine.latency, recordings=recordings, events=list(self.events),
            end=reason, device_lost=self._lost if lost else None, released=released,
        )

