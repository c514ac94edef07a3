"""Online beta-divergence NMF: the templates learned from mini-batches of frames, never the whole spectrogram.

This is the algorithm of ``rtnmf train --online`` (:mod:`realtime_nmf.online_training`
makes dictionaries with it). The initial templates come from two sequential passes over the clips (the nndsvda
initialisation of all the frames, :func:`realtime_nmf.online_data.initial_templates`).
Then every pass visits all the frames once, in mini-batches of up to ``batch_frames``
frames gathered from short runs of consecutive frames at random places (a new seeded
order every pass, :func:`realtime_nmf.online_data.plan_pass`; the frames are read by
:mod:`realtime_nmf.file_frames`), and each mini-batch ``V_t (n_bins, n)`` does:

1. its activations ``H_t`` are solved against the current unit-norm templates ``W_t``
   (:func:`realtime_nmf.nmf.solve_activations`);
2. the statistics of the multiplicative W update at ``(W_t, H_t)``,
   ``num_t = (V_t * Y_t**(beta-2)) @ H_t.T`` and ``den_t = Y_t**(beta-1) @ H_t.T`` with
   ``Y_t = W_t @ H_t + eps`` (:func:`batch_statistics`), are added to running sums after
   the earlier ones are multiplied by the forgetting factor ``rho_t``:
   ``A <- rho_t A + num_t * W_t**a``, ``B <- rho_t B + den_t * W_t**b``;
3. ``W <- (A / B) ** gamma``, then every column is rescaled to unit L2 norm. The
   statistics are not rescaled with it (a prototype that rescaled them overflowed to
   NaN after about 220 mini-batches): they stay the sums of what the mini-batches saw.

For ``1 <= beta <= 2`` (``a = 2 - beta``, ``b = 1 - beta``, ``gamma = 1``), beta = 0 and
beta > 2 (:func:`update_exponents`), step 3 is the exact minimiser of the sum of the
forgotten majorising functions of Fevotte and Idier (2011), one per mini-batch, each
built at the ``W_t`` it was computed with: the surrogate-sum scheme of Mairal et al.
(2010), which Lefevre, Bach and Fevotte (2011) wrote for beta = 0 (statistics weighted by
``W_t**2``) and scikit-learn's ``MiniBatchNMF`` uses. For ``0 < beta < 1`` it takes the
exponent 1 of the real-time solver (:func:`realtime_nmf.nmf.frame_exponent`). One
mini-batch without history gives the batch update ``W (num / den) ** gamma``.

``forget`` is the weight the statistics keep each time a full mini-batch is added (a
mini-batch of ``n`` frames: ``forget ** (n / batch_frames)``): the memory is about
``1 / (1 - forget)`` mini-batches. The templates returned are the average of the
iterates over the second half of the last pass, renormalised (Polyak-Ruppert
averaging), which removes most of the mini-batch-to-mini-batch noise.

Literature
----------
A. Lefevre, F. Bach and C. Fevotte, "Online algorithms for nonnegative matrix
factorization with the Itakura-Saito divergence", WASPAA 2011 (arXiv:1106.4198).
J. Mairal, F. Bach, J. Ponce and G. Sapiro, "Online learning for matrix factorization
and sparse coding", JMLR 11, 2010.
C. Fevotte and J. Idier, "Algorithms for nonnegative matrix factorization with the
beta-divergence", Neural Computation 23(9), 2011.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import defaults
from .errors import ParameterError
from .file_frames import FrameReader, OpenFiles, read_runs
from .nmf import frame_exponent, mu_exponent, solve_activations, validate_beta
from .online_data import initial_templates, plan_pass, random_streams

__all__ = ["OnlineNMF", "batch_statistics", "update_exponents", "online_fit", "MAX_PASSES"]

EPS = defaults.EPS
#: Most passes :func:`online_fit` makes (a bound on a mistyped number, far beyond what helps: 3 reach full batch).
MAX_PASSES = 1000


# --------------------------------------------------------------------------------------
# the update


def batch_statistics(V: np.ndarray, W: np.ndarray, H: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The W-update statistics of one mini-batch and its divergence, at ``(W, H)``.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], float32
    W : np.ndarray [shape=(n_bins, n_components)], float32
    H : np.ndarray [shape=(n_components, n_frames)], float32
    beta : float >= 0

    Returns
    -------
    num : np.ndarray [shape=(n_bins, n_components)]
        ``(V * Y**(beta - 2)) @ H.T`` with the model ``Y = W @ H + eps`` (beta = 2:
        ``V @ H.T``, no offset).
    den : np.ndarray [shape=(n_bins, n_components)]
        ``Y**(beta - 1) @ H.T`` (beta = 1: every row is ``H.sum(axis=1)``; beta = 2:
        ``W @ (H @ H.T)``).
    divergence : float
        ``D_beta(V | Y)`` summed over the mini-batch (float64 sums); for beta = 0 ``V``
        is floored at ``eps``, as :func:`realtime_nmf.nmf.beta_divergence` does.
    """
    def total(x) -> float:
        return float(np.sum(x, dtype=np.float64))

    if beta == 2:
        num = V @ H.T
        gram = H @ H.T
        den = W @ gram
        value = 0.5 * (float(np.einsum("fn,fn->", V, V, dtype=np.float64)) - 2.0 * float(np.einsum("fk,fk->", W, num, dtype=np.float64))
                       + float(np.einsum("jk,jk->", W.T @ W, gram, dtype=np.float64)))
        return num, den, max(value, 0.0)
    Y = W @ H
    Y += np.float32(EPS)
    ratio = np.empty_like(Y)
    if beta == 1:
        np.divide(V, Y, out=ratio)
        num = ratio @ H.T
        den = np.broadcast_to(H.sum(axis=1)[None, :], W.shape).copy()
        # sum x log(x / y) - x + y, with 0 log 0 = 0
        np.maximum(ratio, np.finfo(np.float32).tiny, out=ratio)
        np.log(ratio, out=ratio)
        value = float(np.einsum("fn,fn->", V, ratio, dtype=np.float64)) - total(V) + total(Y)
        return num, den, value
    if beta == 0:
        np.reciprocal(Y, out=Y)  # Y <- 1 / y
        np.multiply(V, Y, out=ratio)
        np.multiply(ratio, Y, out=ratio)  # x / y**2
        num, den = ratio @ H.T, Y @ H.T
        # sum x / y - log(x / y) - 1
        np.maximum(V, np.float32(EPS), out=ratio)
        np.multiply(ratio, Y, out=ratio)
        value = total(ratio)
        np.log(ratio, out=ratio)
        return num, den, value - total(ratio) - ratio.size
    # any other beta: power = y**(beta - 1), ratio = x y**(beta - 2)
    power = np.empty_like(Y)
    if beta == 0.5:
        np.sqrt(Y, out=power)
        np.reciprocal(power, out=power)
    elif beta == 1.5:
        np.sqrt(Y, out=power)
    else:
        np.power(Y, np.float32(beta - 1.0), out=power)
    np.multiply(V, power, out=ratio)
    np.divide(ratio, Y, out=ratio)
    num, den = ratio @ H.T, power @ H.T
    # (sum x**beta + (beta - 1) sum y**beta - beta sum x y**(beta - 1)) / (beta (beta - 1))
    data = np.sqrt(V, out=ratio) if beta == 0.5 else np.power(V, np.float32(beta), out=ratio)
    value = (total(data) + (beta - 1.0) * float(np.einsum("fn,fn->", Y, power, dtype=np.float64))
             - beta * float(np.einsum("fn,fn->", V, power, dtype=np.float64))) / (beta * (beta - 1.0))
    return num, den, value


