"""The NMF separator: per-frame activations against a fixed dictionary, a mask, overlap-add.

For every STFT frame the separator solves only the activations ``h`` of the fixed
templates ``W`` (warm-started from the previous frame, a few multiplicative updates),
builds a mask from the kept components and applies it to the complex spectrum, so the
mixture's phase is kept. With every component kept the output is the input, delayed by
:attr:`NMFSeparator.latency` samples.

Masks (``Vt = W_keep @ h_keep``, ``Vr = W_rest @ h_rest``, ``a`` = ``mask_exponent``):

- ``"ratio"``: ``Vt**a / (Vt**a + Vr**a + eps)`` (the ratio mask for ``a = 1``, the Wiener
  mask for ``a = 2`` on a magnitude dictionary);
- ``"binary"``: 1 where ``Vt >= Vr``, else 0.

:class:`Masker` is the one implementation of these masks: the streaming separator, the
converged offline separation (:func:`realtime_nmf.decompose.separate`) and the benchmarks
all use it; :func:`ratio_mask` is its formula, which
:func:`realtime_nmf.decompose.iter_component_signals` applies to single components.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import defaults, kernels
from ..dictionary import Dictionary
from ..errors import ParameterError
from ..nmf import FrameSolver
from ..stft import StreamingSTFT, istft, stft
from .base import Parameter, Processor, validate_parameters

__all__ = ["NMFSeparator", "SEPARATOR_PARAMETERS", "Masker", "ratio_mask"]

#: Settings of the separator (besides its dictionary); presets store them under these names.
SEPARATOR_PARAMETERS: dict[str, Parameter] = {
    "mask": Parameter(str, defaults.MASK, "how kept components become a mask: ratio or binary", choices=("ratio", "binary")),
    "mask_exponent": Parameter(float, defaults.MASK_EXPONENT, "exponent of the ratio mask (1 = ratio, 2 = Wiener)", minimum=0.0, maximum=10.0, exclusive_minimum=True),
    "iterations": Parameter(int, defaults.SOLVER_ITERATIONS, "multiplicative updates per frame at most", minimum=0, maximum=10000),
    "tolerance": Parameter(float, defaults.SOLVER_TOLERANCE, "stop a frame's updates when activations change by less than this (relative); 0 = always run all", minimum=0.0, maximum=1.0),
    "sparsity": Parameter(float, defaults.SPARSITY, "L1 penalty on the activations", minimum=0.0, maximum=1e6),
    "flat_start": Parameter(float, defaults.FLAT_START, "share of a flat start blended into each frame's warm start "
                            "(0 = the earlier frame's activations only, 1 = a cold start every frame)", minimum=0.0, maximum=1.0),
    "batch_frames": Parameter(int, defaults.BATCH_FRAMES, "frames solved together when a block holds several; each frame starts from "
                              "the result batch_frames frames earlier, so the output does not depend on the block size", minimum=1, maximum=256),
}


class NMFSeparator(Processor):
    """Keep chosen NMF components of the input, frame by frame, in real time.

    Parameters
    ----------
    dictionary : Dictionary
        Fixed templates with their STFT settings; the stream must run at
        ``dictionary.sample_rate``.
    keep : str, int or list, default "all"
        Components to keep (see :meth:`Dictionary.resolve_components`).
    mask, mask_exponent, iterations, tolerance, sparsity
        See :data:`SEPARATOR_PARAMETERS` (defaults in :mod:`realtime_nmf.defaults`).

    Attributes
    ----------
    keep : list of int
        Resolved kept component indices.
    frames, updates, nonfinite_frames : int
        Counters since the last :meth:`reset`: frames processed, multiplicative updates
        run, frames whose input held NaN or Inf (those samples were replaced by zeros).
    """

    name = "nmf"
    parameters = SEPARATOR_PARAMETERS

    def __init__(self, dictionary: Dictionary, keep: Any = "all", **params: Any):
        if not isinstance(dictionary, Dictionary):
            raise ParameterError(f"NMFSeparator needs a Dictionary, not {type(dictionary).__name__}")
        self.params = validate_parameters(SEPARATOR_PARAMETERS, params, "nmf separator")
        self.sample_rate = None
        self.n_channels = None
        self.dictionary = dictionary
        self.keep = dictionary.resolve_components(keep)
        self._keep_spec = keep

    # ---------------------------------------------------------------------------------
    @property
    def latency(self) -> int:
        return self.dictionary.latency_samples

    def config(self) -> dict[str, Any]:
        return {"keep": self._keep_spec, **self.params}

    def _make_solver(self, max_rows: int) -> FrameSolver:
        return FrameSolver(
            self.dictionary.W,
            beta=self.dictionary.beta,
            iterations=self.params["iterations"],
            tolerance=self.params["tolerance"],
            sparsity=self.params["sparsity"],
            max_rows=max_rows,
        )

    def make_masker(self, max_rows: int, keep: list[int] | None = None) -> "Masker":
        """A :class:`Masker` for this separator's dictionary, mask settings and kept components (or ``keep``)."""
        return Masker(self.dictionary.W, self.keep if keep is None else keep, self.params["mask"], self.params["mask_exponent"], max_rows)

    def set_keep(self, keep: Any) -> list[int]:
        """Change the kept components while running; takes effect at the next frame.

        The new mask is built here (in the caller's thread) and swapped in with one
        reference assignment, so the audio thread never waits; the overlap-add of the
        frames around the change crossfades old and new over one window, without a
        click. Returns the resolved indices.
        """
        indices = self.dictionary.resolve_components(keep)
        if self.n_channels is not None:
            masker = self.make_masker(self._rows, indices)
            self._retired_masker = self._masker  # freed here, not in the audio thread
            self._masker = masker
        self.keep, self._keep_spec = indices, keep
        return indices

    def _allocate(self) -> None:
        d = self.dictionary
        if abs(self.sample_rate - d.sample_rate) > 1e-6:
            raise ParameterError(
                f"the dictionary was trained at {d.sample_rate} Hz but the stream runs at {self.sample_rate:g} Hz; "
                "resample the audio to the dictionary's rate (rtnmf run does this for you)"
            )
        C, B = self.n_channels, self.params["batch_frames"]
        F, K = d.n_bins, d.n_components
        self._rows = B * C
        self._solver = self._make_solver(self._rows)
        self._stft = StreamingSTFT(d.n_fft, d.hop_length, d.window, C, self._process_spectra, batch_frames=B)
        self._masker = self.make_masker(self._rows)
        self._kernels = kernels.load() if self._solver.compiled else None
        self._power, self._flat_share = np.float32(d.power), np.float32(self.params["flat_start"])
        if self._kernels is not None and self._masker.compiled:  # compile (or load from numba's cache) now, not in the audio thread
            none = np.zeros((0, K), np.float32)
            self._kernels.frame_separate(np.zeros((0, F), np.complex64), self._power, np.zeros((0, F), np.float32), none, False,
                                         self._flat_share, *self._solver.kernel_arguments, *self._masker.kernel_arguments)
        self._magnitude = np.zeros((self._rows, F), np.float32)
        # activations of the last batch_frames frames: frame m uses (and replaces) slot m % batch_frames
        self._h = np.zeros((self._rows, K), np.float32)

    def reset(self) -> None:
        if self.n_channels is None:
            return
        self._stft.reset()
        self._h.fill(0)
        self.frames = 0
        self.updates = 0
        self._overflow_frames = 0

    @property
    def nonfinite_frames(self) -> int:
        """Frames that held NaN, Inf or absurdly loud input samples, or whose activations overflowed, since the last reset."""
        return self._stft.nonfinite_frames + self._overflow_frames if self.n_channels is not None else 0

    @property
    def nonfinite_samples(self) -> int:
        """Input samples that were NaN, Inf or beyond ±1e6, treated as silence, since the last reset."""
        return self._stft.nonfinite_samples if self.n_channels is not None else 0

    @property
    def activations(self) -> np.ndarray:
        """Activations of the latest frame, shape ``(n_components, n_channels)`` (a copy)."""
        C = self.n_channels
        slot = (max(self.frames, 1) - 1) % self.params["batch_frames"]
        return self._h[slot * C : (slot + 1) * C].T.copy()

    # ---------------------------------------------------------------------------------
    def _process(self, block: np.ndarray, out: np.ndarray) -> None:
        self._stft.process(block, out)

    def _process_spectra(self, spectra: np.ndarray, first_frame: int) -> None:
        rows = spectra.shape[0]
        start = (first_frame % self.params["batch_frames"]) * self.n_channels
        h = self._h[start : start + rows]
        magnitude = self._magnitude[:rows]
        masker = self._masker
        warm = first_frame >= self.params["batch_frames"]  # no earlier frame in this slot yet: cold start
        fused = rows <= self._solver.kernel_rows and masker.compiled
        if fused:  # one kernel call for the start, the updates and the mask (a live stream's frame at a time)
            self.updates += self._kernels.frame_separate(spectra, self._power, magnitude, h, warm, self._flat_share,
                                                         *self._solver.kernel_arguments, *masker.kernel_arguments)
        else:  # magnitudes finite: the STFT silences NaN, Inf and samples beyond +120 dBFS
            self._solver.begin(spectra, magnitude, h, power=self.dictionary.power, warm=warm, flat_share=self.params["flat_start"])
            self.updates += self._solver.solve(magnitude, h)
        # loud spectra that overflowed inside the updates (power 2 with a large beta): silence (after the fused mask, whose
        # NaN it overwrites; before the numpy one). NaN fails the comparison too; the ufunc's reduce directly (h.max() goes
        # through numpy's Python wrapper, once per frame)
        if not np.maximum.reduce(h, axis=None) < np.inf:
            self._silence(~np.isfinite(h).all(axis=1), magnitude, spectra, h)
        self.frames += rows // self.n_channels
        if not fused:
            masker.apply(spectra, h)

    def _silence(self, bad: np.ndarray, magnitude: np.ndarray, spectra: np.ndarray, h: np.ndarray) -> None:
        """Treat the rows ``bad`` as silent frames; their activations restart from the floor (rare path: it allocates)."""
        magnitude[bad] = 0.0
        spectra[bad] = 0.0
        h[bad] = self._solver.eps
        self._overflow_frames += int(np.count_nonzero(bad))

    # ---------------------------------------------------------------------------------
    def separate_offline(self, audio: np.ndarray) -> np.ndarray:
        """Whole-signal reference of the streaming computation, without the streaming machinery.

        The same per-frame algorithm (warm starts, updates, tolerance, masks) run frame by
        frame over the offline STFT; the streaming output must equal it. For every frame
        solved to convergence instead (the quality reference), see
        :func:`realtime_nmf.decompose.separate`.

        Parameters
        ----------
        audio : np.ndarray [shape=(n_samples,) or (n_samples, n_channels)]
            At the dictionary's sample rate.

        Returns
        -------
        np.ndarray [shape=audio.shape, dtype=float32]
            Time-aligned with ``audio`` (no latency).
        """
        d = self.dictionary
        x = np.asarray(audio, dtype=np.float32)
        squeeze = x.ndim == 1
        x2 = x[:, None] if squeeze else x
        S = stft(x2, d.n_fft, d.hop_length, d.window)  # (F, M, C)
        V = np.abs(S) ** d.power if d.power != 1 else np.abs(S)
        F, M, C = S.shape
        B = self.params["batch_frames"]
        H = np.empty((M, C, d.n_components), np.float32)  # frame, channel, component
        solver = self._make_solver(C)
        for m in range(M):
            v = np.ascontiguousarray(V[:, m, :].T)
            h = H[m]
            if m < B:
                solver.start(v, h)
            else:
                h[...] = H[m - B]  # each frame starts from the frame batch_frames earlier
                solver.warm_start(v, h, self.params["flat_start"])
            solver.solve(v, h)
        self.make_masker(C).apply_frames(S, H)
        y = istft(S, d.n_fft, d.hop_length, d.window, length=x2.shape[0])
        return y[:, 0] if squeeze else y


