"""The live engine: everything the audio callback does, on preallocated buffers, without a device.

:class:`LiveEngine.process` is the whole body of the callback: take the input block,
resample it to the processors' rate when the device runs at another rate, run the chain,
resample back, map channels, hand copies to the recorders, and measure its own cost. It
never raises: an exception in a processor silences that block and is counted. The
sounddevice callback (:mod:`realtime_nmf.live.devices`) only calls it, so tests drive it with
arrays.

Resampling in the stream uses :class:`realtime_nmf.resample.LowLatencyResampler` (the
minimum-phase resampler of :mod:`realtime_nmf.lowdelay`; libsamplerate's ``sinc_fastest``
without numba): its output comes steadily block after block with a millisecond or two of
delay, where high-quality offline resamplers hold back hundreds of milliseconds. The delay is
measured when the engine is built (:attr:`LiveEngine.resampling_delay`), and a FIFO
primed with that many samples turns the resampler's slightly irregular output into
blocks of exactly the device's size.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np

from .. import kernels
from ..errors import ParameterError
from ..processors.base import Processor
from ..resample import LowLatencyResampler
from ..ringbuffer import SampleFifo

__all__ = ["LiveEngine", "LiveStats", "LoadEstimate"]


@dataclass
class LiveStats:
    """Counters and timings of a live run (written by the audio thread, read by others)."""

    blocks: int = 0
    samples: int = 0
    errors: int = 0
    last_error: str = ""
    underruns: int = 0  # device-rate samples the resampling FIFO could not supply
    input_overflows: int = 0
    output_underflows: int = 0
    durations: np.ndarray = field(default_factory=lambda: np.zeros(1 << 18, np.float64))  # seconds per callback (ring)
    block_seconds: np.ndarray = field(default_factory=lambda: np.zeros(1 << 18, np.float64))  # audio seconds per callback
    max_load: float = 0.0
    input_peak: float = 0.0  # since the status line last read it

    first_call: float = 0.0  # perf_counter() at the start of the first callback
    last_call: float = 0.0  # ... and of the latest
    samples_before_last: int = 0  # samples processed before the latest callback

    def record(self, started: float, elapsed: float, n_samples: int, sample_rate: float) -> None:
        if self.blocks == 0:
            self.first_call = started
        self.last_call = started
        self.samples_before_last = self.samples
        i = self.blocks % self.durations.shape[0]
        seconds = n_samples / sample_rate
        self.durations[i] = elapsed
        self.block_seconds[i] = seconds
        if seconds > 0 and elapsed / seconds > self.max_load:
            self.max_load = elapsed / seconds
        self.blocks += 1
        self.samples += n_samples

    def loads(self, last: int | None = None) -> np.ndarray:
        """Callback time as a fraction of each block's duration (most recent ``last`` blocks)."""
        n = min(self.blocks, self.durations.shape[0])
        if last is not None:
            n = min(n, last)
        end = self.blocks % self.durations.shape[0]
        index = (np.arange(end - n, end)) % self.durations.shape[0]
        seconds = self.block_seconds[index]
        return np.divide(self.durations[index], seconds, out=np.zeros(n), where=seconds > 0)

    def pace(self, sample_rate: float) -> float:
        """Audio seconds per wall-clock second from the first to the latest callback (1.0 = real time)."""
        wall = self.last_call - self.first_call
        return self.samples_before_last / sample_rate / wall if wall > 0 else float("nan")

    @property
    def xruns(self) -> int:
        return self.input_overflows + self.output_underflows


@dataclass
class LoadEstimate:
    """What :meth:`LiveEngine.measure_load` measured for one block size."""

    block: int
    mean: float  # processing time / audio time over the whole measurement (1.0 = all of real time)
    p99: float  # 99th percentile of the per-block load
    worst_ms: float  # the slowest block, in milliseconds


