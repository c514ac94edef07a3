"""Offline H-only solves: the activations of every frame at once for a fixed dictionary."""

from __future__ import annotations

import numpy as np

from .. import defaults
from .divergence import validate_beta
from .updates import _workspace, update_h

__all__ = ["initial_activations", "solve_activations"]

EPS = defaults.EPS


def initial_activations(V: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Scale-matched flat start for ``H``: every component gets an equal share of each frame's energy.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_components)]

    Returns
    -------
    H : np.ndarray [shape=(n_components, n_frames)]
    """
    total_template = max(float(W.sum()), EPS)
    frame_energy = V.sum(axis=0, keepdims=True) / total_template
    H = np.repeat(frame_energy, W.shape[1], axis=0).astype(V.dtype)
    return np.maximum(H, EPS, out=H)


def solve_activations(
    V: np.ndarray,
    W: np.ndarray,
    *,
    beta: float = defaults.BETA,
    iterations: int = defaults.CONVERGED_ITERATIONS,
    tolerance: float = defaults.CONVERGED_TOLERANCE,
    sparsity: float = 0.0,
    H_init: np.ndarray | None = None,
    dtype=np.float32,
) -> np.ndarray:
    """Offline H-only solve: activations of every frame at once for a fixed dictionary.

    This is the batch counterpart of :class:`FrameSolver` ("H solved offline to
    convergence"); the frames are independent given ``W``, so solving them together or
    one at a time gives the same fixed points.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_components)]
    beta, sparsity : float
    iterations : int
        Maximum number of iterations.
    tolerance : float
        Stop when the relative L1 change of ``H`` in one iteration falls below ``tolerance``.
    H_init : np.ndarray [shape=(n_components, n_frames)], optional
        Start; by default :func:`initial_activations`.

    Returns
    -------
    H : np.ndarray [shape=(n_components, n_frames)]
    """
    V = np.ascontiguousarray(V, dtype=dtype)
    W = np.ascontiguousarray(W, dtype=dtype)
    beta = validate_beta(beta)
    H = initial_activations(V, W) if H_init is None else np.array(H_init, dtype=dtype, order="C")
    workspace = _workspace(V, None)
    previous = H.copy()
    for _ in range(int(iterations)):
        previous[...] = H
        update_h(V, W, H, beta, sparsity=sparsity, workspace=workspace)
        if tolerance > 0:
            change = float(np.abs(H - previous).sum(dtype=np.float64)) / max(float(previous.sum(dtype=np.float64)), EPS)
            if change < tolerance:
                break
    return H

