"""Multiplicative updates of whole matrices (training and offline solves), in place, block by block."""

from __future__ import annotations

import numpy as np

from .. import defaults
from .divergence import mu_exponent

__all__ = ["update_h", "update_w", "update_hw", "sweep_workspace", "BLOCK_FRAMES", "SWEEP_BLOCK_BYTES"]

EPS = defaults.EPS


def _ratio_terms(V, W, H, beta, eps, WH=None, tmp=None):
    """Fill ``tmp`` with ``V * WH**(beta-2)`` and ``WH`` with ``WH**(beta-1)`` (beta not 2); return both.

    ``WH = W @ H + eps``; for beta = 1 the offset is not needed (see below) and the second
    factor is all ones, so it is not computed: ``WH`` keeps the model. The workspaces are
    allocated when not given.
    """
    if WH is None:
        WH = np.empty(V.shape, dtype=V.dtype)
    if tmp is None:
        tmp = np.empty(V.shape, dtype=V.dtype)
    np.matmul(W, H, out=WH)
    if beta == 1:
        # W and H are floored at eps, so W @ H >= n_components * eps**2 > 0: no division
        # by zero, no denormal, and the offset (a full pass over the matrix) is skipped
        np.divide(V, WH, out=tmp)
        return WH, tmp
    np.add(WH, eps, out=WH)  # an offset, not np.maximum: the same guard at an eighth of the cost
    _power_terms(V, WH, tmp, beta)
    return WH, tmp


def _power_terms(V: np.ndarray, WH: np.ndarray, tmp: np.ndarray, beta: float) -> None:
    """``tmp <- V * WH**(beta-2)``, ``WH <- WH**(beta-1)`` for a model ``WH`` >= eps (beta not 1 or 2).

    Square roots and reciprocals replace ``np.power`` (several times slower) for the
    common beta = 0, 0.5 and 1.5.
    """
    if beta == 0:
        np.reciprocal(WH, out=WH)  # WH^-1
        np.multiply(WH, WH, out=tmp)
        np.multiply(tmp, V, out=tmp)  # V * WH^-2
    elif beta == 0.5:
        np.divide(V, WH, out=tmp)  # V * WH^-1
        np.sqrt(WH, out=WH)
        np.reciprocal(WH, out=WH)  # WH^-0.5
        np.multiply(tmp, WH, out=tmp)  # V * WH^-1.5
    elif beta == 1.5:
        np.sqrt(WH, out=WH)  # WH^0.5
        np.divide(V, WH, out=tmp)  # V * WH^-0.5
    else:
        np.power(WH, beta - 2.0, out=tmp)
        np.multiply(tmp, V, out=tmp)
        np.power(WH, beta - 1.0, out=WH)


#: Frames per column block in :func:`update_h` and :func:`update_w`: above this, the work
#: is done block by block, so the two workspaces never exceed ``n_bins x BLOCK_FRAMES``
#: each however long the audio.
BLOCK_FRAMES = 8192

#: Bytes of one column block of :func:`update_hw`: three such blocks (the data, the model
#: and the ratio) stay in a core's level-2 cache between the updates of H and of W.
SWEEP_BLOCK_BYTES = 1 << 19


def _workspace(V: np.ndarray, workspace):
    if workspace is None:
        shape = (V.shape[0], min(BLOCK_FRAMES, V.shape[1]))
        workspace = (np.empty(shape, dtype=V.dtype), np.empty(shape, dtype=V.dtype))
    return workspace


