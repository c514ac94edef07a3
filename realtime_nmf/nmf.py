"""Beta-divergence NMF: the divergence, multiplicative updates, training and H-only solves.

Orientation
-----------
realtime_nmf uses the audio orientation everywhere::

    V (n_bins, n_frames)  ~=  W (n_bins, n_components)  @  H (n_components, n_frames)

The columns of ``W`` are spectral templates, the rows of ``H`` their activations over
time. scikit-learn's :class:`sklearn.decomposition.NMF` uses the transpose (its ``W`` is
our ``H.T`` and its ``components_`` is our ``W.T``).

Updates
-------
The multiplicative updates are the majorisation-minimisation updates of Fevotte and
Idier (2011): the heuristic ratio raised to the exponent :func:`mu_exponent`, which makes
the divergence non-increasing for every ``beta >= 0``. An optional L1 penalty
``sparsity * sum(H)`` is added to the denominator of the H update. One epsilon,
:data:`realtime_nmf.defaults.EPS`, guards against division by zero and keeps values out
of the denormal range: every denominator, every entry of ``W`` and ``H`` is floored at it,
and it is added to the model ``W @ H`` for every beta but 2, which needs no ratio (the
updates raise the model to the power ``beta - 2``). Training skips it for beta = 1, where
the floors on ``W`` and ``H`` already keep ``W @ H > 0``; :class:`FrameSolver` keeps it,
since a dictionary read from disk may hold a frequency row of zeros.
Adding it rather than taking a maximum costs an eighth as much and changes the model by
at most ``EPS``.

References
----------
C. Fevotte and J. Idier, "Algorithms for nonnegative matrix factorization with the
beta-divergence", Neural Computation 23(9), 2011.
C. Boutsidis and E. Gallopoulos, "SVD based initialization: a head start for
nonnegative matrix factorization", Pattern Recognition 41(4), 2008.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import defaults, kernels
from .errors import ParameterError

__all__ = [
    "mu_exponent",
    "beta_divergence",
    "update_h",
    "update_w",
    "update_hw",
    "sweep_workspace",
    "initialize",
    "fit",
    "NMFResult",
    "solve_activations",
    "FrameSolver",
    "frame_exponent",
    "validate_beta",
]

EPS = defaults.EPS

# --------------------------------------------------------------------------------------
# validation


def validate_beta(beta: float) -> float:
    """Return ``beta`` as a float, or raise :class:`ParameterError` if it is not >= 0."""
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ParameterError(f"beta={beta!r} must be a number >= 0 (2 = Euclidean, 1 = Kullback-Leibler, 0 = Itakura-Saito)") from None
    if not np.isfinite(beta) or beta < 0:
        raise ParameterError(f"beta={beta!r} must be a number >= 0 (2 = Euclidean, 1 = Kullback-Leibler, 0 = Itakura-Saito)")
    return beta


def _check_nonnegative_finite(name: str, X: np.ndarray) -> None:
    if X.size and not np.isfinite(X).all():
        raise ParameterError(f"{name} is not finite everywhere (NaN or Inf values); clean the input first")
    if X.size and X.min() < 0:
        raise ParameterError(f"{name} has negative entries; NMF needs a non-negative matrix such as a magnitude spectrogram")


# --------------------------------------------------------------------------------------
# divergence


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


# --------------------------------------------------------------------------------------
# multiplicative updates (whole matrices, used for training and offline solves)


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


def _normalize_columns(W: np.ndarray, H: np.ndarray, rescale_h: bool = True) -> None:
    """Scale every column of W to unit L2 norm; with ``rescale_h`` scale H the other way (WH unchanged).

    With an L1 penalty on H, H is not rescaled: otherwise the W update would undo the
    penalty's shrinkage through the scale freedom between W and H, and the penalty would
    have no effect (the usual heuristic for sparse NMF with normalised templates).
    """
    norms = np.sqrt(np.einsum("fk,fk->k", W, W, dtype=np.float64)).astype(W.dtype)
    norms = np.maximum(norms, EPS)
    W /= norms
    if rescale_h:
        H *= norms[:, None]


# --------------------------------------------------------------------------------------
# initialisation


def _randomized_svd(V: np.ndarray, k: int, rng: np.random.Generator, n_oversamples: int = 10):
    """Truncated SVD by randomised range finding (Halko, Martinsson and Tropp 2011), seeded."""
    n_rows, n_cols = V.shape
    n_random = min(k + n_oversamples, min(n_rows, n_cols))
    n_iter = 7 if k < 0.1 * min(n_rows, n_cols) else 4
    Q = rng.standard_normal((n_cols, n_random)).astype(V.dtype)
    Q = V @ Q
    for _ in range(n_iter):
        Q, _ = np.linalg.qr(Q)
        Q = V @ (V.T @ Q)
    Q, _ = np.linalg.qr(Q)
    B = Q.T @ V
    Uh, S, Vt = np.linalg.svd(B, full_matrices=False)
    U = Q @ Uh
    return U[:, :k], S[:k], Vt[:k]


def initialize(V: np.ndarray, n_components: int, *, init: str = defaults.INIT, seed: int | None = defaults.SEED):
    """Initial ``W`` and ``H`` for :func:`fit`.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], non-negative
    n_components : int
    init : {"nndsvda", "random"}
        ``"nndsvda"``: non-negative double SVD (Boutsidis and Gallopoulos 2008) with zeros
        filled by the mean of ``V``, as scikit-learn's ``init="nndsvda"``. ``"random"``:
        ``|N(0, 1)| * sqrt(mean(V) / n_components)`` from a generator seeded by ``seed``.
    seed : int or None

    Returns
    -------
    W : np.ndarray [shape=(n_bins, n_components)]
    H : np.ndarray [shape=(n_components, n_frames)]
    """
    rng = np.random.default_rng(seed)
    n_bins, n_frames = V.shape
    avg = float(V.mean())
    if init == "random":
        scale = np.sqrt(max(avg, EPS) / n_components)
        W = np.abs(rng.standard_normal((n_bins, n_components))) * scale
        H = np.abs(rng.standard_normal((n_components, n_frames))) * scale
        return W.astype(V.dtype), H.astype(V.dtype)
    if init != "nndsvda":
        raise ParameterError(f"init={init!r} is not known; use 'nndsvda' or 'random'")
    U, S, Vt = _randomized_svd(V, n_components, rng)
    W = np.zeros((n_bins, n_components), dtype=np.float64)
    H = np.zeros((n_components, n_frames), dtype=np.float64)
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    H[0, :] = np.sqrt(S[0]) * np.abs(Vt[0, :])
    for j in range(1, n_components):
        x, y = U[:, j], Vt[j, :]
        x_p, y_p = np.maximum(x, 0), np.maximum(y, 0)
        x_n, y_n = np.maximum(-x, 0), np.maximum(-y, 0)
        x_p_norm, y_p_norm = np.linalg.norm(x_p), np.linalg.norm(y_p)
        x_n_norm, y_n_norm = np.linalg.norm(x_n), np.linalg.norm(y_n)
        m_p, m_n = x_p_norm * y_p_norm, x_n_norm * y_n_norm
        if m_p > m_n:
            u, v, sigma = x_p / max(x_p_norm, EPS), y_p / max(y_p_norm, EPS), m_p
        else:
            u, v, sigma = x_n / max(x_n_norm, EPS), y_n / max(y_n_norm, EPS), m_n
        lbd = np.sqrt(S[j] * sigma)
        W[:, j] = lbd * u
        H[j, :] = lbd * v
    W[W < EPS] = avg
    H[H < EPS] = avg
    return W.astype(V.dtype), H.astype(V.dtype)


# --------------------------------------------------------------------------------------
# training


@dataclass
class NMFResult:
    """Outcome of :func:`fit`.

    Attributes
    ----------
    W : np.ndarray [shape=(n_bins, n_components)]
        Templates, each column with unit L2 norm.
    H : np.ndarray [shape=(n_components, n_frames)]
        Activations.
    divergence : float
        Final beta divergence ``D(V | W @ H)`` (plus the L1 penalty when ``sparsity > 0``).
    n_iter : int
        Iterations run.
    converged : bool
        Whether the relative tolerance stopped the iterations before ``n_iter``.
    history : list of (int, float)
        ``(iteration, divergence)`` at every check.
    """

    W: np.ndarray
    H: np.ndarray
    divergence: float
    n_iter: int
    converged: bool
    history: list = field(default_factory=list)


class _Objective:
    """``D_beta(V | W @ H)`` (plus the L1 penalty) for one ``V`` and changing ``W``, ``H``.

    The terms that depend on ``V`` alone (``sum V log V``, ``sum log V``, ``sum V**beta``)
    are summed once; each evaluation then costs one matrix product and four to six
    element-wise passes per column block instead of the eight to twelve of
    :func:`beta_divergence`, which matters because training evaluates it every
    ``check_every`` iterations. The value equals ``beta_divergence(V, W @ H, beta)`` (the
    model floored at ``eps`` the same way) up to rounding.
    """

    def __init__(self, V: np.ndarray, beta: float, workspace: tuple, eps: float = EPS):
        self.V, self.beta, self.eps = V, beta, eps
        self.model, self.scratch = workspace
        self.floor_data = beta == 0 and float(V.min(initial=0.0)) < eps  # IS floors V at eps
        total = 0.0
        for start in range(0, V.shape[1], self.model.shape[1]):
            block = V[:, start : start + self.model.shape[1]]
            if beta == 1:  # sum x log x - x, with 0 log 0 = 0
                logs = np.log(np.maximum(block, np.finfo(V.dtype).tiny))
                total += float(np.sum(block * logs, dtype=np.float64)) - float(np.sum(block, dtype=np.float64))
            elif beta == 0:  # -sum log x - 1
                total -= float(np.sum(np.log(np.maximum(block, eps)), dtype=np.float64)) + block.size
            elif beta != 2:  # sum x**beta / (beta (beta - 1))
                total += float(np.sum(block**beta, dtype=np.float64)) / (beta * (beta - 1.0))
        self.constant = total

    def __call__(self, W: np.ndarray, H: np.ndarray, sparsity: float = 0.0) -> float:
        V, beta, eps = self.V, self.beta, self.eps
        if beta == 2:
            # 0.5 * ||V - WH||^2 through K x K products: no n_bins x n_frames temporary
            W64, H64 = W.astype(np.float64), H.astype(np.float64)
            VHt = (V @ H.T).astype(np.float64)
            value = 0.5 * (float(np.sum(V.astype(np.float64) ** 2)) - 2.0 * float(np.sum(W64 * VHt)) + float(np.sum((W64.T @ W64) * (H64 @ H64.T))))
            value = max(value, 0.0)
        else:
            value = self.constant
            block_width = self.model.shape[1]
            for start in range(0, V.shape[1], block_width):
                stop = min(V.shape[1], start + block_width)
                n = stop - start
                data, model, scratch = V[:, start:stop], self.model[:, :n], self.scratch[:, :n]
                np.matmul(W, H[:, start:stop], out=model)
                np.maximum(model, eps, out=model)  # y, floored as beta_divergence does
                if beta == 1:  # sum y - sum x log y
                    value += float(np.sum(model, dtype=np.float64))
                    np.log(model, out=model)
                    np.multiply(model, data, out=model)
                    value -= float(np.sum(model, dtype=np.float64))
                elif beta == 0:  # sum x / y + sum log y
                    if self.floor_data:
                        np.maximum(data, eps, out=scratch)
                        data = scratch
                    np.divide(data, model, out=scratch)
                    value += float(np.sum(scratch, dtype=np.float64))
                    np.log(model, out=model)
                    value += float(np.sum(model, dtype=np.float64))
                else:  # ((beta - 1) sum y**beta - beta sum x y**(beta - 1)) / (beta (beta - 1))
                    if beta == 0.5:
                        np.sqrt(model, out=scratch)  # y**0.5
                        np.divide(data, scratch, out=model)  # x y**-0.5
                    else:
                        np.power(model, beta, out=scratch)
                        np.divide(scratch, model, out=model)  # y**(beta - 1)
                        np.multiply(model, data, out=model)
                    power_sum = float(np.sum(scratch, dtype=np.float64))
                    cross_sum = float(np.sum(model, dtype=np.float64))
                    value += ((beta - 1.0) * power_sum - beta * cross_sum) / (beta * (beta - 1.0))
        if sparsity:
            value += sparsity * float(H.sum(dtype=np.float64))
        return value


def fit(
    V: np.ndarray,
    n_components: int = defaults.N_COMPONENTS,
    *,
    beta: float = defaults.BETA,
    n_iter: int = defaults.TRAIN_ITERATIONS,
    tol: float = defaults.TRAIN_TOLERANCE,
    init: str = defaults.INIT,
    seed: int | None = defaults.SEED,
    sparsity: float = defaults.SPARSITY,
    W_init: np.ndarray | None = None,
    H_init: np.ndarray | None = None,
    fixed_components: Sequence[int] = (),
    check_every: int = 10,
    callback: Callable[[int, float], None] | None = None,
    dtype=np.float32,
) -> NMFResult:
    """Learn ``W`` and ``H`` with ``V ~= W @ H`` by beta-divergence multiplicative updates.

    Each iteration updates ``H``, then ``W``, then rescales every column of ``W`` to unit
    L2 norm (``H`` rescaled the other way, so ``W @ H`` does not change). Without sparsity
    the divergence never increases. With sparsity, ``H`` is not rescaled (so the penalty
    is not undone by the scale freedom between ``W`` and ``H``) and the objective is only
    heuristically decreased.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], non-negative and finite
    n_components : int > 0
    beta : float >= 0
    n_iter : int > 0
        Maximum number of iterations.
    tol : float >= 0
        Stop when the divergence decreased by less than ``tol`` times its current value
        over the last ``check_every`` iterations; 0 runs all ``n_iter``.
    init : {"nndsvda", "random"}
        See :func:`initialize`; ignored where ``W_init``/``H_init`` are given.
    seed : int or None
    sparsity : float >= 0
        L1 penalty on ``H``.
    W_init : np.ndarray [shape=(n_bins, n_components)], optional
    H_init : np.ndarray [shape=(n_components, n_frames)], optional
    fixed_components : sequence of int
        Columns of ``W`` that are not updated (semi-supervised learning with templates
        given in ``W_init``).
    check_every : int
        Iterations between divergence checks (progress, tolerance, history).
    callback : callable(iteration, divergence), optional
        Called at every check, e.g. for a progress bar.
    dtype : numpy dtype
        float32 (default, faster) or float64.

    Returns
    -------
    NMFResult
    """
    V = np.ascontiguousarray(V, dtype=dtype)
    if V.ndim != 2:
        raise ParameterError(f"V must be a 2-D array (n_bins, n_frames), got shape {V.shape}")
    _check_nonnegative_finite("V", V)
    beta = validate_beta(beta)
    n_bins, n_frames = V.shape
    n_components = int(n_components)
    if n_components < 1:
        raise ParameterError(f"n_components={n_components} must be at least 1")
    if n_frames < n_components and init == "nndsvda" and (W_init is None or H_init is None):
        raise ParameterError(
            f"the training audio gives {n_frames} frames, fewer than components={n_components}; use a longer clip or fewer components"
        )
    if int(n_iter) < 1:
        raise ParameterError(f"n_iter={n_iter} must be at least 1")
    if tol < 0 or sparsity < 0:
        raise ParameterError(f"tol={tol} and sparsity={sparsity} must be >= 0")
    if float(V.max(initial=0.0)) <= 0:
        raise ParameterError("the spectrogram is all zeros: there is nothing to learn (is the audio silent?)")

    W0, H0 = initialize(V, n_components, init=init, seed=seed) if (W_init is None or H_init is None) else (None, None)
    W = np.array(W_init if W_init is not None else W0, dtype=dtype, order="C")
    H = np.array(H_init if H_init is not None else H0, dtype=dtype, order="C")
    if W.shape != (n_bins, n_components) or H.shape != (n_components, n_frames):
        raise ParameterError(f"W_init must have shape {(n_bins, n_components)} and H_init {(n_components, n_frames)}; got {W.shape} and {H.shape}")
    np.maximum(W, EPS, out=W)
    np.maximum(H, EPS, out=H)
    fixed = np.array(sorted(set(int(k) for k in fixed_components)), dtype=int)
    if fixed.size and (fixed.min() < 0 or fixed.max() >= n_components):
        raise ParameterError(f"fixed_components must be indices in 0..{n_components - 1}")
    _normalize_columns(W, H)
    W_fixed = W[:, fixed].copy()

    workspace = sweep_workspace(V)
    objective = _Objective(V, beta, workspace)
    initial = objective(W, H, sparsity)
    history = [(0, initial)]
    previous = initial
    converged = False
    it = 0
    for it in range(1, int(n_iter) + 1):
        update_hw(V, W, H, beta, sparsity=sparsity, workspace=workspace)
        if fixed.size:
            W[:, fixed] = W_fixed
        _normalize_columns(W, H, rescale_h=not sparsity)
        if it % check_every == 0 or it == n_iter:
            value = objective(W, H, sparsity)
            history.append((it, value))
            if callback is not None:
                callback(it, value)
            if tol > 0 and (previous - value) < tol * max(value, EPS):
                converged = True
                break
            previous = value
    final = history[-1][1]
    return NMFResult(W=W, H=H, divergence=final, n_iter=it, converged=converged, history=history)


# --------------------------------------------------------------------------------------
# H-only solves against a fixed dictionary


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
    n_iter: int = 200,
    tol: float = 1e-6,
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
    n_iter : int
        Maximum number of iterations.
    tol : float
        Stop when the relative L1 change of ``H`` in one iteration falls below ``tol``.
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
    for _ in range(int(n_iter)):
        previous[...] = H
        update_h(V, W, H, beta, sparsity=sparsity, workspace=workspace)
        if tol > 0:
            change = float(np.abs(H - previous).sum(dtype=np.float64)) / max(float(previous.sum(dtype=np.float64)), EPS)
            if change < tol:
                break
    return H


def _compiled_kernels(compiled: bool | None):
    """The compiled kernels when wanted and available; True without numba is an error."""
    if compiled is False:
        return None
    loaded = kernels.load()
    if loaded is None and compiled:
        raise ParameterError("compiled=True needs numba (pip install numba) and RTNMF_NO_NUMBA unset")
    return loaded


class FrameSolver:
    """H-only solver for a fixed dictionary, frame by frame: preallocated, in place, warm-started.

    The streaming engine calls :meth:`solve` with a batch of frames: one frame of one
    channel per *row*, ``V (n_rows, n_bins)`` and ``H (n_rows, n_components)``. This is
    the transpose of the package's ``V (n_bins, n_frames)`` orientation, chosen so that a
    batch of any size is a contiguous slice of preallocated buffers; rows are solved
    independently. Nothing is allocated after construction.

    Parameters
    ----------
    W : np.ndarray [shape=(n_bins, n_components)]
        Fixed dictionary.
    beta : float >= 0
    n_iter : int >= 0
        Maximum number of multiplicative updates per frame.
    tol : float >= 0
        A row stops being updated once the relative L1 change of its activations in one
        update is at most ``tol``; the solve ends when every row has stopped (0 always
        runs ``n_iter`` updates). Every row therefore gets exactly the updates it would
        get if solved alone.
    sparsity : float >= 0
        L1 penalty on the activations.
    max_rows : int
        Largest batch.
    compiled : bool, optional
        Use the compiled kernels of :mod:`realtime_nmf.kernels` (numba) for every batch
        size: by default when numba is available; False runs the numpy path (the same
        arithmetic, a dozen numpy calls per update: fast for batches, slow for single
        frames).
    """

    def __init__(self, W: np.ndarray, *, beta: float, n_iter: int, tol: float = 0.0, sparsity: float = 0.0, max_rows: int = 1,
                 compiled: bool | None = None):
        self.W = np.ascontiguousarray(W, dtype=np.float32)
        self.Wt = np.ascontiguousarray(self.W.T)
        self.beta = validate_beta(beta)
        self.gamma = np.float32(frame_exponent(self.beta))
        self.n_iter = int(n_iter)
        self.tol = float(tol)
        self.sparsity = np.float32(sparsity)
        n_bins, n_components = self.W.shape
        self.max_rows = int(max_rows)
        self.eps = np.float32(EPS)
        # W.T @ 1 + sparsity: the constant KL denominator
        self._colsum = (self.W.sum(axis=0) + self.sparsity).astype(np.float32)[None, :]
        np.maximum(self._colsum, self.eps, out=self._colsum)
        self._w_total = np.float32(max(float(self.W.sum()), EPS))
        self._colsum_raw = self.W.sum(axis=0).astype(np.float32)[:, None]  # sum over bins of each template
        self._gram = (self.Wt @ self.W).astype(np.float32) if self.beta == 2 else None
        rows = self.max_rows
        # the model rows then the ratio rows of a batch of n, and their products with W,
        # sit next to each other, so that one matrix product serves both (beta not 1 or 2)
        self._model_ratio = np.empty((2 * rows, n_bins), np.float32)
        self._den_num = np.empty((2 * rows, n_components), np.float32)
        self._vw = np.empty((rows, n_components), np.float32)
        self._change = np.empty((rows, n_components), np.float32)
        self._row_change = np.empty((rows, 1), np.float32)
        self._row_total = np.empty((rows, 1), np.float32)
        self._converged = np.zeros((rows, 1), bool)
        self._done = np.zeros((rows, 1), bool)
        self._tol = np.float32(self.tol)
        self._kernels = _compiled_kernels(compiled)
        # batches up to this many rows go to the kernels (larger ones run faster through BLAS)
        self._kernel_rows = kernels.MAX_CELLS // (n_bins * n_components) if self._kernels is not None else -1
        if self._kernels is not None:
            self._k_colsum = np.ascontiguousarray(self._colsum[0])
            self._k_colsum_raw = np.ascontiguousarray(self._colsum_raw[:, 0])
            self._k_gram = self._gram if self._gram is not None else np.zeros((1, 1), np.float32)
            self._k_work = [np.empty(n_bins, np.float32) for _ in range(3)] + [np.empty(n_components, np.float32)]
            self._k_scalars = tuple(np.float32(x) for x in (self.beta, self.gamma, self.sparsity, self.tol, self.eps))
            # compile (or load from numba's cache) now, never in the audio thread
            empty_v, empty_h = np.zeros((0, n_bins), np.float32), np.zeros((0, n_components), np.float32)
            self.begin(np.zeros((0, n_bins), np.complex64), empty_v, empty_h, power=1.0, warm=True, flat_share=0.2)
            self.begin(np.zeros((0, n_bins), np.complex64), empty_v, empty_h, power=1.0, warm=False, flat_share=0.2)
            self.solve(empty_v, empty_h)

    @property
    def compiled(self) -> bool:
        """True when the compiled kernels run the updates."""
        return self._kernels is not None

    def begin(self, spectra: np.ndarray, v: np.ndarray, h: np.ndarray, *, power: float, warm: bool, flat_share: float) -> None:
        """Magnitudes of ``spectra`` into ``v``, then the start of every row in ``h``: :meth:`warm_start` or :meth:`start`.

        Parameters
        ----------
        spectra : np.ndarray [shape=(n_rows, n_bins), dtype=complex64]
        v : np.ndarray [shape=(n_rows, n_bins)], written with ``|spectra| ** power``
        h : np.ndarray [shape=(n_rows, n_components)]
            Earlier activations in (``warm``), the start out.
        power : float
        warm : bool
        flat_share : float in [0, 1]
        """
        if v.shape[0] <= self._kernel_rows:
            self._kernels.frame_start(spectra, np.float32(power), v, h, bool(warm), np.float32(flat_share), self._k_colsum_raw,
                                      self._w_total, self.eps)
            return
        np.abs(spectra, out=v)
        if power != 1.0:
            np.power(v, np.float32(power), out=v)
        if warm:
            self.warm_start(v, h, flat_share)
        else:
            self.start(v, h)

    def start(self, v: np.ndarray, h: np.ndarray) -> None:
        """Cold start: give every component an equal share of each row's energy.

        Parameters
        ----------
        v : np.ndarray [shape=(n_rows, n_bins)]
        h : np.ndarray [shape=(n_rows, n_components)], written
        """
        total = self._row_total[: v.shape[0]]
        np.sum(v, axis=1, keepdims=True, out=total)
        np.divide(total, self._w_total, out=total)
        h[...] = total
        np.maximum(h, self.eps, out=h)

    def warm_start(self, v: np.ndarray, h: np.ndarray, flat_share: float) -> None:
        """Turn earlier activations in ``h`` into the start for the frames ``v``, in place.

        The earlier activations are rescaled to the new frame's energy and blended with
        the flat start of :meth:`start`: ``h <- (1 - a) s h + a flat`` with
        ``s = sum(v) / sum(W h)`` and ``a = flat_share``. Multiplicative updates cannot
        revive an activation that has decayed to the floor except slowly, so a little of
        the flat start lets a component that was silent in the earlier frame come back
        within a few updates (``a = 0`` is the plain warm start, ``a = 1`` a cold start).

        Parameters
        ----------
        v : np.ndarray [shape=(n_rows, n_bins)]
        h : np.ndarray [shape=(n_rows, n_components)]
            Earlier activations in, start out.
        flat_share : float in [0, 1]
        """
        n = v.shape[0]
        energy, model = self._row_total[:n], self._row_change[:n]
        np.sum(v, axis=1, keepdims=True, out=energy)
        np.matmul(h, self._colsum_raw, out=model)
        np.maximum(model, self.eps, out=model)
        np.divide(energy, model, out=model)
        np.multiply(model, np.float32(1.0 - flat_share), out=model)
        np.multiply(h, model, out=h)
        np.multiply(energy, np.float32(flat_share) / self._w_total, out=energy)
        np.add(h, energy, out=h)
        np.maximum(h, self.eps, out=h)

    def solve(self, v: np.ndarray, h: np.ndarray) -> int:
        """Improve ``h`` in place for the frames ``v``; return the number of updates run.

        Parameters
        ----------
        v : np.ndarray [shape=(n_rows, n_bins)], float32
            Magnitude (or power) spectra, one frame of one channel per row.
        h : np.ndarray [shape=(n_rows, n_components)], float32
            Start (warm: an earlier frame's result), overwritten with the result.

        Returns
        -------
        int
            Updates run (the largest over the rows).
        """
        if v.shape[0] <= self._kernel_rows:
            beta, gamma, sparsity, tol, eps = self._k_scalars
            return self._kernels.frame_solve(v, h, self.Wt, self.W, self._k_gram, self._k_colsum, self.n_iter, beta, gamma, sparsity,
                                             tol, eps, *self._k_work)
        n = v.shape[0]
        W, Wt = self.W, self.Wt
        model_ratio, den_num = self._model_ratio[: 2 * n], self._den_num[: 2 * n]
        wh, tmp, den, num = model_ratio[:n], model_ratio[n:], den_num[:n], den_num[n:]
        change, done = self._change[:n], self._done[:n]
        beta, eps = self.beta, self.eps
        single = n == 1
        done.fill(False)
        if beta == 2:
            np.matmul(v, W, out=self._vw[:n])
        for it in range(self.n_iter):
            if beta == 2:
                np.matmul(h, self._gram, out=den)
                if self.sparsity:
                    den += self.sparsity
                np.maximum(den, eps, out=den)
                np.divide(self._vw[:n], den, out=num)
            else:
                np.matmul(h, Wt, out=wh)
                np.add(wh, eps, out=wh)
                if beta == 1:
                    np.divide(v, wh, out=tmp)
                    np.matmul(tmp, W, out=num)
                    np.divide(num, self._colsum, out=num)
                else:
                    _power_terms(v, wh, tmp, beta)
                    np.matmul(model_ratio, W, out=den_num)  # den <- wh @ W, num <- tmp @ W
                    if self.sparsity:
                        den += self.sparsity
                    np.maximum(den, eps, out=den)
                    np.divide(num, den, out=num)
                if self.gamma != 1:
                    np.power(num, self.gamma, out=num)
            if self.tol > 0:
                # relative L1 change of each row: sum(|num - 1| * h) / sum(h)
                np.subtract(num, np.float32(1.0), out=change)
                np.abs(change, out=change)
                if single:
                    converged = float(np.vdot(change, h)) <= self.tol * float(h.sum())
                else:
                    # rows that converged earlier stay as they are, so every row gets
                    # exactly the updates it would get alone
                    np.copyto(num, np.float32(1.0), where=done)
                    np.copyto(change, np.float32(0.0), where=done)
                    row_change, row_total = self._row_change[:n], self._row_total[:n]
                    np.einsum("rk,rk->r", change, h, out=row_change[:, 0])
                    np.add.reduce(h, axis=1, out=row_total[:, 0])
                    np.multiply(row_total, self._tol, out=row_total)
                    np.less_equal(row_change, row_total, out=self._converged[:n])
                    np.logical_or(done, self._converged[:n], out=done)
                    converged = bool(done.all())
            np.multiply(h, num, out=h)
            np.maximum(h, eps, out=h)
            if self.tol > 0 and converged:
                return it + 1
        return self.n_iter
