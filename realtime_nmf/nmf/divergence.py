"""The beta divergence, its validation, and the exponents of the multiplicative updates."""

from __future__ import annotations

import numpy as np

from .. import defaults
from ..errors import ParameterError

__all__ = ["validate_beta", "mu_exponent", "frame_exponent", "beta_divergence"]

EPS = defaults.EPS


#: Largest beta accepted: beyond it, ``V ** beta`` of loud spectra overflows float32 (and no one separates sources with it).
MAX_BETA = 4.0


def validate_beta(beta: float) -> float:
    """Return ``beta`` as a float, or raise :class:`ParameterError` unless it is a number from 0 to :data:`MAX_BETA` (4)."""
    message = f"beta={beta!r} must be a number >= 0 and at most {MAX_BETA:g} (2 = Euclidean, 1 = Kullback-Leibler, 0 = Itakura-Saito)"
    if isinstance(beta, bool):
        raise ParameterError(message)
    try:
        beta = float(beta)
    except (TypeError, ValueError, OverflowError):
        raise ParameterError(message) from None
    if not np.isfinite(beta) or not 0 <= beta <= MAX_BETA:
        raise ParameterError(message)
    return beta


def _check_nonnegative_finite(name: str, X: np.ndarray) -> None:
    if X.size and not np.isfinite(X).all():
        raise ParameterError(f"{name} is not finite everywhere (NaN or Inf values); clean the input first")
    if X.size and X.min() < 0:
        raise ParameterError(f"{name} has negative entries; NMF needs a non-negative matrix such as a magnitude spectrogram")



def mu_exponent(beta: float) -> float:
    """Exponent ``gamma(beta)`` that turns the heuristic multiplicative update into an MM update.

    ``1 / (2 - beta)`` for ``beta < 1``, ``1`` for ``1 <= beta <= 2`` and ``1 / (beta - 1)``
    for ``beta > 2`` (Fevotte and Idier 2011, table 2).
    """
    beta = validate_beta(beta)
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


def frame_exponent(beta: float) -> float:
    """Exponent of the real-time H-only updates: 1 (the heuristic update) for ``0 < beta <= 2``, else :func:`mu_exponent`.

    For a fixed ``W`` the heuristic update is monotone for beta in (0, 1) as well as
    [1, 2] (Fevotte and Idier 2011, section 4), and it takes about half as many updates
    as the MM exponent ``1 / (2 - beta)`` to reach the same divergence, so the per-frame
    solver uses it there; for beta = 0 and beta > 2 only the MM exponent is proven
    monotone and is kept.
    """
    beta = validate_beta(beta)
    return 1.0 if 0 < beta <= 2 else mu_exponent(beta)


def _divergence_chunk(x: np.ndarray, y: np.ndarray, beta: float, eps: float) -> float:
    # in the inputs' precision (float32 for spectrograms), summed in float64
    dtype = np.float64 if np.float64 in (x.dtype, y.dtype) else np.float32
    x = np.asarray(x, dtype=dtype)
    y = np.maximum(np.asarray(y, dtype=dtype), dtype(eps))

    def total(a) -> float:
        return float(np.sum(a, dtype=np.float64))

    if beta == 2:
        difference = x - y
        return 0.5 * total(difference * difference)
    if beta == 1:
        # x log(x / y) - x + y, with 0 log 0 = 0
        ratio = np.divide(x, y)
        np.maximum(ratio, dtype(np.finfo(dtype).tiny), out=ratio)
        np.log(ratio, out=ratio)
        ratio *= x
        return total(ratio) - total(x) + total(y)
    if beta == 0:
        ratio = np.maximum(x, dtype(eps)) / y
        return total(ratio) - total(np.log(ratio)) - ratio.size
    return total((x**beta + (beta - 1.0) * y**beta - beta * x * y ** (beta - 1.0)) / (beta * (beta - 1.0)))


def beta_divergence(V: np.ndarray, V_hat: np.ndarray, beta: float, *, eps: float = EPS) -> float:
    """Summed beta divergence ``D_beta(V | V_hat)``.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames) or (n_bins,)], non-negative
        Data, e.g. a magnitude spectrogram.
    V_hat : np.ndarray [shape=V.shape], non-negative
        Model, e.g. ``W @ H``. Floored at ``eps``.
    beta : float >= 0
        2 is half the squared Euclidean distance, 1 the generalised Kullback-Leibler
        divergence, 0 the Itakura-Saito divergence (for which ``V`` is floored at ``eps``
        too); other values use the general formula.
    eps : float
        Floor that avoids division by zero and logarithms of zero.

    Returns
    -------
    float
        The divergence summed over all entries, computed in float64.
    """
    beta = validate_beta(beta)
    V = np.asarray(V)
    V_hat = np.asarray(V_hat)
    if V.shape != V_hat.shape:
        raise ParameterError(f"V has shape {V.shape} but V_hat has shape {V_hat.shape}; they must match")
    if V.ndim < 2:
        return _divergence_chunk(V, V_hat, beta, eps)
    total = 0.0
    step = max(1, (1 << 20) // max(1, V.shape[0]))  # about a million entries at a time
    for start in range(0, V.shape[1], step):
        total += _divergence_chunk(V[:, start : start + step], V_hat[:, start : start + step], beta, eps)
    return total

