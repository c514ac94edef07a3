"""Estimators for features the engine does not have, prototyped offline (the ``proto:`` methods).

- :func:`prototype_estimate`: causal frame-wise features of activations solved to
  convergence: smoothed activations, a mask floor, online adaptation of free background
  templates;
- :class:`ContextDictionary`, :func:`learn_context_dictionary`, :func:`context_estimate`:
  causal temporal context, templates spanning the current frame and the frames before it.

Every mask here is built by :class:`realtime_nmf.processors.Masker`, the separator's own,
and every converged solve is the library's (:func:`realtime_nmf.decompose.decompose`,
:func:`realtime_nmf.nmf.solve_activations` at the converged defaults).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realtime_nmf import defaults
from realtime_nmf.decompose import decompose
from realtime_nmf.dictionary import Dictionary
from realtime_nmf.nmf import FrameSolver, fit, mu_exponent, solve_activations
from realtime_nmf.processors import Masker, NMFSeparator
from realtime_nmf.stft import istft, magnitude_spectrogram, stft

__all__ = ["filtered_signal", "masked_signal", "separator_mask", "stack_frames", "ContextDictionary", "learn_context_dictionary",
           "context_estimate", "prototype_estimate"]


def filtered_signal(S: np.ndarray, mask: np.ndarray, n_fft: int, hop_length: int, window: str, length: int) -> np.ndarray:
    """The mixture's complex STFT ``S (n_bins, n_frames)`` times ``mask`` (broadcast), back to ``length`` samples."""
    return istft((S * mask)[:, :, None], n_fft, hop_length, window, length=length)[:, 0]


def separator_mask(separator: NMFSeparator, W: np.ndarray, S: np.ndarray, H: np.ndarray) -> np.ndarray:
    """``S`` through the separator's mask (its kind, exponent and kept components) for templates ``W`` and activations ``H``.

    Parameters
    ----------
    separator : NMFSeparator
    W : np.ndarray [shape=(n_bins, n_components)]
        The templates the mask is built from (the separator's, or its current-frame slice).
    S : np.ndarray [shape=(n_bins, n_frames), dtype=complex64]
    H : np.ndarray [shape=(n_components, n_frames)]

    Returns
    -------
    np.ndarray [shape=(n_bins, n_frames), dtype=complex64]
        The masked STFT (a new array).
    """
    p = separator.params
    masked = np.array(S, dtype=np.complex64)[:, :, None]
    Masker(W, separator.keep, p["mask"], p["mask_exponent"], 1).apply_frames(masked, np.ascontiguousarray(H.T[:, None, :], dtype=np.float32))
    return masked[:, :, 0]


def masked_signal(dictionary: Dictionary, S: np.ndarray, length: int) -> np.ndarray:
    """Resynthesise a masked STFT ``(n_bins, n_frames)`` with the dictionary's settings, ``length`` samples."""
    d = dictionary
    return istft(S[:, :, None], d.n_fft, d.hop_length, d.window, length=length)[:, 0]


# --------------------------------------------------------------------------------------
# causal temporal context


def stack_frames(V: np.ndarray, context: int) -> np.ndarray:
    """Stack every frame of ``V (n_bins, n_frames)`` over its ``context`` past frames.

    Returns
    -------
    np.ndarray [shape=((context + 1) * n_bins, n_frames), dtype=float32]
        Rows ``lag * n_bins`` to ``(lag + 1) * n_bins`` of column ``m`` hold frame
        ``m - lag`` (zeros for frames before the start).
    """
    n_bins, n_frames = V.shape
    out = np.zeros(((context + 1) * n_bins, n_frames), np.float32)
    for lag in range(min(context, n_frames - 1) + 1):
        out[lag * n_bins : (lag + 1) * n_bins, lag:] = V[:, : n_frames - lag]
    return out