def sweep_workspace(V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two column-block workspaces of :func:`update_hw` for data like ``V``.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]

    Returns
    -------
    tuple of two np.ndarray [shape=(n_bins, block)]
        ``block`` is chosen so that one block takes about :data:`SWEEP_BLOCK_BYTES`.
    """
    n_bins, n_frames = V.shape
    block = max(16, SWEEP_BLOCK_BYTES // (V.dtype.itemsize * max(1, n_bins)))
    shape = (n_bins, min(block, max(1, n_frames)))
    return np.empty(shape, dtype=V.dtype), np.empty(shape, dtype=V.dtype)


def update_h(
    V: np.ndarray,
    W: np.ndarray,
    H: np.ndarray,
    beta: float,
    *,
    sparsity: float = 0.0,
    eps: float = EPS,
    workspace: tuple | None = None,
) -> np.ndarray:
    """One multiplicative update of ``H`` for a fixed ``W``, in place.

    ``H <- H * ((W.T @ (V * WH**(beta-2))) / (W.T @ WH**(beta-1) + sparsity)) ** gamma(beta)``
    with ``WH = W @ H + eps``; the result is floored at ``eps``. The columns are
    independent, so they are updated in blocks of :data:`BLOCK_FRAMES`.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_components)]
    H : np.ndarray [shape=(n_components, n_frames)]
        Updated in place.
    beta : float >= 0
    sparsity : float >= 0
        Weight of the L1 penalty on ``H``.
    eps : float
    workspace : tuple of two np.ndarray [shape=(n_bins, block)], optional
        Preallocated block workspaces of ``V``'s dtype (not used for beta = 2).

    Returns
    -------
    H : np.ndarray
    """
    gamma = mu_exponent(beta)
    if beta == 2:
        num = W.T @ V
        den = (W.T @ W) @ H
        if sparsity:
            den += sparsity
        return _multiplicative_step(H, num, den, gamma, eps)
    WH, tmp = _workspace(V, workspace)
    block = WH.shape[1]
    colsum = W.sum(axis=0)[:, None] + sparsity if beta == 1 else None
    for start in range(0, V.shape[1], block):
        stop = min(V.shape[1], start + block)
        n = stop - start
        H_block = H[:, start:stop]
        WH_block, tmp_block = _ratio_terms(V[:, start:stop], W, H_block, beta, eps, WH[:, :n], tmp[:, :n])
        num = W.T @ tmp_block
        if beta == 1:
            den = colsum
        else:
            den = W.T @ WH_block
            if sparsity:
                den += sparsity
        _multiplicative_step(H_block, num, den, gamma, eps)
    return H


def update_w(
    V: np.ndarray,
    W: np.ndarray,
    H: np.ndarray,
    beta: float,
    *,
    eps: float = EPS,
    workspace: tuple | None = None,
) -> np.ndarray:
    """One multiplicative update of ``W`` for a fixed ``H``, in place (the transpose of :func:`update_h`).

    The sums over frames are accumulated block by block (:data:`BLOCK_FRAMES` columns).

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_components)]
        Updated in place.
    H : np.ndarray [shape=(n_components, n_frames)]
    beta : float >= 0
    eps : float
    workspace : tuple of two np.ndarray [shape=(n_bins, block)], optional

    Returns
    -------
    W : np.ndarray
    """
    gamma = mu_exponent(beta)
    if beta == 2:
        num = V @ H.T
        den = W @ (H @ H.T)
        return _multiplicative_step(W, num, den, gamma, eps)
    WH, tmp = _workspace(V, workspace)
    block = WH.shape[1]
    num = np.zeros(W.shape, dtype=W.dtype)
    den = np.zeros(W.shape, dtype=W.dtype) if beta != 1 else np.broadcast_to(H.sum(axis=1)[None, :], W.shape).copy()
    for start in range(0, V.shape[1], block):
        stop = min(V.shape[1], start + block)
        n = stop - start
        H_block = H[:, start:stop]
        WH_block, tmp_block = _ratio_terms(V[:, start:stop], W, H_block, beta, eps, WH[:, :n], tmp[:, :n])
        num += tmp_block @ H_block.T
        if beta != 1:
            den += WH_block @ H_block.T
    return _multiplicative_step(W, num, den, gamma, eps)


def update_hw(
    V: np.ndarray,
    W: np.ndarray,
    H: np.ndarray,
    beta: float,
    *,
    sparsity: float = 0.0,
    eps: float = EPS,
    workspace: tuple | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One training iteration, in place: :func:`update_h`, then :func:`update_w`, in one sweep.

    The result equals ``update_h`` followed by ``update_w`` (up to rounding), but the work
    is done one block of columns at a time, small enough to stay in the processor's cache:
    for each block, the model and ratios of the H update, the new activations, then the
    model and ratios of the W update with those activations, accumulated into W's
    numerator and denominator. ``W`` changes only after the sweep, so each block sees the
    same ``W``, and the data is read once per iteration instead of twice. This is what
    :func:`fit` runs; beta = 2 uses the Gram-matrix updates instead (no ratios to keep).

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_components)]
        Updated in place.
    H : np.ndarray [shape=(n_components, n_frames)]
        Updated in place.
    beta : float >= 0
    sparsity : float >= 0
        Weight of the L1 penalty on ``H``.
    eps : float
    workspace : tuple of two np.ndarray [shape=(n_bins, block)], optional
        From :func:`sweep_workspace`.

    Returns
    -------
    W, H : np.ndarray
    """
    if beta == 2:
        update_h(V, W, H, beta, sparsity=sparsity, eps=eps)
        return update_w(V, W, H, beta, eps=eps), H
    gamma = mu_exponent(beta)
    ratio, model = workspace if workspace is not None else sweep_workspace(V)
    block = ratio.shape[1]
    Wt = np.ascontiguousarray(W.T)
    num_w = np.zeros(W.shape, dtype=W.dtype)
    den_w = np.zeros(W.shape, dtype=W.dtype) if beta != 1 else None
    product = np.empty(W.shape, dtype=W.dtype)
    den_h = np.maximum(W.sum(axis=0)[:, None] + sparsity, eps) if beta == 1 else None
    for start in range(0, V.shape[1], block):
        stop = min(V.shape[1], start + block)
        n = stop - start
        V_block, H_block = V[:, start:stop], H[:, start:stop]
        ratio_block, model_block = ratio[:, :n], model[:, :n]
        # H: ratio <- V * WH**(beta-2), model <- WH**(beta-1), with the old H
        _ratio_terms(V_block, W, H_block, beta, eps, model_block, ratio_block)
        num = Wt @ ratio_block
        if beta == 1:
            den = den_h
        else:
            den = Wt @ model_block
            if sparsity:
                den += sparsity
        _multiplicative_step(H_block, num, den, gamma, eps)
        # W: the same terms with the new H of this block, summed over the blocks
        _ratio_terms(V_block, W, H_block, beta, eps, model_block, ratio_block)
        H_block_t = H_block.T
        num_w += np.matmul(ratio_block, H_block_t, out=product)
        if beta != 1:
            den_w += np.matmul(model_block, H_block_t, out=product)
    if beta == 1:
        den_w = H.sum(axis=1)[None, :]
    _multiplicative_step(W, num_w, den_w, gamma, eps)
    return W, H


def _multiplicative_step(X: np.ndarray, num: np.ndarray, den: np.ndarray, gamma: float, eps: float) -> np.ndarray:
    """``X <- max(X * (num / max(den, eps)) ** gamma, eps)`` in place (``num`` is overwritten)."""
    den = np.maximum(den, eps)
    np.divide(num, den, out=num)
    if gamma != 1.0:
        np.power(num, gamma, out=num)
    X *= num
    np.maximum(X, eps, out=X)
    return X