def ratio_mask(target: np.ndarray, rest: np.ndarray, out: np.ndarray, eps: np.float32 = np.float32(defaults.EPS)) -> np.ndarray:
    """The ratio mask ``target / (target + rest + eps)``, written to ``out`` (may be ``rest``, not ``target``).

    Parameters
    ----------
    target, rest : np.ndarray [shape=(..., n_bins)]
        Model spectra of the kept components and of the others (non-negative).
    out : np.ndarray [shape=target.shape]

    Returns
    -------
    out : np.ndarray
    """
    np.add(target, rest, out=out)
    np.add(out, eps, out=out)
    np.divide(target, out, out=out)
    return out


class Masker:
    """Builds the mask of the kept components for a batch of frames and applies it in place (preallocated).

    Nothing is allocated after construction; :meth:`apply` runs in the audio thread.

    Parameters
    ----------
    W : np.ndarray [shape=(n_bins, n_components)]
    keep : list of int
    kind : {"ratio", "binary"}
    exponent : float
    max_rows : int
        Largest batch (frames times channels).
    compiled : bool, optional
        Use the compiled kernel (:func:`realtime_nmf.kernels.frame_mask`); by default
        (None) as :func:`realtime_nmf.kernels.default` says (the live engine prefers it).
    """

    def __init__(self, W: np.ndarray, keep: list[int], kind: str, exponent: float, max_rows: int, compiled: bool | None = None):
        rest = [k for k in range(W.shape[1]) if k not in set(keep)]
        self.keep_index = np.array(keep, dtype=np.intp)
        self.rest_index = np.array(rest, dtype=np.intp)
        self.Wt_keep = np.ascontiguousarray(W[:, self.keep_index].T)
        self.Wt_rest = np.ascontiguousarray(W[:, self.rest_index].T)
        self.kind, self.exponent = kind, float(exponent)
        shape = (max_rows, W.shape[0])
        self._h_keep = np.zeros((max_rows, len(keep)), np.float32)
        self._h_rest = np.zeros((max_rows, len(rest)), np.float32)
        self._target = np.zeros(shape, np.float32)
        self._rest = np.zeros(shape, np.float32)
        self._mask = np.zeros(shape, np.float32)
        self._binary = np.zeros(shape, bool)
        self._eps = np.float32(defaults.EPS)
        self._kernels = kernels.choose(compiled)
        self._kernel_rows = kernels.MAX_CELLS // (W.shape[0] * W.shape[1]) if self._kernels is not None else -1
        if self._kernels is not None:
            self._Wt = np.ascontiguousarray(W.T, dtype=np.float32)
            self._k_work = (np.empty(W.shape[0], np.float32), np.empty(W.shape[0], np.float32))
            #: what :func:`realtime_nmf.kernels.frame_separate` takes after the solver's arguments
            self.kernel_arguments = (self.keep_index, self.rest_index, self._Wt, self.kind == "binary", np.float32(self.exponent), self._eps,
                                     *self._k_work)
            self.apply(np.zeros((0, W.shape[0]), np.complex64), np.zeros((0, W.shape[1]), np.float32))  # compile now

    @property
    def compiled(self) -> bool:
        """True when the compiled kernel masks the small batches."""
        return self._kernels is not None

    def apply(self, spectra: np.ndarray, h: np.ndarray) -> None:
        """Multiply ``spectra`` in place by the masks for activations ``h``.

        Parameters
        ----------
        spectra : np.ndarray [shape=(n_rows, n_bins), dtype=complex64]
            One frame of one channel per row.
        h : np.ndarray [shape=(n_rows, n_components)]
            Activations of those frames, in dictionary order.
        """
        if self.rest_index.size == 0:
            return  # every component kept: the mask is 1
        if spectra.shape[0] <= self._kernel_rows:
            self._kernels.frame_mask(spectra, h, self.keep_index, self.rest_index, self._Wt, self.kind == "binary",
                                     np.float32(self.exponent), self._eps, *self._k_work)
            return
        n = spectra.shape[0]
        target, rest = self._target[:n], self._rest[:n]
        np.take(h, self.keep_index, axis=1, out=self._h_keep[:n])
        np.take(h, self.rest_index, axis=1, out=self._h_rest[:n])
        np.matmul(self._h_keep[:n], self.Wt_keep, out=target)
        np.matmul(self._h_rest[:n], self.Wt_rest, out=rest)
        if self.kind == "binary":
            binary = self._binary[:n]
            np.greater_equal(target, rest, out=binary)
            np.multiply(spectra, binary, out=spectra)
            return
        mask = self._mask[:n]
        if self.exponent != 1.0:
            np.power(target, self.exponent, out=target)
            np.power(rest, self.exponent, out=rest)
        ratio_mask(target, rest, mask, self._eps)
        np.multiply(spectra, mask, out=spectra)

    def apply_frames(self, S: np.ndarray, H: np.ndarray) -> None:
        """Mask a whole STFT in place, frame by frame (offline use: allocates per frame).

        Parameters
        ----------
        S : np.ndarray [shape=(n_bins, n_frames, n_channels), dtype=complex]
        H : np.ndarray [shape=(n_frames, n_channels, n_components)]
            Activations of every frame of every channel.
        """
        for m in range(S.shape[1]):
            frame = np.ascontiguousarray(S[:, m, :].T, dtype=np.complex64)
            self.apply(frame, np.ascontiguousarray(H[m], dtype=np.float32))
            S[:, m, :] = frame.T
