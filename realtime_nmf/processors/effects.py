"""Simple built-in processors: gain and Butterworth high-, low- and band-pass filters.

The filters keep their state (``zi``) across blocks, so filtering a signal block by block
gives the same result as filtering it whole. They are designed with scipy.signal when
prepared, which is also when that module is first imported.

A NaN or infinite input sample is treated as silence by every processor here (and
counted in ``nonfinite_samples``): it never reaches the output, and it never enters a
filter's state, which would otherwise stay NaN and silence everything after it.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .base import Parameter, Processor

__all__ = ["Gain", "HighPass", "LowPass", "BandPass"]


class Gain(Processor):
    """Multiply the signal by a gain given in decibels."""

    name = "gain"
    parameters = {"db": Parameter(float, 0.0, "gain in dB", minimum=-120.0, maximum=60.0)}

    nonfinite_samples = 0

    def _allocate(self) -> None:
        self._factor = np.float32(10.0 ** (self.params["db"] / 20.0))

    def reset(self) -> None:
        self.nonfinite_samples = 0

    def _process(self, block: np.ndarray, out: np.ndarray) -> None:
        np.multiply(block, self._factor, out=out)
        if out.size and not (np.isfinite(out.max()) and np.isfinite(out.min())):  # two reductions, no allocation
            bad = ~np.isfinite(out)
            self.nonfinite_samples += int(np.count_nonzero(bad))
            out[bad] = 0.0


class _Butterworth(Processor):
    """Butterworth filter in second-order sections with state carried across blocks."""

    btype = ""

    def _cutoff(self):
        raise NotImplementedError

    def _allocate(self) -> None:
        import scipy.signal

        nyquist = self.sample_rate / 2.0
        cutoff = self._cutoff()
        edges = np.atleast_1d(cutoff)
        if edges.max() >= nyquist:
            raise ParameterError(
                f"processor {self.name!r}: cutoff {edges.max():g} Hz must be below the Nyquist frequency "
                f"{nyquist:g} Hz of a {self.sample_rate:g} Hz stream"
            )
        self._sosfilt = scipy.signal.sosfilt
        self._sos = scipy.signal.butter(self.params["order"], cutoff, btype=self.btype, fs=self.sample_rate, output="sos")
        self._zi = np.zeros((self._sos.shape[0], 2, self.n_channels))

    nonfinite_samples = 0

    def reset(self) -> None:
        if hasattr(self, "_zi"):
            self._zi.fill(0.0)
        self.nonfinite_samples = 0

    def _process(self, block: np.ndarray, out: np.ndarray) -> None:
        filtered, state = self._sosfilt(self._sos, block, axis=0, zi=self._zi)
        if not np.isfinite(state).all():  # a small array: (sections, 2, channels)
            # NaN or Inf in this block: filter it again from the same state with those samples silent
            bad = ~np.isfinite(block)
            self.nonfinite_samples += int(np.count_nonzero(bad))
            filtered, state = self._sosfilt(self._sos, np.where(bad, np.float32(0.0), block), axis=0, zi=self._zi)
            if not np.isfinite(state).all():  # finite samples so large the state overflowed: start again from silence
                state = np.zeros_like(self._zi)
                filtered = np.zeros_like(filtered)
        self._zi = state
        out[...] = filtered


_ORDER = Parameter(int, 4, "filter order (steepness: 6 dB per octave per order)", minimum=1, maximum=12)


def _edge_parameters(default_cutoff: float) -> dict:
    return {"cutoff": Parameter(float, default_cutoff, "cut-off frequency in Hz", minimum=0.0, exclusive_minimum=True), "order": _ORDER}


class _OneEdge(_Butterworth):
    def _cutoff(self):
        return self.params["cutoff"]


class HighPass(_OneEdge):
    """Butterworth high-pass filter: removes rumble below ``cutoff``."""

    name = "highpass"
    btype = "highpass"
    parameters = _edge_parameters(20.0)


class LowPass(_OneEdge):
    """Butterworth low-pass filter: removes hiss above ``cutoff``."""

    name = "lowpass"
    btype = "lowpass"
    parameters = _edge_parameters(1000.0)


class BandPass(_Butterworth):
    """Butterworth band-pass filter: keeps ``low`` to ``high`` Hz."""

    name = "bandpass"
    btype = "bandpass"
    parameters = {
        "low": Parameter(float, 20.0, "lower edge in Hz", minimum=0.0, exclusive_minimum=True),
        "high": Parameter(float, 400.0, "upper edge in Hz", minimum=0.0, exclusive_minimum=True),
        "order": _ORDER,
    }

    def __init__(self, **params):
        super().__init__(**params)
        if self.params["low"] >= self.params["high"]:
            raise ParameterError(f"processor 'bandpass': low={self.params['low']:g} Hz must be below high={self.params['high']:g} Hz")

    def _cutoff(self):
        return [self.params["low"], self.params["high"]]
