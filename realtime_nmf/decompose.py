"""Whole-clip decomposition with a fixed dictionary, solved to convergence: the one offline separation.

The streaming engine solves each frame's activations with a few warm-started updates
(:class:`realtime_nmf.processors.NMFSeparator`); here every frame of a whole clip is solved
to convergence (:func:`realtime_nmf.nmf.solve_activations`, at
:data:`realtime_nmf.defaults.CONVERGED_ITERATIONS` and
:data:`~realtime_nmf.defaults.CONVERGED_TOLERANCE`), the reference the streaming engine is
measured against. Everything that separates offline uses this module: audition (one signal
per component), choosing components by a reference, the benchmarks.

- :func:`decompose`: a mono clip's STFT and its converged activations;
- :func:`separate`: the kept components of a clip, through the separator's own
  :class:`~realtime_nmf.processors.Masker` (the same masks as live);
- :func:`iter_component_signals`, :func:`component_signals`: the clip split into one signal
  per component with the ratio mask ``W_k h_k / (W h + eps)``
  (:func:`realtime_nmf.processors.separator.ratio_mask`).
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from . import defaults
from .dictionary import Dictionary
from .nmf import solve_activations
from .processors.separator import Masker, ratio_mask
from .stft import istft, stft

__all__ = ["decompose", "separate", "component_signals", "iter_component_signals"]


def _modelled_spectrogram(S: np.ndarray, power: float) -> np.ndarray:
    """``|S| ** power``: the spectrogram the templates model."""
    return np.abs(S) if power == 1 else np.abs(S) ** power


def decompose(dictionary: Dictionary, y: np.ndarray, *, iterations: int = defaults.CONVERGED_ITERATIONS,
              tolerance: float = defaults.CONVERGED_TOLERANCE, sparsity: float = defaults.SPARSITY):
    """STFT of a mono clip and its activations solved to convergence against the fixed templates.

    Parameters
    ----------
    dictionary : Dictionary
    y : np.ndarray [shape=(n_samples,)]
        Mono audio at the dictionary's rate.
    iterations, tolerance, sparsity
        See :func:`realtime_nmf.nmf.solve_activations`.

    Returns
    -------
    S : np.ndarray [shape=(n_bins, n_frames), dtype=complex64]
    H : np.ndarray [shape=(n_components, n_frames), dtype=float32]
    """
    d = dictionary
    S = stft(np.asarray(y, dtype=np.float32), d.n_fft, d.hop_length, d.window)[:, :, 0]
    H = solve_activations(_modelled_spectrogram(S, d.power), d.W, beta=d.beta, iterations=iterations, tolerance=tolerance,
                          sparsity=sparsity)
    return S, H


def separate(dictionary: Dictionary, audio: np.ndarray, keep: Any = "all", *, mask: str = defaults.MASK,
             mask_exponent: float = defaults.MASK_EXPONENT, sparsity: float = defaults.SPARSITY,
             iterations: int = defaults.CONVERGED_ITERATIONS, tolerance: float = defaults.CONVERGED_TOLERANCE) -> np.ndarray:
    """The kept components of a clip, every frame solved to convergence (the streaming engine's quality reference).

    Parameters
    ----------
    dictionary : Dictionary
    audio : np.ndarray [shape=(n_samples,) or (n_samples, n_channels)]
        At the dictionary's rate; channels are separated independently.
    keep : str, int or list
        See :meth:`Dictionary.resolve_components`.
    mask, mask_exponent, sparsity
        As the separator's settings (:data:`realtime_nmf.processors.separator.SEPARATOR_PARAMETERS`).
    iterations, tolerance
        See :func:`realtime_nmf.nmf.solve_activations`.

    Returns
    -------
    np.ndarray [shape=audio.shape, dtype=float32]
        Time-aligned with ``audio``.
    """
    d = dictionary
    x = np.asarray(audio, dtype=np.float32)
    x2 = x[:, None] if x.ndim == 1 else x
    S = stft(x2, d.n_fft, d.hop_length, d.window)  # (n_bins, n_frames, n_channels)
    V = _modelled_spectrogram(S, d.power)
    H = np.empty((S.shape[1], S.shape[2], d.n_components), np.float32)  # frame, channel, component
    for c in range(S.shape[2]):
        H[:, c, :] = solve_activations(V[:, :, c], d.W, beta=d.beta, iterations=iterations, tolerance=tolerance, sparsity=sparsity).T
    Masker(d.W, d.resolve_components(keep), mask, mask_exponent, S.shape[2]).apply_frames(S, H)
    y = istft(S, d.n_fft, d.hop_length, d.window, length=x2.shape[0])
    return y[:, 0] if x.ndim == 1 else y


def iter_component_signals(dictionary: Dictionary, y: np.ndarray, *, H: np.ndarray | None = None, S: np.ndarray | None = None,
                           explained_only: bool = False, **solve) -> Iterator[np.ndarray]:
    """Yield each component's signal: the clip through the ratio mask ``W_k h_k / (W h + eps)``.

    The signals of all components sum to the clip (up to the ``eps`` in the mask's
    denominator), unless ``explained_only``.

    Parameters
    ----------
    dictionary : Dictionary
    y : np.ndarray [shape=(n_samples,)]
        Mono audio at the dictionary's rate.
    H, S : np.ndarray, optional
        A decomposition of ``y`` already made by :func:`decompose` (else it is made here,
        with ``**solve`` passed on).
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
    d = dictionary
    if S is None or H is None:
        S, H = decompose(d, y, **solve)
    model = d.W @ H
    if explained_only:
        np.maximum(model, _modelled_spectrogram(S, d.power), out=model)
    mask = np.empty_like(model)
    for k in range(d.n_components):
        target = np.outer(d.W[:, k], H[k])
        ratio_mask(target, np.subtract(model, target, out=mask), mask)  # W_k h_k / (model + eps)
        yield istft((S * mask)[:, :, None], d.n_fft, d.hop_length, d.window, length=len(y))[:, 0]


def component_signals(dictionary: Dictionary, y: np.ndarray, **solve) -> np.ndarray:
    """All component signals as one array ``(n_components, n_samples)`` (see :func:`iter_component_signals`)."""
    return np.stack(list(iter_component_signals(dictionary, y, **solve)))
