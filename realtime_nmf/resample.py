"""Resampling: whole signals and two streaming resamplers, one for files and one for the audio thread.

- :func:`resample` and :class:`StreamResampler` use soxr at high quality. The streamed
  output, concatenated, equals the whole-signal result; soxr holds back a few hundred
  milliseconds of input to do so, which costs nothing in file mode (the output is
  latency compensated);
- :class:`LowLatencyResampler` uses libsamplerate (``sinc_fastest``): its output comes
  steadily block after block with a few milliseconds of delay, which is what a live
  stream needs when the device runs at another rate than the dictionary.

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
    """Streaming resampler for the audio thread (libsamplerate ``sinc_fastest``).

    Parameters
    ----------
    sample_rate_in, sample_rate_out : float
    n_channels : int
    """

    def __init__(self, sample_rate_in: float, sample_rate_out: float, n_channels: int):
        import samplerate

        self.ratio = float(sample_rate_out) / float(sample_rate_in)
        self.n_channels = int(n_channels)
        self._resampler = samplerate.Resampler("sinc_fastest", channels=self.n_channels)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Resample the next block; returns ``(n_out, n_channels)`` float32 (``n_out`` varies by a sample or two)."""
        out = self._resampler.process(block, self.ratio, end_of_input=False)
        return out.reshape(-1, self.n_channels)