def update_exponents(beta: float) -> tuple[float, float, float]:
    """``(gamma, a, b)`` of the update ``W <- (A / B) ** gamma``, ``A += num * W**a``, ``B += den * W**b``.

    For ``0 < beta <= 2``: ``gamma = 1``, ``a = 2 - beta``, ``b = 1 - beta`` (for
    ``1 <= beta <= 2`` the majorisation-minimisation update; below 1 the heuristic
    exponent 1, which :func:`realtime_nmf.nmf.frame_exponent` also uses and which
    reached the same held-out divergence in fewer mini-batches). For beta = 0 and
    beta > 2 the majorisation-minimisation update: ``gamma = mu_exponent(beta)``,
    ``a = max(0, 2 - beta)``, ``b = min(0, 1 - beta)``. Always ``a - b = 1 / gamma``,
    so one mini-batch without history gives ``W (num / den) ** gamma``.
    """
    gamma = frame_exponent(beta)
    if gamma == 1.0:
        return 1.0, 2.0 - beta, 1.0 - beta
    return mu_exponent(beta), max(0.0, 2.0 - beta), min(0.0, 1.0 - beta)


class OnlineNMF:
    """Online multiplicative updates of the templates with forgotten statistics (see the module doc).

    Parameters
    ----------
    W : np.ndarray [shape=(n_bins, n_components)]
        Initial templates (copied, floored at eps, columns scaled to unit L2 norm).
    beta : float >= 0
    sparsity : float >= 0
        L1 penalty on the activations of every mini-batch.
    solver_iterations : int >= 1
        Most updates of each mini-batch's activations.
    solver_tolerance : float >= 0
        Relative change of the activations that ends their solve early.
    fixed_components : sequence of int
        Columns of ``W`` that are never updated (the target templates of labelled training).

    Attributes
    ----------
    W : np.ndarray [shape=(n_bins, n_components), dtype=float32]
        Current templates, unit L2 norm per column.
    A, B : np.ndarray [shape=(n_bins, n_components), dtype=float64]
        The forgotten numerator and denominator statistics.
    n_updates : int
        Mini-batches seen.
    n_frames : int
        Frames seen.
    """

    def __init__(self, W: np.ndarray, *, beta: float = defaults.BETA, sparsity: float = defaults.SPARSITY,
                 solver_iterations: int = defaults.ONLINE_SOLVER_ITERATIONS, solver_tolerance: float = defaults.ONLINE_SOLVER_TOLERANCE,
                 fixed_components: Sequence[int] = ()):
        W = np.array(W, dtype=np.float32, order="C")
        if W.ndim != 2 or not np.isfinite(W).all() or (W < 0).any():
            raise ParameterError(f"W must be a finite, non-negative (n_bins, n_components) matrix, got shape {W.shape}")
        self.beta = validate_beta(beta)
        self.sparsity = float(sparsity)
        self.solver_iterations = int(solver_iterations)
        self.solver_tolerance = float(solver_tolerance)
        if self.sparsity < 0 or self.solver_iterations < 1 or self.solver_tolerance < 0:
            raise ParameterError(f"sparsity={sparsity}, solver_tolerance={solver_tolerance} must be >= 0 and "
                                 f"solver_iterations={solver_iterations} at least 1")
        self.fixed = np.array(sorted({int(k) for k in fixed_components}), dtype=int)
        if self.fixed.size and (self.fixed.min() < 0 or self.fixed.max() >= W.shape[1]):
            raise ParameterError(f"fixed_components must be indices in 0..{W.shape[1] - 1}")
        np.maximum(W, np.float32(EPS), out=W)
        self.W = W
        self._normalize()
        self._W_fixed = self.W[:, self.fixed].copy()
        self.gamma, self.a, self.b = update_exponents(self.beta)
        self.A = np.zeros(W.shape, np.float64)
        self.B = np.zeros(W.shape, np.float64)
        self.n_updates = 0
        self.n_frames = 0

    def _normalize(self) -> None:
        norms = np.sqrt(np.einsum("fk,fk->k", self.W, self.W, dtype=np.float64))
        self.W /= np.maximum(norms, EPS).astype(np.float32)
        np.maximum(self.W, np.float32(EPS), out=self.W)

    def transform(self, V: np.ndarray) -> np.ndarray:
        """Activations of ``V (n_bins, n_frames)`` against the current templates, ``(n_components, n_frames)``."""
        return solve_activations(V, self.W, beta=self.beta, iterations=self.solver_iterations, tolerance=self.solver_tolerance,
                                 sparsity=self.sparsity)

    def partial_fit(self, V: np.ndarray, *, forget: float = 1.0) -> float:
        """Learn from one mini-batch: solve its activations, add its statistics, update and renormalise ``W``.

        Parameters
        ----------
        V : np.ndarray [shape=(n_bins, n_frames)], non-negative, float32
        forget : float in (0, 1]
            Factor the earlier statistics are multiplied by before this mini-batch's are added.

        Returns
        -------
        float
            The mini-batch's divergence ``D_beta(V | W @ H + eps)`` with the templates
            before this update (plus ``sparsity * sum(H)``): an honest estimate of the
            loss on data the templates have not yet been fitted to.
        """
        V = np.ascontiguousarray(V, dtype=np.float32)
        H = self.transform(V)
        num, den, value = batch_statistics(V, self.W, H, self.beta)
        W64 = self.W.astype(np.float64)
        self.A *= forget
        self.B *= forget
        self.A += num * W64**self.a if self.a else num
        self.B += den * W64**self.b if self.b else den
        # W <- (A / B) ** gamma, in float32 from float64 sums (A and B stay as they are)
        ratio = self.A / np.maximum(self.B, EPS)
        if self.gamma != 1:
            ratio **= self.gamma
        # a component no mini-batch has used yet (silence so far) keeps its template
        seen = self.A.sum(axis=0) > 0
        self.W[:, seen] = ratio[:, seen]
        if self.fixed.size:
            self.W[:, self.fixed] = self._W_fixed
        self._normalize()
        self.n_updates += 1
        self.n_frames += V.shape[1]
        return value + (self.sparsity * float(H.sum(dtype=np.float64)) if self.sparsity else 0.0)