class LiveEngine:
    """Run a chain on device blocks, resampling in the stream when the rates differ.

    Parameters
    ----------
    chain : Processor
        Not yet prepared; prepared here at ``processing_rate`` with ``n_channels``.
    processing_rate : int
        Rate the chain runs at (the dictionary's).
    device_rate : int
        Rate of the audio stream.
    n_channels : int
        Channels processed (the input's channels).
    out_channels : int
        Channels of the output; by default output channel ``j`` gets processed channel
        ``j % n_channels`` (a mono input plays on both speakers).
    max_block : int
        Largest block the device will deliver (buffers are sized from it).
    input_channels : sequence of int, optional
        Device input channels (0-based) to process, one per processed channel, e.g.
        ``(1,)`` for the second input of a 2-in interface; default the first ``n_channels``.
    output_map : sequence of int, optional
        For each of the ``out_channels`` device outputs, the processed channel it plays
        (0-based), or -1 for silence; default ``j % n_channels``.
    """

    def __init__(self, chain: Processor, *, processing_rate: int, device_rate: int, n_channels: int, out_channels: int | None = None,
                 max_block: int = 4096, input_channels=None, output_map=None):
        self.processing_rate, self.device_rate = int(processing_rate), int(device_rate)
        self.n_channels = int(n_channels)
        self.out_channels = int(out_channels or n_channels)
        self.max_block = int(max_block)
        if self.n_channels < 1 or self.out_channels < 1:
            raise ParameterError("a live stream needs at least one input and one output channel")
        self.input_channels = tuple(range(self.n_channels)) if input_channels is None else tuple(int(c) for c in input_channels)
        if len(self.input_channels) != self.n_channels or min(self.input_channels) < 0:
            raise ParameterError(f"input_channels={input_channels!r} must give {self.n_channels} device channel(s), counted from 0")
        self.output_map = (tuple(j % self.n_channels for j in range(self.out_channels)) if output_map is None
                           else tuple(int(c) for c in output_map))
        if len(self.output_map) != self.out_channels or not all(-1 <= c < self.n_channels for c in self.output_map):
            raise ParameterError(f"output_map={output_map!r} must give, for each of the {self.out_channels} outputs, "
                                 f"a processed channel from 0 to {self.n_channels - 1} or -1 for silence")
        self._identity_input = self.input_channels == tuple(range(self.n_channels))
        self.resampling = self.processing_rate != self.device_rate
        ratio = self.processing_rate / self.device_rate
        self.max_processing_block = int(np.ceil(self.max_block * ratio)) + 64
        kernels.prefer_compiled()  # one frame per callback: the compiled per-frame kernels pay here
        chain.prepare(self.processing_rate, self.n_channels)
        self.chain = chain
        self.stats = LiveStats()
        self.recorders: list = []  # objects with push(block), fed the output
        self.input_recorders: list = []  # fed the raw input
        self.source = None  # a FileSource replacing the device input
        self.bypass = False  # True: the input goes to the output unprocessed (still delayed by the latency)
        self._bypassed = False
        self._pending: Processor | None = None
        self._pending_fed = 0
        self._retired: list = []
        C = self.n_channels
        self._input = np.zeros((self.max_block, C), np.float32)
        self._processed = np.zeros((self.max_processing_block, C), np.float32)
        self._staged = np.zeros((self.max_processing_block, C), np.float32)
        self._ramp = np.zeros(self.max_processing_block, np.float32)
        self._ramp_complement = np.zeros(self.max_processing_block, np.float32)
        self._steps = np.arange(self.max_processing_block, dtype=np.float32)
        self._dry = np.zeros((self.max_processing_block, C), np.float32)
        self._output = np.zeros((self.max_block, C), np.float32)
        self._scratch = np.zeros((self.max_block, C), np.float32)
        self._delay = _DelayLine(self.chain.latency, C)
        self._fifo_priming, self.resampling_delay = self._measure_resampling_delay() if self.resampling else (0, 0)
        self.resampler_name = ""  # which streaming resampler runs (set when the rates differ)
        self._start_resampling()

    def _start_resampling(self) -> None:
        if self.resampling:
            C = self.n_channels
            self._down = LowLatencyResampler(self.device_rate, self.processing_rate, C, max_block=self.max_block)
            self._up = LowLatencyResampler(self.processing_rate, self.device_rate, C, max_block=self.max_processing_block)
            self.resampler_name = self._down.name
            self._fifo = SampleFifo(self._fifo_priming + 4 * self.max_block + 1024, C)
            self._fifo.write_zeros(self._fifo_priming)

    def warm_up(self, block: int | None = None, n_blocks: int = 8) -> None:
        """Run a few silent blocks (first calls of FFT and BLAS routines are slow), then start afresh.

        Call before the stream starts, so the first real callback costs what the others do.
        """
        with self._rehearsal(min(self.max_block, block or 256)) as run_block:
            for _ in range(n_blocks):
                run_block()

    def measure_load(self, block: int, *, seconds: float = 1.0, wall_limit: float = 2.0) -> "LoadEstimate":
        """Time the engine on ``seconds`` of silence in blocks of ``block`` samples, then start afresh.

        Call before the stream starts: it tells whether the machine keeps up with this
        block size (the per-frame NMF work lands in the blocks that complete a hop, so
        small blocks cost more per second than large ones). Stops early after
        ``wall_limit`` seconds of processing (a block far too small).
        """
        block = max(1, min(self.max_block, int(block)))
        n_blocks = max(1, int(np.ceil(seconds * self.device_rate / block)))
        stop_at = time.perf_counter() + wall_limit
        with self._rehearsal(block) as run_block:
            self.stats = LiveStats()
            for _ in range(n_blocks):
                run_block()
                if time.perf_counter() > stop_at:
                    break
            stats = self.stats
            loads = stats.loads()
            busy = float(stats.durations[: min(stats.blocks, stats.durations.shape[0])].sum())
            return LoadEstimate(block=block, mean=busy / (stats.samples / self.device_rate),
                                p99=float(np.percentile(loads, 99)), worst_ms=1000.0 * float(stats.durations[: loads.size].max()))

    @contextlib.contextmanager
    def _rehearsal(self, block: int):
        """Blocks of silence through the engine with no recorder or file source attached; afterwards the engine starts afresh.

        Yields a function that runs one block.
        """
        silence = np.zeros((block, self.n_channels), np.float32)
        sink = np.zeros((block, self.out_channels), np.float32)
        recorders, input_recorders, source = self.recorders, self.input_recorders, self.source
        self.recorders, self.input_recorders, self.source = [], [], None
        try:
            yield lambda: self.process(silence, sink)
        finally:
            self.recorders, self.input_recorders, self.source = recorders, input_recorders, source
            self.chain.reset()
            self._delay = _DelayLine(self.chain.latency, self.n_channels)
            self._start_resampling()
            self.stats = LiveStats()

    # ---------------------------------------------------------------------------------
    @property
    def latency(self) -> float:
        """Delay of the engine in device samples: the chain's latency plus the resampling delay."""
        return self.chain.latency * self.device_rate / self.processing_rate + self.resampling_delay

    def _measure_resampling_delay(self) -> tuple[int, int]:
        """The FIFO priming and the device samples by which resampling down and up (with that FIFO) delays the signal.

        Runs fresh resamplers on silence to find how far their output count ever lags
        the input's (the priming that keeps the FIFO from running dry), then an impulse
        through fresh resamplers and the primed FIFO: where it comes out is the delay
        (libsamplerate holds its filter's delay back, so the two agree; the minimum-phase
        filter answers at once and its delay is its impulse response's peak).
        """
        C = self.n_channels
        block = min(self.max_block, 256)
        down = LowLatencyResampler(self.device_rate, self.processing_rate, C, max_block=self.max_block)
        up = LowLatencyResampler(self.processing_rate, self.device_rate, C, max_block=self.max_processing_block)
        produced = needed = deficit = 0
        zeros = np.zeros((block, C), np.float32)
        for _ in range(int(2 * self.device_rate / block) + 8):
            produced += up.process(down.process(zeros)).shape[0]
            needed += block
            deficit = max(deficit, needed - produced)
        delay = deficit + 2
        # confirm with an impulse through fresh resamplers and the primed FIFO
        down = LowLatencyResampler(self.device_rate, self.processing_rate, C, max_block=self.max_block)
        up = LowLatencyResampler(self.processing_rate, self.device_rate, C, max_block=self.max_processing_block)
        fifo = SampleFifo(delay + 8 * block + 1024, C)
        fifo.write_zeros(delay)
        n_blocks = int(self.device_rate / block) + 8
        signal = np.zeros((n_blocks * block, C), np.float32)
        at = 4 * block + 17
        signal[at] = 1.0
        out = np.zeros_like(signal)
        for i in range(n_blocks):
            fifo.write(up.process(down.process(signal[i * block : (i + 1) * block])))
            fifo.read(out[i * block : (i + 1) * block])
        peak = int(np.argmax(np.abs(out[:, 0])))
        return delay, max(delay, peak - at)

    # ---------------------------------------------------------------------------------
    def stage(self, chain: Processor) -> None:
        """Switch to another chain without a click: it runs alongside until its latency has
        passed, then the output crossfades to it over one block.

        Call from a control thread; ``chain`` is prepared here (not in the audio thread).
        """
        chain.prepare(self.processing_rate, self.n_channels)
        self._pending_fed = 0
        self._pending = chain

    @property
    def switching(self) -> bool:
        return self._pending is not None

    def drop_retired(self) -> None:
        """Free chains replaced by :meth:`stage` (call from a control thread)."""
        self._retired.clear()

    def _crossfade(self, a: np.ndarray, b: np.ndarray) -> None:
        """``a <- a * (1 - r) + b * r`` in place, ``r`` rising linearly over the block."""
        n = a.shape[0]
        ramp = self._ramp[:n]
        np.multiply(self._steps[:n], np.float32(1.0 / n), out=ramp)
        a -= b
        a *= _one_minus(ramp, self._ramp_complement[:n])[:, None]
        a += b

    def _run_chain(self, x: np.ndarray, out: np.ndarray) -> None:
        n = x.shape[0]
        self.chain.process(x, out)
        dry = self._dry[:n]
        self._delay.process(x, dry)
        pending = self._pending
        if pending is not None:
            staged = self._staged[:n]
            pending.process(x, staged)
            self._pending_fed += n
            if self._pending_fed >= pending.latency + n:
                self._crossfade(out, staged)
                self._retired.append(self.chain)
                self.chain = pending
                self._pending = None
                self._delay.set_delay(pending.latency)
        if self.bypass != self._bypassed:
            if self.bypass:
                self._crossfade(out, dry)
            else:
                self._crossfade(dry, out)
                out[...] = dry
            self._bypassed = self.bypass
        elif self._bypassed:
            out[...] = dry

    def process(self, indata: np.ndarray, outdata: np.ndarray) -> None:
        """The callback body: ``outdata[:] =`` the processed ``indata``. Never raises.

        Parameters
        ----------
        indata : np.ndarray [shape=(n, n_channels)] or None
            Device input (None for an output-only stream fed by :attr:`source`).
        outdata : np.ndarray [shape=(n, out_channels)] or None
            Device output (None for an input-only stream).
        """
        started = time.perf_counter()
        n = indata.shape[0] if indata is not None else outdata.shape[0]
        if n > self.max_block:  # larger than planned for: process in pieces
            for start in range(0, n, self.max_block):
                stop = min(n, start + self.max_block)
                self.process(None if indata is None else indata[start:stop], None if outdata is None else outdata[start:stop])
            return
        try:
            x = self._input[:n]
            if self.source is not None:
                self.source.fifo.read(x)
            elif self._identity_input:
                x[...] = indata[:, : self.n_channels]
            else:
                for i, c in enumerate(self.input_channels):
                    x[:, i] = indata[:, c]
            np.abs(x, out=self._scratch[:n])
            peak = float(self._scratch[:n].max(initial=0.0))
            if peak > self.stats.input_peak:
                self.stats.input_peak = peak
            for recorder in self.input_recorders:
                recorder.push(x)
            y = self._output[:n]
            if not self.resampling:
                self._run_chain(x, y)
            else:
                down = self._down.process(x)
                m = down.shape[0]
                processed = self._processed[:m]
                self._run_chain(down, processed)
                self._fifo.write(self._up.process(processed))
                got = self._fifo.read(y)
                if got < n:
                    self.stats.underruns += n - got
            if outdata is not None:
                for j, c in enumerate(self.output_map):
                    if c < 0:
                        outdata[:, j] = 0.0
                    else:
                        outdata[:, j] = y[:, c]
            for recorder in self.recorders:
                recorder.push(y)
        except Exception as exc:  # never let an exception reach PortAudio: this block is silence
            if outdata is not None:
                outdata.fill(0.0)
            self.stats.errors += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            silence = self._output[:n]
            silence.fill(0.0)
            for recorder in self.recorders:  # the recording keeps its timing
                recorder.push(silence)
        self.stats.record(started, time.perf_counter() - started, n, self.device_rate)


def _one_minus(ramp: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.subtract(np.float32(1.0), ramp, out=out)
    return out


class _DelayLine:
    """Delays a signal by a whole number of samples (the dry signal for bypass, aligned with the processed one)."""

    def __init__(self, delay: int, n_channels: int, max_delay: int = 1 << 16):
        self._fifo = SampleFifo(max_delay + (1 << 16), n_channels)
        self._fifo.write_zeros(delay)

    def set_delay(self, delay: int) -> None:
        """Change the delay (no allocation: moves the read position)."""
        self._fifo.keep_last(delay)

    def process(self, x: np.ndarray, out: np.ndarray) -> None:
        self._fifo.write(x)
        self._fifo.read(out)