@dataclass
class ContextDictionary:
    """Templates spanning the current frame and the ``context`` frames before it (causal temporal context).

    The stacked-frames form of convolutive NMF (Smaragdis 2004, "Non-negative matrix
    factor deconvolution"; stacked frames as in the sliding-window exemplars of
    Gemmeke, Virtanen and Hurmalainen 2011), restricted to past frames so that it adds
    no latency: column ``m`` of the stacked spectrogram is frame ``m`` on top of frames
    ``m - 1`` ... ``m - context`` (zeros before the clip's start, as a stream that has
    just begun sees), and each template spans the same ``(context + 1) * n_bins`` rows.

    Attributes
    ----------
    W : np.ndarray [shape=((context + 1) * n_bins, n_components)]
        Stacked templates (unit L2 norm per column, as :func:`realtime_nmf.nmf.fit` leaves them).
    context : int
    current : Dictionary
        The current-frame slice ``W[:n_bins]`` with the STFT settings and beta: the masks,
        the audition signals and the separator are built from it.
    """

    W: np.ndarray
    context: int
    current: Dictionary

    def stack(self, V: np.ndarray) -> np.ndarray:
        """:func:`stack_frames` with this dictionary's context."""
        return stack_frames(V, self.context)

    def spectrum(self, y: np.ndarray) -> np.ndarray:
        """Complex STFT ``(n_bins, n_frames)`` of a mono clip with the current slice's settings."""
        d = self.current
        return stft(np.asarray(y, np.float32)[:, None], d.n_fft, d.hop_length, d.window)[:, :, 0]

    def decompose(self, y: np.ndarray, *, iterations: int = 300, tolerance: float = 1e-5,
                  sparsity: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Like :func:`realtime_nmf.decompose.decompose`: the clip's STFT and its activations against the stacked templates.

        Returns
        -------
        S : np.ndarray [shape=(n_bins, n_frames), dtype=complex64]
        H : np.ndarray [shape=(n_components, n_frames)]
        """
        S = self.spectrum(y)
        H = solve_activations(self.stack(np.abs(S)), self.W, beta=self.current.beta, iterations=iterations, tolerance=tolerance,
                              sparsity=sparsity)
        return S, H


def learn_context_dictionary(clip: np.ndarray, sample_rate: int, *, context: int, n_components: int, beta: float, n_fft: int,
                             hop_length: int, sparsity: float = 0.0, iterations: int = defaults.TRAIN_ITERATIONS) -> ContextDictionary:
    """Stacked templates learned by :func:`realtime_nmf.nmf.fit` from the clip's stacked magnitude spectrogram.

    Parameters
    ----------
    clip : np.ndarray [shape=(n_samples,)]
    sample_rate : int
    context : int >= 0
        Past frames stacked under each frame (0 gives the templates of
        :func:`realtime_nmf.training.learn_dictionary`).
    n_components, beta, n_fft, hop_length, sparsity, iterations
        As for :func:`realtime_nmf.training.learn_dictionary` (the same initialisation,
        seed and tolerance).

    Returns
    -------
    ContextDictionary
    """
    V = magnitude_spectrogram(np.asarray(clip, np.float32), n_fft, hop_length, defaults.WINDOW)
    n_bins = V.shape[0]
    result = fit(stack_frames(V, context), n_components, beta=beta, iterations=iterations, tolerance=defaults.TRAIN_TOLERANCE,
                 init=defaults.INIT, seed=defaults.SEED, sparsity=sparsity)
    current = Dictionary(W=result.W[:n_bins], sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, window=defaults.WINDOW,
                         beta=beta)
    return ContextDictionary(W=result.W, context=context, current=current)


def context_estimate(separator: NMFSeparator, context: ContextDictionary, mix: np.ndarray, *, converge: bool) -> np.ndarray:
    """Separation with causal temporal context: activations against the stacked templates, mask from the current slice.

    Parameters
    ----------
    separator : NMFSeparator
        Holds the current-frame slice, the kept components and the per-frame settings.
    context : ContextDictionary
    mix : np.ndarray [shape=(n_samples,)]
    converge : bool
        True: every stacked frame solved to convergence (the converged defaults,
        as the "offline" column). False: what the engine would do with the
        stacked templates, emulated with its :class:`realtime_nmf.nmf.FrameSolver` and its
        settings: ``iterations`` updates per frame, frames solved in batches of
        ``batch_frames``, each warm-started from the frame ``batch_frames`` earlier
        blended with ``flat_start`` of a flat start.

    Returns
    -------
    np.ndarray [shape=(n_samples,)]
    """
    d, p = separator.dictionary, separator.params
    S = context.spectrum(mix)
    V = context.stack(np.abs(S))
    if converge:
        H = solve_activations(V, context.W, beta=d.beta, iterations=defaults.CONVERGED_ITERATIONS, tolerance=defaults.CONVERGED_TOLERANCE,
                              sparsity=p["sparsity"])
    else:
        batch = p["batch_frames"]
        solver = FrameSolver(context.W, beta=d.beta, iterations=p["iterations"], tolerance=p["tolerance"], sparsity=p["sparsity"], max_rows=batch)
        frames = np.ascontiguousarray(V.T)  # one stacked frame per row, the solver's orientation
        rows = np.empty((frames.shape[0], d.n_components), np.float32)
        for first in range(0, frames.shape[0], batch):
            v, h = frames[first : first + batch], rows[first : first + batch]
            if first == 0:
                solver.start(v, h)
            else:
                h[...] = rows[first - batch : first - batch + h.shape[0]]
                solver.warm_start(v, h, p["flat_start"])
            solver.solve(v, h)
        H = rows.T
    return masked_signal(d, separator_mask(separator, d.W, S, H), mix.shape[0])


# --------------------------------------------------------------------------------------
# causal frame-wise features of converged activations


def prototype_estimate(kind: str, options: dict, separator: NMFSeparator, mix: np.ndarray) -> np.ndarray:
    """A causal frame-wise feature the engine does not have, computed offline frame by frame.

    Every frame's activations are solved to convergence (as in the offline column), then:

    - ``smooth``: the activations are smoothed causally, ``h_m <- alpha h_{m-1} + (1 - alpha) h_m``,
      before the mask is built (temporal smoothing of activations, as FluCoMa users ask for);
    - ``floor``: the mask is kept above ``floor`` (a spectral floor, Berouti et al. 1979);
    - ``adapt``: online adaptation (Duan, Mysore and Smaragdis 2012; Lefevre, Bach and
      Fevotte 2011): ``n_free`` extra background templates, never kept, are learned
      while streaming by multiplicative updates on statistics accumulated with a
      forgetting factor, the dictionary's templates staying fixed.

    (Temporal context, which changes the templates themselves, is :func:`context_estimate`.)

    Parameters
    ----------
    kind : {"smooth", "floor", "adapt"}
    options : dict
        ``alpha`` (smooth), ``floor`` (floor), ``n_free`` and ``forget`` (adapt).
    separator : NMFSeparator
        The dictionary, kept components and mask.
    mix : np.ndarray [shape=(n_samples,)]

    Returns
    -------
    np.ndarray [shape=(n_samples,)]
    """
    d = separator.dictionary
    if kind in ("smooth", "floor"):
        S, H = decompose(d, mix)
        if kind == "smooth":
            alpha = options["alpha"]
            for m in range(1, H.shape[1]):
                H[:, m] = alpha * H[:, m - 1] + (1 - alpha) * H[:, m]
        masked = separator_mask(separator, d.W, S, H)
        if kind == "floor":  # the mask floor + (1 - floor) * mask, applied to S
            masked = options["floor"] * S + (1 - options["floor"]) * masked
    elif kind == "adapt":
        S = stft(mix[:, None], d.n_fft, d.hop_length, d.window)[:, :, 0]
        masked = adapted_mask(separator, S, n_free=options["n_free"], forget=options["forget"])
    else:
        raise ValueError(f"unknown prototype {kind!r}")
    return masked_signal(d, masked, mix.shape[0])


def adapted_mask(separator: NMFSeparator, S: np.ndarray, *, n_free: int, forget: float) -> np.ndarray:
    """``S`` masked frame by frame while ``n_free`` free background templates adapt (the ``adapt`` prototype).

    Each frame's activations (the dictionary's templates and the free ones) get 30
    multiplicative updates from a blended warm start; the mask keeps the separator's kept
    components (never a free template); then the free templates take one multiplicative
    step on the beta-divergence statistics accumulated with the forgetting factor.

    Returns
    -------
    np.ndarray [shape=S.shape, dtype=complex64]
    """
    d, p = separator.dictionary, separator.params
    eps, beta = defaults.EPS, d.beta
    gamma = mu_exponent(beta)
    V = np.abs(S).astype(np.float32)
    rng = np.random.default_rng(0)
    free = 1.0 + 0.1 * rng.random((d.n_bins, n_free))
    free /= np.linalg.norm(free, axis=0)
    numerator = np.zeros_like(free)
    denominator = np.zeros_like(free)
    out = np.empty(S.shape, np.complex64)
    h = None
    for m in range(V.shape[1]):
        v = V[:, m].astype(np.float64)
        W = np.concatenate([d.W, free], axis=1)
        flat = np.full(W.shape[1], max(v.sum() / W.sum(), eps))
        h = flat if h is None else np.maximum(0.8 * h * v.sum() / max((W @ h).sum(), eps) + 0.2 * flat, eps)
        for _ in range(30):
            wh = np.maximum(W @ h, eps)
            h = np.maximum(h * ((W.T @ (v * wh ** (beta - 2))) / np.maximum(W.T @ wh ** (beta - 1), eps)) ** gamma, eps)
        frame = np.array(S[None, :, m], dtype=np.complex64)
        Masker(W.astype(np.float32), separator.keep, p["mask"], p["mask_exponent"], 1).apply(frame, h[None].astype(np.float32))
        out[:, m] = frame[0]
        wh = np.maximum(W @ h, eps)
        hf = h[d.n_components:]
        numerator = forget * numerator + np.outer(v * wh ** (beta - 2), hf)
        denominator = forget * denominator + np.outer(wh ** (beta - 1), hf)
        free = np.maximum(free * (numerator / np.maximum(denominator, eps)) ** gamma, eps)
        free /= np.maximum(np.linalg.norm(free, axis=0), eps)
    return out