# --------------------------------------------------------------------------------------
# training on clips


def _check(name: str, value, minimum, kind=int, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or (kind is int and int(value) != value):
        raise ParameterError(f"{name}={value!r} must be {'a whole number' if kind is int else 'a number'}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ParameterError(f"{name}={value!r} must be at least {minimum}" + ("" if maximum is None else f" and at most {maximum}"))
    return kind(value)


def online_fit(readers: Sequence[FrameReader], n_components: int, *, beta: float = defaults.BETA, init: str = defaults.INIT,
               seed: int | None = defaults.SEED, sparsity: float = defaults.SPARSITY, batch_frames: int = defaults.ONLINE_BATCH_FRAMES,
               passes: int = defaults.ONLINE_PASSES, forget: float = defaults.ONLINE_FORGET,
               solver_iterations: int = defaults.ONLINE_SOLVER_ITERATIONS, solver_tolerance: float = defaults.ONLINE_SOLVER_TOLERANCE,
               run_frames: int = defaults.ONLINE_RUN_FRAMES, init_frames: int = defaults.ONLINE_INIT_FRAMES,
               W_init: np.ndarray | None = None, fixed_components: Sequence[int] = (),
               progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Online NMF of the clips' frames: initial templates, then ``passes`` shuffled passes of mini-batches.

    Parameters
    ----------
    readers : sequence of FrameReader or ArrayFrames
        The clips, all with the same STFT settings.
    n_components : int
    beta, sparsity, solver_iterations, solver_tolerance
        See :class:`OnlineNMF`.
    init, seed
        See :func:`initial_templates`; ``seed`` also draws the order of every pass.
    batch_frames, run_frames
        See :func:`plan_pass`.
    passes : int, 1 to :data:`MAX_PASSES`
    forget : float in [0, 1]
        Weight the statistics keep each time a mini-batch of ``batch_frames`` frames is
        added (a mini-batch of ``n`` frames: ``forget ** (n / batch_frames)``), so they
        remember about ``1 / (1 - forget)`` mini-batches; 0 keeps only the last one.
    init_frames : int
    W_init : np.ndarray [shape=(n_bins, n_components)], optional
        Start from these templates instead.
    fixed_components : sequence of int
        Columns of ``W_init`` never updated.
    progress : callable(done, total, divergence), optional
        Called after every mini-batch with the mini-batches done, their total and the
        mean divergence per frame of the pass so far.

    Returns
    -------
    dict
        ``W`` (np.ndarray [shape=(n_bins, n_components)]), ``n_updates``, ``n_frames``
        (frames of one pass), ``divergence_per_frame`` (mean over the last pass, each
        mini-batch measured before its update) and ``history`` (that mean for every pass).
    """
    n_components = _check("n_components", n_components, 1)
    batch_frames = _check("batch_frames", batch_frames, 1)
    run_frames = min(_check("run_frames", run_frames, 1), batch_frames)
    passes = _check("passes", passes, 1, maximum=MAX_PASSES)
    forget = _check("forget", forget, 0.0, float, 1.0)
    init_frames = _check("init_frames", init_frames, 1)
    if not readers:
        raise ParameterError("no training audio given")
    counts = [reader.n_frames for reader in readers]
    n_frames = sum(counts)
    if n_frames < n_components:
        raise ParameterError(f"the training audio gives {n_frames} frames, fewer than n_components={n_components}; "
                             "use longer recordings or fewer components")
    if W_init is None:
        W_init = initial_templates(readers, n_components, init=init, seed=seed, init_frames=init_frames, run_frames=run_frames)
    model = OnlineNMF(W_init, beta=beta, sparsity=sparsity, solver_iterations=solver_iterations, solver_tolerance=solver_tolerance,
                      fixed_components=fixed_components)
    rng = np.random.default_rng(random_streams(seed)[1])
    batches = plan_pass(counts, batch_frames, run_frames, rng)
    per_pass = len(batches)
    total = per_pass * passes  # later passes hold about as many mini-batches; corrected as each is drawn
    history, done = [], 0
    average, n_average = np.zeros(model.W.shape, np.float64), 0
    with OpenFiles() as files:
        for index in range(passes):
            if index:
                batches = plan_pass(counts, batch_frames, run_frames, rng)
                total += len(batches) - per_pass
            pass_value, pass_frames = 0.0, 0
            last = index == passes - 1
            for position, runs in enumerate(batches):
                V = read_runs(readers, runs, files)
                pass_value += model.partial_fit(V, forget=forget ** (V.shape[1] / batch_frames))
                pass_frames += V.shape[1]
                if last and position >= len(batches) // 2:
                    average += model.W  # the iterates of the last half pass, averaged
                    n_average += 1
                done += 1
                if progress is not None:
                    progress(done, total, pass_value / pass_frames)
            if not np.isfinite(model.W).all():  # pragma: no cover - a guard, never seen
                raise ParameterError("online training diverged (the templates are not finite); try a smaller --forget or larger --batch-frames")
            history.append(pass_value / pass_frames)
    W = (average / n_average).astype(np.float32)
    W /= np.maximum(np.linalg.norm(W, axis=0), EPS).astype(np.float32)
    if model.fixed.size:
        W[:, model.fixed] = model.W[:, model.fixed]
    return {"W": W, "n_updates": model.n_updates, "n_frames": n_frames, "divergence_per_frame": history[-1], "history": history}
