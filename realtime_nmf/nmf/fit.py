"""Training: initialisation (NNDSVDa or random) and the fit of ``W`` and ``H``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .. import defaults
from ..errors import ParameterError
from .divergence import _check_nonnegative_finite, validate_beta
from .updates import sweep_workspace, update_hw

__all__ = ["initialize", "fit", "NMFResult"]

EPS = defaults.EPS


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
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ParameterError(f"seed={seed!r} must be a whole number >= 0 (or None)")
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
    if n_components > min(n_bins, n_frames):
        raise ParameterError(
            f"n_components={n_components} is more than the {n_bins} frequency bins x {n_frames} frames allow with init='nndsvda' "
            f"(at most {min(n_bins, n_frames)}); use fewer components, a larger n_fft, or init='random'"
        )
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
    iterations : int
        Iterations run.
    converged : bool
        Whether the relative tolerance stopped the iterations before ``iterations``.
    history : list of (int, float)
        ``(iteration, divergence)`` at every check.
    """

    W: np.ndarray
    H: np.ndarray
    divergence: float
    iterations: int
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
    iterations: int = defaults.TRAIN_ITERATIONS,
    tolerance: float = defaults.TRAIN_TOLERANCE,
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
    iterations : int > 0
        Maximum number of iterations.
    tolerance : float >= 0
        Stop when the divergence decreased by less than ``tolerance`` times its current value
        over the last ``check_every`` iterations; 0 runs all ``iterations``.
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
    if int(iterations) < 1:
        raise ParameterError(f"iterations={iterations} must be at least 1")
    if not (np.isfinite(tolerance) and tolerance >= 0 and np.isfinite(sparsity) and sparsity >= 0):  # NaN fails every comparison
        raise ParameterError(f"tolerance={tolerance} and sparsity={sparsity} must be finite numbers >= 0")
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
    for it in range(1, int(iterations) + 1):
        update_hw(V, W, H, beta, sparsity=sparsity, workspace=workspace)
        if fixed.size:
            W[:, fixed] = W_fixed
        _normalize_columns(W, H, rescale_h=not sparsity)
        if it % check_every == 0 or it == iterations:
            value = objective(W, H, sparsity)
            history.append((it, value))
            if callback is not None:
                callback(it, value)
            if tolerance > 0 and (previous - value) < tolerance * max(value, EPS):
                converged = True
                break
            previous = value
    final = history[-1][1]
    return NMFResult(W=W, H=H, divergence=final, iterations=it, converged=converged, history=history)

