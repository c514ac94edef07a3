"""The real-time H-only solver: a batch of frames against a fixed dictionary, preallocated, in place."""

from __future__ import annotations

import numpy as np

from .. import defaults, kernels
from .divergence import frame_exponent, validate_beta
from .updates import _power_terms

__all__ = ["FrameSolver"]

EPS = defaults.EPS


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
    iterations : int >= 0
        Maximum number of multiplicative updates per frame.
    tolerance : float >= 0
        A row stops being updated once the relative L1 change of its activations in one
        update is at most ``tolerance``; the solve ends when every row has stopped (0 always
        runs ``iterations`` updates). Every row therefore gets exactly the updates it would
        get if solved alone.
    sparsity : float >= 0
        L1 penalty on the activations.
    max_rows : int
        Largest batch.
    compiled : bool, optional
        Use the compiled kernels of :mod:`realtime_nmf.kernels` (numba) for batches of up
        to :data:`realtime_nmf.kernels.MAX_CELLS` cells: by default (None) when the host
        prefers them (:func:`realtime_nmf.kernels.prefer_compiled`: the live engine does)
        and numba is available; False runs the numpy path always (the same arithmetic in a dozen
        numpy calls per update: fast for large batches, whose matrix products reuse each
        template across rows, four times slower for single frames).
    """

    def __init__(self, W: np.ndarray, *, beta: float, iterations: int, tolerance: float = 0.0, sparsity: float = 0.0, max_rows: int = 1,
                 compiled: bool | None = None):
        self.W = np.ascontiguousarray(W, dtype=np.float32)
        self.Wt = np.ascontiguousarray(self.W.T)
        self.beta = validate_beta(beta)
        self.gamma = np.float32(frame_exponent(self.beta))
        self.iterations = int(iterations)
        self.tolerance = float(tolerance)
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
        self._tolerance = np.float32(self.tolerance)
        self._kernels = kernels.choose(compiled)
        # batches up to this many rows go to the kernels (larger ones run faster through BLAS)
        self._kernel_rows = kernels.MAX_CELLS // (n_bins * n_components) if self._kernels is not None else -1
        if self._kernels is not None:
            self._k_colsum = np.ascontiguousarray(self._colsum[0])
            self._k_colsum_raw = np.ascontiguousarray(self._colsum_raw[:, 0])
            self._k_gram = self._gram if self._gram is not None else np.zeros((1, 1), np.float32)
            self._k_work = [np.empty(n_bins, np.float32) for _ in range(3)] + [np.empty(n_components, np.float32)]
            self._k_scalars = tuple(np.float32(x) for x in (self.beta, self.gamma, self.sparsity, self.tolerance, self.eps))
            beta, gamma, sparsity, tolerance, eps = self._k_scalars
            #: what :func:`realtime_nmf.kernels.frame_separate` takes after ``spectra, power, v, h, warm, flat_share``
            self.kernel_arguments = (self._k_colsum_raw, self._w_total, self.Wt, self.W, self._k_gram, self._k_colsum, self.iterations,
                                     beta, gamma, sparsity, tolerance, eps, *self._k_work)
            # compile (or load from numba's cache) now, never in the audio thread
            empty_v, empty_h = np.zeros((0, n_bins), np.float32), np.zeros((0, n_components), np.float32)
            for warm in (True, False):
                self.begin(np.zeros((0, n_bins), np.complex64), empty_v, empty_h, power=1.0, warm=warm, flat_share=0.2)
            self.solve(empty_v, empty_h)

    @property
    def compiled(self) -> bool:
        """True when the compiled kernels run the small batches."""
        return self._kernels is not None

    @property
    def kernel_rows(self) -> int:
        """Largest batch the compiled kernels solve (-1 without them)."""
        return self._kernel_rows

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
            beta, gamma, sparsity, tolerance, eps = self._k_scalars
            return self._kernels.frame_solve(v, h, self.Wt, self.W, self._k_gram, self._k_colsum, self.iterations, beta, gamma,
                                             sparsity, tolerance, eps, *self._k_work)
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
        for it in range(self.iterations):
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
            if self.tolerance > 0:
                # relative L1 change of each row: sum(|num - 1| * h) / sum(h)
                np.subtract(num, np.float32(1.0), out=change)
                np.abs(change, out=change)
                if single:
                    converged = float(np.vdot(change, h)) <= self.tolerance * float(h.sum())
                else:
                    # rows that converged earlier stay as they are, so every row gets
                    # exactly the updates it would get alone
                    np.copyto(num, np.float32(1.0), where=done)
                    np.copyto(change, np.float32(0.0), where=done)
                    row_change, row_total = self._row_change[:n], self._row_total[:n]
                    np.einsum("rk,rk->r", change, h, out=row_change[:, 0])
                    np.add.reduce(h, axis=1, out=row_total[:, 0])
                    np.multiply(row_total, self._tolerance, out=row_total)
                    np.less_equal(row_change, row_total, out=self._converged[:n])
                    np.logical_or(done, self._converged[:n], out=done)
                    converged = bool(done.all())
            np.multiply(h, num, out=h)
            np.maximum(h, eps, out=h)
            if self.tolerance > 0 and converged:
                return it + 1
        return self.iterations
