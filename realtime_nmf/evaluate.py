"""Separation metrics and reference-guided component selection.

SDR is BSS Eval's signal-to-distortion ratio (a 512-tap distortion filter is allowed,
as in ``bss_eval_sources`` v3), computed with the ``fast_bss_eval`` package, which
matches mir_eval's values and is much faster; SI-SDR is the scale-invariant SDR of
Le Roux et al. (2019), from the same package.
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError

__all__ = ["sdr", "si_sdr", "snr", "select_components"]


def _pair(reference, estimate):
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.ndim == 2:
        ref = ref.mean(axis=1)
    if est.ndim == 2:
        est = est.mean(axis=1)
    n = min(ref.shape[0], est.shape[0])
    if n < 1024:
        raise ParameterError(f"signals of {n} samples are too short to score; give at least 1024 samples")
    return ref[:n], est[:n]


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """BSS Eval SDR in dB of ``estimate`` against ``reference`` (mono; lengths cut to the shorter)."""
    from fast_bss_eval.numpy import sdr as _sdr

    ref, est = _pair(reference, estimate)
    return float(_sdr(ref[None], est[None])[0])


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB."""
    from fast_bss_eval.numpy import si_sdr as _si_sdr

    ref, est = _pair(reference, estimate)
    return float(np.asarray(_si_sdr(ref[None], est[None]))[0])


def snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Plain signal-to-error ratio ``10 log10(|ref|^2 / |ref - est|^2)`` in dB (no allowed distortion)."""
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    error = float(np.sum((ref - est) ** 2))
    return 10.0 * np.log10(max(float(np.sum(ref**2)), 1e-30) / max(error, 1e-30))


def select_components(components: np.ndarray, reference: np.ndarray, *, max_components: int | None = None) -> list[int]:
    """Choose the components whose sum best matches a reference, as a careful listener would.

    Greedy forward selection: add the component that raises the SNR of the sum against
    ``reference`` most, until no component raises it.

    Parameters
    ----------
    components : np.ndarray [shape=(n_components, n_samples)]
        Separated component signals of a clip (e.g. from
        :func:`realtime_nmf.offline.component_signals`).
    reference : np.ndarray [shape=(n_samples,)]
        The target's true signal over the same clip.
    max_components : int, optional

    Returns
    -------
    list of int
        Sorted component indices.
    """
    components = np.asarray(components, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)[: components.shape[1]]
    components = components[:, : reference.shape[0]]
    chosen: list[int] = []
    total = np.zeros_like(reference)
    best = snr(reference, total)
    limit = components.shape[0] if max_components is None else int(max_components)
    while len(chosen) < limit:
        scores = [(snr(reference, total + components[k]), k) for k in range(components.shape[0]) if k not in chosen]
        if not scores:
            break
        score, k = max(scores)
        if score <= best + 1e-3:
            break
        best = score
        chosen.append(k)
        total += components[k]
    return sorted(chosen)
