"""A low-delay streaming resampler for the live stream: minimum-phase band-limited interpolation.

A live stream whose device runs at another rate than the dictionary resamples every
block down, and the result back up, inside the callback. A linear-phase anti-aliasing
filter delays by half its length: libsamplerate's ``sinc_fastest`` costs 9.9 ms for a
48 kHz device and a 4 kHz dictionary, down and up together. The same magnitude response
with minimum phase puts the filter's energy at its start: here the whole round trip
delays by about 1.4 ms (``python -m tools.benchmarks.resampling`` prints both), at the
price of a group delay that grows towards the band edge (1.2 ms at 100 Hz, 2.5 ms at
75 % of the lower rate's Nyquist frequency, round trip), which a listener does not notice.

The filter: a Kaiser-windowed sinc at 45 % of the lower rate (pass band to 40 %, stop
band from 50 %: nothing above the lower rate's Nyquist frequency folds back into the
pass band), 70 dB of stop-band attenuation, made minimum phase by the real cepstrum
(homomorphic method), tabulated at 64 points per sample of the higher rate; the taps of
every fractional position the ratio produces (one for 48 kHz to 4 kHz, 40 for 44.1 kHz to
4 kHz, 441 back up) are interpolated from it once, so the kernel only runs dot products. Output sample ``n`` falls at input position ``n * sample_rate_in / sample_rate_out``,
computed in integers (no drift over hours); it depends only on input samples up to that
position (causal).

Everything is allocated in the constructor; :meth:`LowDelayResampler.process` only runs
the compiled kernel of :mod:`realtime_nmf.kernels` (numba; without it the live engine
keeps libsamplerate).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ParameterError

__all__ = ["LowDelayResampler", "minimum_phase_lowpass", "PASS_BAND", "STOP_BAND", "ATTENUATION_DB", "PHASES"]

PASS_BAND = 0.40  # of the lower rate
STOP_BAND = 0.50
ATTENUATION_DB = 70.0
PHASES = 64  # table points per sample of the higher rate


def _kaiser_beta(attenuation: float) -> float:
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def minimum_phase_lowpass(cutoff: float, transition: float, attenuation: float, oversample: int) -> np.ndarray:
    """Minimum-phase low-pass impulse response, sampled ``oversample`` times per unit sample (float64).

    Parameters
    ----------
    cutoff, transition : float
        Cut-off frequency and transition width, in cycles per unit sample.
    attenuation : float
        Stop-band attenuation in dB (Kaiser's formulas give the length and the window).
    oversample : int

    Returns
    -------
    np.ndarray [shape=(taps * oversample,)]
        ``taps`` unit samples long; its sum over every ``oversample``-th point is 1
        (unit gain at DC for any phase).
    """
    taps = int(math.ceil((attenuation - 7.95) / (14.36 * transition))) + 1
    n = taps * oversample
    t = (np.arange(n) - (n - 1) / 2) / oversample  # in unit samples, centred: the linear-phase design
    linear = 2 * cutoff * np.sinc(2 * cutoff * t) * np.kaiser(n, _kaiser_beta(attenuation))
    # the same magnitude, minimum phase: fold the real cepstrum of log|H| onto positive quefrencies
    size = 1 << int(math.ceil(math.log2(8 * n)))
    magnitude = np.abs(np.fft.rfft(linear, size))
    log_magnitude = np.log(np.maximum(magnitude, magnitude.max() * 1e-9))
    cepstrum = np.fft.irfft(log_magnitude, size)
    fold = np.zeros(size)
    fold[0] = cepstrum[0]
    fold[1 : size // 2] = 2 * cepstrum[1 : size // 2]
    fold[size // 2] = cepstrum[size // 2]
    h = np.fft.irfft(np.exp(np.fft.rfft(fold)), size)[:n]
    return h / h.sum() * oversample


class LowDelayResampler:
    """Streaming resampler of ``(n_samples, n_channels)`` float32 blocks with a delay of about a millisecond.

    Parameters
    ----------
    sample_rate_in, sample_rate_out : int
        Rates, whole numbers of hertz.
    n_channels : int
    max_block : int
        Largest input block (the output buffer is sized from it).
    """

    def __init__(self, sample_rate_in: int, sample_rate_out: int, n_channels: int, *, max_block: int = 8192):
        from . import kernels

        self._kernels = kernels.load()
        if self._kernels is None:
            raise ParameterError("the low-delay resampler needs numba (pip install numba)")
        self.sample_rate_in, self.sample_rate_out = int(sample_rate_in), int(sample_rate_out)
        if self.sample_rate_in < 1 or self.sample_rate_out < 1 or self.sample_rate_in != sample_rate_in or self.sample_rate_out != sample_rate_out:
            raise ParameterError(f"resampling needs whole positive rates, got {sample_rate_in!r} -> {sample_rate_out!r}")
        self.n_channels = int(n_channels)
        high, low = max(self.sample_rate_in, self.sample_rate_out), min(self.sample_rate_in, self.sample_rate_out)
        # the prototype in samples of the higher rate, tabulated PHASES times per sample
        cutoff = (PASS_BAND + STOP_BAND) / 2 * low / high
        transition = (STOP_BAND - PASS_BAND) * low / high
        table = minimum_phase_lowpass(cutoff, transition, ATTENUATION_DB, PHASES)
        self.filter_length = table.size / PHASES  # in samples of the higher rate
        self._peak = int(np.argmax(table)) / PHASES
        # an output at input position t reads inputs t - i (i = 0, 1, ...) at table points (frac(t) + i) * step
        step = PHASES * high / self.sample_rate_in  # PHASES down (inputs at the higher rate), PHASES * sample_rate_out / sample_rate_in up
        # downsampling: the table sums to one over a sample's points; upsampling spreads each input over
        # sample_rate_out / sample_rate_in outputs, so the sparse taps sum to sample_rate_in / sample_rate_out
        gain = 1.0 if self.sample_rate_in >= self.sample_rate_out else self.sample_rate_out / self.sample_rate_in
        self._taps = taps = int(math.ceil(table.size / step)) + 1  # input samples each output reads
        # output positions n * sample_rate_in / sample_rate_out take only sample_rate_out / gcd fractional parts: one row of taps per phase
        self._unit = math.gcd(self.sample_rate_in, self.sample_rate_out)
        n_phases = self.sample_rate_out // self._unit
        if n_phases * taps > 1 << 20:  # 4 MB of taps
            raise ParameterError(f"resampling {self.sample_rate_in} Hz -> {self.sample_rate_out} Hz needs {n_phases} filter phases; "
                                 "use a device rate with a simpler ratio to the dictionary's (e.g. 44100 or 48000)")
        at = (np.arange(n_phases)[:, None] / n_phases + np.arange(taps)[None, :]) * step  # table points
        k = np.minimum(at.astype(np.int64), table.size - 1)
        padded = np.concatenate([table, [0.0]])
        values = padded[k] + (at - k) * (padded[k + 1] - padded[k])
        values[at >= table.size - 1] = 0.0
        self._bank = np.ascontiguousarray((gain * values)[:, ::-1], dtype=np.float32)  # reversed: a forward dot with history
        self.max_block = int(max_block)
        self._history = np.zeros((self.n_channels, self._taps + self.max_block), np.float32)
        self._out = np.zeros((int(math.ceil(self.max_block * self.sample_rate_out / self.sample_rate_in)) + 2, self.n_channels), np.float32)
        self._state = np.zeros(2, np.int64)  # [output samples made, input samples consumed]
        self.reset()
        self.process(np.zeros((0, self.n_channels), np.float32))  # compile (or load the cache) now, not in the audio thread

    def reset(self) -> None:
        """Forget the past input."""
        self._history.fill(0)
        self._state[:] = 0

    @property
    def delay_seconds(self) -> float:
        """Where the filter's impulse response peaks: the delay of low frequencies, in seconds (per direction)."""
        return self._peak / max(self.sample_rate_in, self.sample_rate_out)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Resample the next block; returns a view ``(n_out, n_channels)`` of a buffer reused by the next call.

        ``n_out`` is the number of output samples whose position falls within the input
        so far (``floor`` of the input count times ``sample_rate_out / sample_rate_in``, less those already
        returned): it varies by one sample from block to block.
        """
        if block.shape[0] > self.max_block:
            raise ParameterError(f"block of {block.shape[0]} samples is larger than max_block={self.max_block}")
        n = self._kernels.resample_block(block, self._history, self._out, self._state, self._bank, self.sample_rate_in, self.sample_rate_out, self._unit)
        return self._out[:n]
