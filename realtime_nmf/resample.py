"""Resampling: whole signals and two streaming resamplers, one for files and one for the audio thread.

- :func:`resample` and :class:`StreamResampler` use soxr at high quality. The streamed
  output, concatenated, equals the whole-signal result; soxr holds back a few hundred
  milliseconds of input to do so, which costs nothing in file mode (the output is
  latency compensated);
- :class:`LowLatencyResampler` uses the minimum-phase resampler of
  :mod:`realtime_nmf.lowdelay` (libsamplerate's ``sinc_fastest`` without numba): its
  output comes steadily block after block with about a millisecond of delay each way,
  which is what a live stream needs when the device runs at another rate than the
  dictionary.

Audio arrays are float32 ``(n_samples, n_channels)`` (or ``(n_samples,)`` for
:func:`resample`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["resample", "StreamResampler", "LowLatencyResampler"]


def resample(y: np.ndarray, sample_rate_in: int, sample_rate_out: int) -> np.ndarray:
    """Resample a whole signal (soxr, high quality); the length becomes ``round(n * sample_rate_out / sample_rate_in)``.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_samples, n_channels)]
    sample_rate_in, sample_rate_out : int
        Sample rates of ``y`` and of the result.

    Returns
    -------
    np.ndarray [shape=(n_out,) or (n_out, n_channels), dtype=float32]
    """
    import soxr

    if int(sample_rate_in) == int(sample_rate_out):
        return np.asarray(y, dtype=np.float32)
    return np.ascontiguousarray(soxr.resample(np.asarray(y, dtype=np.float32), int(sample_rate_in), int(sample_rate_out), quality="HQ"), dtype=np.float32)


class StreamResampler:
    """Block-wise resampler whose concatenated output equals :func:`resample` of the whole signal (soxr).

    Parameters
    ----------
    sample_rate_in, sample_rate_out : int
    n_channels : int
    """

    def __init__(self, sample_rate_in: int, sample_rate_out: int, n_channels: int):
        import soxr

        self.sample_rate_in, self.sample_rate_out, self.n_channels = int(sample_rate_in), int(sample_rate_out), int(n_channels)
        self._stream = soxr.ResampleStream(self.sample_rate_in, self.sample_rate_out, self.n_channels, dtype="float32", quality="HQ")

    def process(self, block: np.ndarray, *, last: bool = False) -> np.ndarray:
        """Resample the next block ``(n, n_channels)``; ``last=True`` flushes the tail. Returns ``(n_out, n_channels)``."""
        out = self._stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32), last=last)
        return out.reshape(-1, self.n_channels)


class LowLatencyResampler:
    """Streaming resampler for the audio thread.

    The minimum-phase resampler of :mod:`realtime_nmf.lowdelay` (about 1.4 ms for the
    round trip of a 48 or 44.1 kHz device and a 4 kHz dictionary) when numba is
    available and the ratio is simple enough, else libsamplerate ``sinc_fastest`` (about
    9.9 ms). :attr:`name` says which.

    Parameters
    ----------
    sample_rate_in, sample_rate_out : float
    n_channels : int
    max_block : int
        Largest input block.
    """

    def __init__(self, sample_rate_in: float, sample_rate_out: float, n_channels: int, *, max_block: int = 8192):
        from . import kernels
        from .errors import ParameterError
        from .lowdelay import LowDelayResampler

        self.ratio = float(sample_rate_out) / float(sample_rate_in)
        self.n_channels = int(n_channels)
        self._low_delay = None
        if kernels.available() and float(sample_rate_in).is_integer() and float(sample_rate_out).is_integer():
            try:
                self._low_delay = LowDelayResampler(int(sample_rate_in), int(sample_rate_out), self.n_channels, max_block=max_block)
            except ParameterError:  # a ratio with too many phases: libsamplerate handles any
                self._low_delay = None
        if self._low_delay is None:
            import samplerate

            self._resampler = samplerate.Resampler("sinc_fastest", channels=self.n_channels)
        self.name = "minimum phase" if self._low_delay is not None else "libsamplerate sinc_fastest"

    def process(self, block: np.ndarray) -> np.ndarray:
        """Resample the next block; returns ``(n_out, n_channels)`` float32 (``n_out`` varies by a sample or two).

        The minimum-phase resampler returns a view of its own buffer, valid until the next call.
        """
        if self._low_delay is not None:
            return self._low_delay.process(block)
        out = self._resampler.process(block, self.ratio, end_of_input=False)
        return out.reshape(-1, self.n_channels)
