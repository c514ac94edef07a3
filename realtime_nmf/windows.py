"""STFT window designs: the symmetric window and the asymmetric low-latency pair.

A *window design* is a name, a frame length ``n_fft`` (``K``) and a hop ``hop_length``
(``M``); from them follow the analysis window, the synthesis window, how many of the
last samples of a frame the synthesis window covers, and so the streaming latency.

Symmetric (``"hann"`` and the other named windows)
    The analysis window ``w`` spans the frame; synthesis uses the least-squares window
    ``w / sum_j w(n + j M)**2`` (Griffin and Lim 1984), which spans the frame too. An
    output sample waits for the whole frame: latency ``K - 1`` samples.

Asymmetric (``"asymmetric"``)
    The low-delay pair of Mauler and Martin (2007), in the form of Wang, Wichern,
    Watanabe and Le Roux (2022): the analysis window rises over the first ``K - M``
    samples (the square root of the rising half of a Hann window of ``2 (K - M)``) and
    falls over the last ``M`` (the square root of the falling half of a Hann window of
    ``2 M``); the synthesis window is zero but for the last ``2 M`` samples, where it is
    chosen so that analysis times synthesis is a Hann window of ``2 M``, which
    overlap-adds to exactly 1 at hop ``M``. The frame keeps its full length (the
    frequency resolution NMF needs) and the latency drops to ``2 M - 1`` samples. It
    needs ``2 M <= K``; with ``2 M = K`` it is the square-root Hann pair.

Every window here is float64; callers cast. Constructing windows is the business of
:func:`base_window` (named windows) and :func:`analysis_window` /
:func:`synthesis_window` (designs), nothing else in the package builds one.

Sources: D. Mauler and R. Martin, "A low delay, variable resolution, perfect reconstruction
spectral analysis-synthesis system for speech enhancement", EUSIPCO 2007.
Z.-Q. Wang, G. Wichern, S. Watanabe and J. Le Roux, "STFT-domain neural speech
enhancement with very low algorithmic latency", arXiv:2204.09911, 2022.
D. W. Griffin and J. S. Lim, "Signal estimation from modified short-time Fourier
transform", IEEE TASSP 32(2), 1984.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ParameterError

__all__ = [
    "ASYMMETRIC",
    "base_window",
    "is_asymmetric",
    "analysis_window",
    "synthesis_window",
    "synthesis_length",
    "window_latency",
    "validate_window_design",
    "hop_for_latency",
]

#: Name of the asymmetric low-latency design.
ASYMMETRIC = "asymmetric"


#: Periodic cosine-sum windows computed with numpy (no scipy import): name -> coefficients
#: ``a_k`` of ``sum_k (-1)**k a_k cos(2 pi k n / N)``, as :func:`scipy.signal.get_window`
#: defines them with ``fftbins=True``.
_COSINE_WINDOWS = {
    "hann": (0.5, 0.5),
    "hamming": (0.54, 0.46),
    "blackman": (0.42, 0.5, 0.08),
}


def base_window(name: str, n: int) -> np.ndarray:
    """Periodic (DFT-even) window ``name`` of length ``n``, float64.

    ``"hann"``, ``"hamming"`` and ``"blackman"`` are computed here; any other name is
    looked up with :func:`scipy.signal.get_window` (imported only then).

    Raises
    ------
    ParameterError
        For a name no window has.
    """
    n = int(n)
    if isinstance(name, str) and name in _COSINE_WINDOWS:
        phase = 2.0 * np.pi * np.arange(n) / n
        w = np.zeros(n)
        for k, a in enumerate(_COSINE_WINDOWS[name]):
            w += (-1) ** k * a * np.cos(k * phase)
        return w
    import scipy.signal

    try:
        return scipy.signal.get_window(name, n, fftbins=True).astype(np.float64)
    except (ValueError, TypeError) as exc:
        raise ParameterError(
            f"window={name!r} is not a window scipy knows ({exc}); use e.g. 'hann', 'hamming' or {ASYMMETRIC!r} (low latency)"
        ) from None


def hann(n: int) -> np.ndarray:
    """Periodic Hann window ``0.5 - 0.5 cos(2 pi k / n)``, ``k = 0 .. n-1`` (float64)."""
    return base_window("hann", n)


def is_asymmetric(window: str) -> bool:
    """True for the asymmetric low-latency design."""
    return window == ASYMMETRIC


def _check_asymmetric(n_fft: int, hop_length: int) -> None:
    if 2 * hop_length > n_fft:
        raise ParameterError(
            f"window={ASYMMETRIC!r} needs hop_length <= n_fft / 2, got hop_length={hop_length} with n_fft={n_fft}; "
            f"use a hop of at most {n_fft // 2} (the latency is 2 * hop_length - 1 samples)"
        )


def analysis_window(window: str, n_fft: int, hop_length: int) -> np.ndarray:
    """Analysis window of the design, shape ``(n_fft,)``, float64.

    For a named window this is the window itself (the hop does not matter); for the
    asymmetric design see the module doc.
    """
    n_fft, hop_length = int(n_fft), int(hop_length)
    if not is_asymmetric(window):
        return base_window(window, n_fft)
    _check_asymmetric(n_fft, hop_length)
    K, M = n_fft, hop_length
    a = np.empty(K)
    a[: K - M] = np.sqrt(hann(2 * (K - M))[: K - M])  # rising half of a Hann of 2 (K - M)
    a[K - M :] = np.sqrt(hann(2 * M)[M:])  # falling half of a Hann of 2 M
    return a


def synthesis_window(window: str, n_fft: int, hop_length: int) -> np.ndarray:
    """Synthesis window of the design, shape ``(n_fft,)``, float64.

    Analysis, an unchanged spectrum and synthesis with overlap-add at hop ``hop_length``
    give the input back exactly.

    Raises
    ------
    ParameterError
        When a named window does not overlap enough at this hop to be inverted, or the
        asymmetric design's hop is longer than half the frame.
    """
    n_fft, hop_length = int(n_fft), int(hop_length)
    w = analysis_window(window, n_fft, hop_length)
    if is_asymmetric(window):
        K, M = n_fft, hop_length
        product = hann(2 * M)  # what analysis times synthesis must be over the last 2 M samples
        s = np.zeros(K)
        tail = w[K - 2 * M :]
        np.divide(product, tail, out=s[K - 2 * M :], where=tail > 0)  # 0 / 0 (the Hann's first zero) stays 0
        return s
    wss = np.zeros(n_fft)
    for shift in range(-((n_fft - 1) // hop_length) * hop_length, n_fft, hop_length):
        lo, hi = max(0, shift), min(n_fft, n_fft + shift)
        wss[lo:hi] += w[lo - shift : hi - shift] ** 2
    if wss.min() < 1e-3 * wss.max():
        raise ParameterError(
            f"window={window!r} with n_fft={n_fft} and hop_length={hop_length} does not overlap enough to be inverted; "
            f"use a smaller hop, e.g. n_fft // 4 = {n_fft // 4}"
        )
    return w / wss


def synthesis_length(window: str, n_fft: int, hop_length: int) -> int:
    """Number of last samples of a frame the synthesis window covers: ``2 * hop_length`` (asymmetric) or ``n_fft``."""
    return 2 * int(hop_length) if is_asymmetric(window) else int(n_fft)


def window_latency(window: str, n_fft: int, hop_length: int) -> int:
    """Streaming latency in samples: ``synthesis_length - 1`` (``2 M - 1`` asymmetric, ``K - 1`` symmetric).

    An output sample depends on every input sample of the last frame whose synthesis
    window covers it, and that frame ends up to ``synthesis_length - 1`` samples later.
    """
    return synthesis_length(window, n_fft, hop_length) - 1


def validate_window_design(window: str, n_fft: int, hop_length: int) -> str:
    """Check that ``window`` is a design this package can build and invert at this frame and hop; return it as str."""
    if not isinstance(window, str) or not window:
        raise ParameterError(f"window={window!r} must be a window name such as 'hann' or {ASYMMETRIC!r}")
    synthesis_window(window, n_fft, hop_length)  # raises on an unknown name, a NOLA violation or a too long hop
    return str(window)


def hop_for_latency(latency_ms: float, sample_rate: float, n_fft: int, *, max_hop: int | None = None) -> int:
    """Hop of the asymmetric design whose latency ``2 M - 1`` is at most ``latency_ms``.

    Parameters
    ----------
    latency_ms : float
        Largest acceptable algorithmic latency, in milliseconds.
    sample_rate : float
    n_fft : int
        Frame length (kept: it sets the frequency resolution).
    max_hop : int, optional
        Longest hop to choose (default ``n_fft // 4``, the default hop of the symmetric
        design): a generous latency never makes the frame rate coarser than that.

    Returns
    -------
    int
        ``M = min(floor((floor(latency_ms * sample_rate / 1000) + 1) / 2), max_hop)``.

    Raises
    ------
    ParameterError
        When the latency is not a positive number or is shorter than one sample at this rate.
    """
    try:
        latency_ms = float(latency_ms)
    except (TypeError, ValueError):
        raise ParameterError(f"latency_ms={latency_ms!r} must be a number of milliseconds, e.g. 4") from None
    if not math.isfinite(latency_ms) or latency_ms <= 0:
        raise ParameterError(f"latency_ms={latency_ms!r} must be a positive number of milliseconds, e.g. 4")
    samples = math.floor(latency_ms * float(sample_rate) / 1000.0 + 1e-9)
    if samples < 1:
        raise ParameterError(
            f"latency_ms={latency_ms:g} is shorter than one sample at {float(sample_rate):g} Hz; "
            f"use at least {1000.0 / float(sample_rate):.3g} ms"
        )
    limit = int(max_hop) if max_hop is not None else max(1, int(n_fft) // 4)
    return max(1, min((samples + 1) // 2, limit, int(n_fft) // 2))
