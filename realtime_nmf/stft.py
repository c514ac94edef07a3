"""Short-time Fourier transform, offline and streaming, with one framing convention.

Framing
-------
Frame ``m`` holds the ``n_fft`` input samples that end at sample ``(m + 1) * hop_length - 1``
(samples before the start of the signal are zeros). This is the frame a streaming
processor can compute as soon as ``(m + 1) * hop_length`` samples have arrived, so the
offline functions here (:func:`stft`, :func:`istft`) and the streaming
:class:`StreamingSTFT` see exactly the same frames.

Windows come from :mod:`realtime_nmf.windows`: a named window (``"hann"``) with its
least-squares synthesis window, or the asymmetric low-latency pair (``"asymmetric"``),
whose synthesis window covers only the last ``2 * hop_length`` samples of a frame. Either
way analysis followed by synthesis of an unchanged spectrum gives the input back exactly,
and the streaming latency is the synthesis window's length minus one sample
(:func:`streaming_latency`).

Audio arrays are ``(n_samples, n_channels)`` (the layout of soundfile and sounddevice);
spectra are ``(n_bins, n_channels)`` per frame and ``(n_bins, n_frames, n_channels)``
offline, with ``n_bins = n_fft // 2 + 1``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import kernels
from .errors import ParameterError
from .ringbuffer import SampleFifo
from .windows import analysis_window, synthesis_length, synthesis_window, validate_window_design, window_latency

#: Samples beyond this magnitude (+120 dB above full scale) are not audio: the streaming STFT treats
#: them like NaN and Inf, as silence, so that no spectrum or activation overflows.
LOUDEST_SAMPLE = 1e6

__all__ = [
    "analysis_window",
    "synthesis_window",
    "validate_stft_settings",
    "n_frames_for",
    "streaming_latency",
    "stft",
    "istft",
    "magnitude_spectrogram",
    "StreamingSTFT",
]


def validate_stft_settings(n_fft: int, hop_length: int, window: str = "hann") -> tuple[int, int, str]:
    """Check ``n_fft``, ``hop_length`` and ``window``; return them normalised.

    Raises
    ------
    ParameterError
        With a message that names the value and the fix.
    """
    try:
        n_fft, hop_length = int(n_fft), int(hop_length)
    except (TypeError, ValueError):
        raise ParameterError(f"n_fft={n_fft!r} and hop_length={hop_length!r} must be whole numbers") from None
    if n_fft < 16:
        raise ParameterError(f"n_fft={n_fft} is too small; use at least 16 (e.g. 1024)")
    if n_fft > 1 << 16:
        raise ParameterError(f"n_fft={n_fft} is too large; use at most 65536")
    if hop_length < 1:
        raise ParameterError(f"hop_length={hop_length} must be at least 1 (e.g. n_fft // 4 = {n_fft // 4})")
    if hop_length > n_fft:
        raise ParameterError(f"hop_length={hop_length} is larger than n_fft={n_fft}; use at most n_fft (e.g. n_fft // 4 = {n_fft // 4})")
    window = validate_window_design(window, n_fft, hop_length)  # an unknown window, a NOLA violation, a too long hop
    return n_fft, hop_length, window


def n_frames_for(n_samples: int, n_fft: int, hop_length: int) -> int:
    """Number of frames needed to cover ``n_samples`` samples completely (see the module doc)."""
    return (int(n_samples) + n_fft - 1) // hop_length


def streaming_latency(n_fft: int, hop_length: int, window: str = "hann") -> int:
    """Latency in samples of :class:`StreamingSTFT` for blocks of any size.

    ``n_fft - 1`` for a named window, ``2 * hop_length - 1`` for the asymmetric design
    (see :func:`realtime_nmf.windows.window_latency`).
    """
    return window_latency(window, n_fft, hop_length)


def _as_2d(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 1:
        return y[:, None]
    if y.ndim != 2:
        raise ParameterError(f"audio must have shape (n_samples,) or (n_samples, n_channels), got {y.shape}")
    return y


def _stft_chunks(y: np.ndarray, n_fft: int, hop_length: int, window: str, real_dtype):
    """Yield ``(start, stop, spectra)`` for consecutive runs of frames, ``spectra`` shaped (frames, channels, bins).

    Only one run of frames is copied at a time, so the caller can keep as little of the
    result as it needs (a magnitude spectrogram never holds the complex STFT).
    """
    y = _as_2d(y)
    n_samples, n_channels = y.shape
    n_frames = n_frames_for(n_samples, n_fft, hop_length)
    lead = n_fft - hop_length
    w = analysis_window(window, n_fft, hop_length).astype(real_dtype)
    step = max(1, (1 << 20) // (n_fft * n_channels))  # bound the temporary frame stack (about 4 MB of frames)
    for start in range(0, n_frames, step):
        stop = min(n_frames, start + step)
        # the samples these frames cover, zero outside the signal (a copy of this run only)
        first, last = start * hop_length - lead, (stop - 1) * hop_length - lead + n_fft
        piece = np.zeros((last - first, n_channels), dtype=real_dtype)
        lo, hi = max(first, 0), min(last, n_samples)
        if hi > lo:
            piece[lo - first : hi - first] = y[lo:hi]
        frames = np.lib.stride_tricks.sliding_window_view(piece, n_fft, axis=0)[::hop_length]
        yield start, stop, np.fft.rfft(frames * w, axis=-1)  # (n, n_channels, n_bins)


def stft(y: np.ndarray, n_fft: int, hop_length: int, window: str = "hann", *, dtype=np.complex64) -> np.ndarray:
    """Offline STFT with the streaming framing.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_samples, n_channels)]
    n_fft, hop_length : int
    window : str

    Returns
    -------
    S : np.ndarray [shape=(n_bins, n_frames, n_channels)], complex
        ``n_frames = n_frames_for(n_samples, n_fft, hop_length)``.
    """
    y = _as_2d(y)
    S = np.empty((n_fft // 2 + 1, n_frames_for(y.shape[0], n_fft, hop_length), y.shape[1]), dtype=dtype)
    real = np.float64 if dtype == np.complex128 else np.float32
    for start, stop, spectra in _stft_chunks(y, n_fft, hop_length, window, real):
        S[:, start:stop, :] = spectra.transpose(2, 0, 1)
    return S


def istft(S: np.ndarray, n_fft: int, hop_length: int, window: str = "hann", *, length: int) -> np.ndarray:
    """Inverse of :func:`stft` (overlap-add with the synthesis window), aligned with the input.

    Parameters
    ----------
    S : np.ndarray [shape=(n_bins, n_frames, n_channels)]
    n_fft, hop_length : int
    window : str
    length : int
        Number of samples to return (the input's length).

    Returns
    -------
    y : np.ndarray [shape=(length, n_channels)]
    """
    n_bins, n_frames, n_channels = S.shape
    real = np.float64 if S.dtype == np.complex128 else np.float32
    lead = n_fft - hop_length
    out = np.zeros((lead + n_frames * hop_length + hop_length, n_channels), dtype=real)
    ws = synthesis_window(window, n_fft, hop_length).astype(real)
    frames = np.fft.irfft(S, n=n_fft, axis=0).astype(real)  # (n_fft, n_frames, n_channels)
    frames *= ws[:, None, None]
    for m in range(n_frames):
        out[m * hop_length : m * hop_length + n_fft] += frames[:, m, :]
    result = out[lead : lead + length]
    if result.shape[0] < length:
        result = np.concatenate([result, np.zeros((length - result.shape[0], n_channels), real)])
    return result


def magnitude_spectrogram(y: np.ndarray, n_fft: int, hop_length: int, window: str = "hann", *, power: float = 1.0) -> np.ndarray:
    """``|STFT|**power`` of a mono signal with the streaming framing, float32.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]

    Returns
    -------
    V : np.ndarray [shape=(n_bins, n_frames)]
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"magnitude_spectrogram needs mono audio of shape (n_samples,), got {y.shape}")
    V = np.empty((n_fft // 2 + 1, n_frames_for(y.shape[0], n_fft, hop_length)), np.float32)
    for start, stop, spectra in _stft_chunks(y, n_fft, hop_length, window, np.float32):
        magnitude = np.abs(spectra[:, 0, :]).T  # computed a run of frames at a time: no full complex STFT in memory
        V[:, start:stop] = magnitude if power == 1.0 else magnitude**power
    return V


def _fft_functions():
    """Row-wise float32 ``rfft(frames, out)`` and ``irfft(spectra, out)`` for the streaming engine.

    numpy 2 runs its FFTs as generalised ufuncs (``numpy.fft._pocketfft_umath``);
    calling them directly in float32 skips the Python wrapper of ``np.fft.rfft`` (which
    also computes float32 input in float64), about half the cost of a one-frame FFT. The
    public functions are used where that module is missing.
    """
    try:
        from numpy.fft import _pocketfft_umath as pfu

        forward, inverse = pfu.rfft_n_even, pfu.irfft
    except (ImportError, AttributeError):
        forward = inverse = None
    one = np.float32(1.0)
    if forward is not None:
        def rfft(frames, out):
            if frames.shape[-1] % 2:
                return np.fft.rfft(frames, axis=-1, out=out)
            return forward(frames, one, out=out)

        def irfft(spectra, out):
            return inverse(spectra, np.float32(1.0 / out.shape[-1]), out=out)
    else:
        def rfft(frames, out):
            return np.fft.rfft(frames, axis=-1, out=out)

        def irfft(spectra, out):
            return np.fft.irfft(spectra, n=out.shape[-1], axis=-1, out=out)
    return rfft, irfft


_rfft, _irfft = _fft_functions()
_min, _max = np.minimum.reduce, np.maximum.reduce


class StreamingSTFT:
    """Block-in, block-out STFT processing with a fixed latency (:func:`streaming_latency`).

    Input samples collect in a linear analysis buffer; as soon as hops are complete, the
    frames that end with them are windowed and transformed together (at most
    ``batch_frames`` at a time, and never across a multiple of ``batch_frames`` in the
    frame count), their spectra are handed to ``spectral_fn`` (which changes them in
    place), and the results are inverse-transformed and overlap-added. Completed output
    samples wait in a FIFO primed with ``hop_length - 1`` zeros, which is what lets a block
    of any size, down to one sample, be answered at once by a block of the same size.
    Which frames happen to be transformed together depends on the block size; a
    ``spectral_fn`` that treats every frame on its own (see :class:`NMFSeparator`) gives
    an output that does not.

    All buffers are allocated here; :meth:`process` allocates nothing apart from what the
    FFT calls need. NaN and Inf input samples, and samples beyond :data:`LOUDEST_SAMPLE`
    (+120 dB above full scale: not audio, and enough to overflow a spectrum), are replaced
    by zeros before any frame uses them (counted in ``nonfinite_samples``, and the frames
    that hold them in ``nonfinite_frames``); the samples a batch of frames adds are checked
    together, with two reductions (samples of a last partial hop that no frame reaches are
    never checked, nor counted). So a burst of them silences
    at most one window of output and never poisons the state.

    Parameters
    ----------
    n_fft, hop_length : int
    window : str
    n_channels : int
    spectral_fn : callable(spectra, first_frame) -> None
        Called with ``spectra``, ``np.ndarray [shape=(n_frames * n_channels, n_bins),
        dtype=complex64]`` (row ``j * n_channels + c`` is frame ``first_frame + j`` of
        channel ``c``) to modify in place, and the index of the first of these frames
        since the last :meth:`reset`.
    batch_frames : int
        Most frames handed over at once.
    compiled : bool, optional
        Frame, window, transform, inverse-transform and overlap-add with the compiled
        kernels of :func:`realtime_nmf.kernels.load_stream` (numba and rocket-fft): by
        default (None) when the host prefers compiled kernels
        (:func:`realtime_nmf.kernels.prefer_compiled`: the live engine does) and they are
        available; False the numpy calls always. The same arithmetic either way (float32
        FFTs of two implementations: the outputs agree to float32 rounding); what it saves
        is per call, so it pays where frames are transformed one at a time.
    """

    def __init__(self, n_fft: int, hop_length: int, window: str, n_channels: int, spectral_fn: Callable[[np.ndarray, int], None],
                 *, batch_frames: int = 1, compiled: bool | None = None):
        self.n_fft, self.hop_length, self.window = validate_stft_settings(n_fft, hop_length, window)
        self.n_channels = int(n_channels)
        self.batch_frames = int(batch_frames)
        if self.batch_frames < 1:
            raise ParameterError(f"batch_frames={batch_frames} must be at least 1")
        self.spectral_fn = spectral_fn
        n_fft, hop, B, C = self.n_fft, self.hop_length, self.batch_frames, self.n_channels
        self._lead = n_fft - hop
        # synthesis covers only the last L samples of a frame (L = n_fft, or 2 * hop for the asymmetric design)
        self._synthesis_length = L = synthesis_length(self.window, n_fft, hop)
        self._window = analysis_window(self.window, n_fft, hop).astype(np.float32)
        self._synthesis = np.ascontiguousarray(synthesis_window(self.window, n_fft, hop)[n_fft - L :], dtype=np.float32)
        self._input = np.zeros((self._lead + B * hop, C), np.float32)  # the last n_fft - hop samples, then new ones
        self._frames = np.zeros((B * C, n_fft), np.float32)
        self._spectra = np.zeros((B * C, n_fft // 2 + 1), np.complex64)
        self._accumulator = np.zeros((C, L + B * hop), np.float32)  # overlap-add of the frames' last L samples
        # frame j of channel c is input[j * hop : j * hop + n_fft, c]: views built once (as_strided costs microseconds)
        item = self._input.itemsize
        self._frame_views = [None] + [
            (np.lib.stride_tricks.as_strided(self._input, shape=(g, C, n_fft), strides=(hop * C * item, item, C * item), writeable=False),
             self._frames[: g * C].reshape(g, C, n_fft))
            for g in range(1, B + 1)
        ]
        self._spectra_views = [self._spectra[: g * C] for g in range(B + 1)]
        self._fifo = SampleFifo((B + 1) * hop, C)  # finished output samples, primed with hop - 1 zeros
        self._kernels = kernels.choose(compiled, stream=True)
        if self._kernels is not None:
            self._axes = np.ones(1, np.int64)
            self._loudest = np.float32(LOUDEST_SAMPLE)
            self._scale = np.float32(1.0 / n_fft)
            # compile (or load from numba's cache) now, never in the audio thread: no frame, no sample
            self._kernels.analyse(self._input, 0, 0, self._loudest, self._window, hop, 0, self._frames, self._spectra, self._axes, 0)
            self._kernels.synthesise(self._spectra, self._frames, 0, self._synthesis, self._accumulator, hop, self._scale, self._axes,
                                     self._fifo.storage, 0)
        self.reset()

    @property
    def compiled(self) -> bool:
        """True when the compiled kernels frame, transform and overlap-add."""
        return self._kernels is not None

    @property
    def latency(self) -> int:
        """Delay in samples between an input sample and the output sample made from it."""
        return streaming_latency(self.n_fft, self.hop_length, self.window)

    def reset(self) -> None:
        """Forget all past input (the next sample is treated as the first)."""
        self._input.fill(0)
        self._accumulator.fill(0)
        self._fifo.keep_last(0)
        self._fifo.write_zeros(self.hop_length - 1)
        self._filled = 0  # new samples in the analysis buffer not yet consumed by a frame
        self._samples_in = 0  # samples fed since the reset
        self._checked = self._lead  # input[lead : _checked] was checked for NaN, Inf and absurd samples
        self._checked_in = 0  # samples checked since the reset
        self._last_bad_frame = -1  # the last frame counted in nonfinite_frames
        self.nonfinite_samples = 0
        self.frames_processed = 0
        self.nonfinite_frames = 0

    def _window_frames(self, g: int) -> np.ndarray:
        frames = self._frames[: g * self.n_channels]
        view, out = self._frame_views[g]
        np.multiply(view, self._window, out=out)
        return frames

    def _run_frames(self, g: int, end: int) -> None:
        """Check the input up to ``input[end]``, then transform, process and overlap-add the ``g`` complete frames."""
        done = g * self.hop_length
        keep = self._lead + self._filled - done  # the last n_fft - hop samples (and any partial hop), for the next frames
        if self._kernels is not None:
            self._run_frames_compiled(g, end, done, keep)
        else:
            self._run_frames_numpy(g, end, done, keep)
        self._filled -= done
        self._checked -= done
        self.frames_processed += g

    def _run_frames_numpy(self, g: int, end: int, done: int, keep: int) -> None:
        self._check(end)
        C, n_fft, hop = self.n_channels, self.n_fft, self.hop_length
        frames = self._window_frames(g)
        spectra = self._spectra_views[g]
        _rfft(frames, spectra)
        self.spectral_fn(spectra, self.frames_processed)
        _irfft(spectra, frames)
        L = self._synthesis_length
        tails = frames[:, n_fft - L :]  # the synthesis window is zero before them
        np.multiply(tails, self._synthesis, out=tails)
        accumulator = self._accumulator
        for j in range(g):
            target = accumulator[:, j * hop : j * hop + L]
            np.add(target, tails[j * C : (j + 1) * C], out=target)
        # the first g hops of the accumulator are complete: move them to the FIFO
        self._fifo.write(accumulator[:, :done].T)
        rest = L - hop  # what the last frame adds beyond its finished hop (the accumulator is zero after it)
        accumulator[:, :rest] = accumulator[:, done : done + rest]
        accumulator[:, rest : rest + done] = 0
        self._input[:keep] = self._input[done : done + keep]

    def _run_frames_compiled(self, g: int, end: int, done: int, keep: int) -> None:
        """The same steps in two kernel calls around ``spectral_fn`` (see :mod:`realtime_nmf._stream_kernels`)."""
        k, hop = self._kernels, self.hop_length
        if k.analyse(self._input, self._checked, end, self._loudest, self._window, hop, g, self._frames, self._spectra, self._axes, keep):
            self._checked_in += end - self._checked  # what _check counts
            self._checked = end
        else:
            self._check(end)  # silences what failed (rare), then the same call without the check
            k.analyse(self._input, end, end, self._loudest, self._window, hop, g, self._frames, self._spectra, self._axes, keep)
        spectra = self._spectra_views[g]
        self.spectral_fn(spectra, self.frames_processed)
        fifo = self._fifo
        k.synthesise(spectra, self._frames, g, self._synthesis, self._accumulator, hop, self._scale, self._axes, fifo.storage, fifo.write_index)
        fifo.commit(done)

    def _check(self, end: int) -> None:
        """Check the input samples from the last checked one up to ``input[end]`` (before frames use them).

        Done once per batch of frames, not once per block: with blocks shorter than the
        hop, most blocks complete no frame, and their samples are checked together.
        Two reductions, called directly (``chunk.min()`` adds a Python wrapper).
        """
        chunk = self._input[self._checked : end]
        if not (-LOUDEST_SAMPLE <= _min(chunk, axis=None) and _max(chunk, axis=None) <= LOUDEST_SAMPLE):  # NaN fails both
            self._silence(chunk, self._checked_in)
        self._checked_in += end - self._checked
        self._checked = end

    def _silence(self, chunk: np.ndarray, first: int) -> None:
        """Zero the NaN, Inf and too loud samples of ``chunk`` (stream samples ``first`` on) and count them and their frames (rare: it allocates)."""
        bad = ~(np.abs(chunk) <= LOUDEST_SAMPLE)
        self.nonfinite_samples += int(np.count_nonzero(bad))
        chunk[bad] = 0.0
        # frame m holds stream samples m * hop - lead .. m * hop - lead + n_fft - 1: count each frame holding one once
        s = first + np.flatnonzero(bad.any(axis=1))
        first = -((self.n_fft - self._lead - 1 - s) // self.hop_length)  # ceil((s + lead - n_fft + 1) / hop)
        last = (s + self._lead) // self.hop_length
        before = np.maximum.accumulate(np.concatenate(([self._last_bad_frame], last[:-1])))
        self.nonfinite_frames += int(np.maximum(0, last - np.maximum(first, before + 1) + 1).sum())
        self._last_bad_frame = int(last.max())

    def process(self, block: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Feed ``block`` and write the same number of output samples to ``out``.

        Parameters
        ----------
        block : np.ndarray [shape=(n_samples, n_channels)], float32
        out : np.ndarray [shape=(n_samples, n_channels)], float32
            May be ``block`` itself.

        Returns
        -------
        out : np.ndarray
        """
        hop, B = self.hop_length, self.batch_frames
        n_samples = block.shape[0]
        filled = self._filled
        if filled + n_samples < hop:  # no frame completes (most blocks shorter than a hop): two copies
            start = self._lead + filled
            self._input[start : start + n_samples] = block
            self._filled = filled + n_samples
            self._samples_in += n_samples
            self._fifo.read(out)
            return out
        position = 0
        while position < n_samples:
            # never gather frames across a multiple of batch_frames in the frame count
            room = (B - self.frames_processed % B) * hop - self._filled
            n = min(n_samples - position, room)
            start = self._lead + self._filled
            self._input[start : start + n] = block[position : position + n]
            self._samples_in += n
            self._filled += n
            complete = self._filled // hop
            if complete:
                self._run_frames(complete, start + n)
            self._fifo.read(out[position : position + n])
            position += n
        return out
