"""Offline decomposition of a whole clip with a fixed dictionary: activations and component signals.

Used to audition components and to choose them; the streaming engine does the same per
frame (:mod:`realtime_nmf.processors.separator`).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from .dictionary import Dictionary
from .nmf import solve_activations
from .stft import istft, stft

__all__ = ["decompose", "component_signals", "iter_component_signals"]


def decompose(dictionary: Dictionary, y: np.ndarray, *, n_iter: int = 300, tol: float = 1e-5, sparsity: float = 0.0):
    """STFT of a mono clip and its activations solved to convergence against the fixed templates.

    Parameters
    ----------
    dictionary : Dictionary
    y : np.ndarray [shape=(n_samples,)]
        Mono audio at the dictionary's rate.

    Returns
    -------
    S : np.ndarray [shape=(n_bins, n_frames), dtype=complex64]
    H : np.ndarray [shape=(n_components, n_frames), dtype=float32]
    """
    d = dictionary
    S = stft(np.asarray(y, dtype=np.float32), d.n_fft, d.hop_length, d.window)[:, :, 0]
    V = _modelled_spectrogram(S, d.power)
    H = solve_activations(V, d.W, beta=d.beta, n_iter=n_iter, tol=tol, sparsity=sparsity)
    return S, H


def _modelled_spectrogram(S: np.ndarray, power: float) -> np.ndarray:
    """``|S| ** power``: the spectrogram the templates model."""
    return np.abs(S) if power == 1 else np.abs(S) ** power


def iter_component_signals(dictionary: Dictionary, y: np.ndarray, *, H: np.ndarray | None = None, S: np.ndarray | None = None,
                           explained_only: bool = False, **solve) -> Iterator[np.ndarray]:
    """Yield each component's signal: the clip through the ratio mask ``W_k h_k / (W h)``.

    The signals of all components sum to the clip (up to the floor ``EPS`` in the mask's
    denominator), unless ``explained_only``.

    Parameters
    ----------
    explained_only : bool
        Give each component only the part of a bin that the model explains: the mask's
        denominator becomes ``max(W h, V)`` (``V`` the clip's spectrogram). Where the
        model falls short of the clip, the shortfall goes to no component, so the clip
        minus all components is what the dictionary does not explain. Where the model
        reaches the clip, the masks are the ratio masks above.

    Yields
    ------
    np.ndarray [shape=(n_samples,), dtype=float32]
        Component 0, 1, ... in dictionary order.
    """
    from . import defaults

    d = dictionary
    if S is None or H is None:
        S, H = decompose(d, y, **solve)
    model = d.W @ H + np.float32(defaults.EPS)
    if explained_only:
        np.maximum(model, _modelled_spectrogram(S, d.power), out=model)
    for k in range(d.n_components):
        mask = np.outer(d.W[:, k], H[k]) / model
        yield istft((S * mask)[:, :, None], d.n_fft, d.hop_length, d.window, length=len(y))[:, 0]


def component_signals(dictionary: Dictionary, y: np.ndarray, **solve) -> np.ndarray:
    """All component signals as one array ``(n_components, n_samples)`` (see :func:`iter_component_signals`)."""
    return np.stack(list(iter_component_signals(dictionary, y, **solve)))
