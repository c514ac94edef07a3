"""What online training reads: the order of every pass, and initial templates from streaming passes.

Online training (:mod:`realtime_nmf.online_training`) never holds the spectrogram. This
module plans which frames each mini-batch holds (:func:`plan_pass`: short runs of
consecutive frames from random places, a new order every pass) and computes the initial
templates from sequential passes over the clips (:func:`initial_templates`: the nndsvda
initialisation of all the frames, from their Gram matrix). The frames themselves are
read by :mod:`realtime_nmf.file_frames`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import defaults
from .errors import ParameterError
from .file_frames import FrameReader, read_runs
from .nmf import initialize

__all__ = ["plan_pass", "initial_templates", "random_streams", "GRAM_MAX_BINS"]

EPS = defaults.EPS


def plan_pass(n_frames: Sequence[int], batch_frames: int, run_frames: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The mini-batches of one pass, in the order they are visited.

    Each clip's frames are split into ``ceil(n / run_frames)`` runs of consecutive frames
    of nearly equal length; the runs of all clips are put in a random order and packed,
    in that order, into mini-batches of at most ``batch_frames`` frames. Short runs from
    many places make every mini-batch a sample of the whole collection, not a stretch of
    one recording (which, on a collection of different recordings, made the templates
    jump from one mini-batch to the next).

    Parameters
    ----------
    n_frames : sequence of int
        Frames of each clip.
    batch_frames, run_frames : int
    rng : np.random.Generator

    Returns
    -------
    list of np.ndarray [shape=(n_runs, 3), dtype=int64]
        Per mini-batch, its runs as rows ``(clip, start, stop)``.
    """
    runs = []
    for clip, n in enumerate(n_frames):
        pieces = -(-int(n) // run_frames)
        edges = np.round(np.arange(pieces + 1) * (int(n) / pieces)).astype(np.int64)
        keep = edges[1:] > edges[:-1]
        runs.append(np.stack([np.full(int(keep.sum()), clip), edges[:-1][keep], edges[1:][keep]], axis=1))
    runs = np.concatenate(runs)[rng.permutation(sum(len(r) for r in runs))]
    sizes = np.cumsum(runs[:, 2] - runs[:, 1])
    batches, first, base = [], 0, 0
    while first < len(runs):
        # the longest prefix of the remaining runs within batch_frames (at least one run)
        last = max(first + 1, int(np.searchsorted(sizes, base + batch_frames, side="right")))
        batches.append(runs[first:last])
        base, first = int(sizes[last - 1]), last
    return batches


def random_streams(seed: int | None) -> list:
    """Two independent random streams from one seed: the initial sample's and the passes' orders."""
    return np.random.SeedSequence(seed).spawn(2)


#: Largest number of frequency bins for which the nndsvda initialisation accumulates the
#: ``n_bins x n_bins`` Gram matrix of all frames (2049: n_fft 4096, 34 MB); above it the
#: initialisation uses the random sample of frames alone.
GRAM_MAX_BINS = 2049


def initial_templates(readers: Sequence[FrameReader], n_components: int, *, init: str = defaults.INIT, seed: int | None = defaults.SEED,
                      init_frames: int = defaults.ONLINE_INIT_FRAMES, run_frames: int = defaults.ONLINE_RUN_FRAMES,
                      chunk_frames: int = 1024) -> np.ndarray:
    """Initial templates for :func:`online_fit`, without holding the spectrogram.

    ``"nndsvda"``: the non-negative double SVD of all the frames (Boutsidis and
    Gallopoulos 2008, zeros filled with the mean, as :func:`realtime_nmf.nmf.initialize`
    and scikit-learn do), from two sequential passes over the clips (each holding one
    chunk of frames): the first sums the ``n_bins x n_bins`` Gram matrix ``V @ V.T`` and
    the mean of ``V``, whose leading eigenvectors are the left singular vectors; the
    second measures the share of each right singular vector's energy on its positive
    side, which decides the sign of each template. On the heart and lung recordings this
    start ended several per cent lower in held-out divergence than nndsvda of a random
    sample of frames, whose signs come out differently for some templates. Above
    :data:`GRAM_MAX_BINS` bins, nndsvda of a random sample of ``init_frames`` frames
    (drawn as :func:`plan_pass` draws a mini-batch) is used instead. ``"random"``:
    ``|N(0, 1)|`` entries drawn from ``seed``.

    Parameters
    ----------
    readers : sequence of FrameReader or ArrayFrames
    n_components : int
    init : {"nndsvda", "random"}
    seed : int or None
    init_frames, run_frames, chunk_frames : int

    Returns
    -------
    W : np.ndarray [shape=(n_bins, n_components), dtype=float32]
    """
    n_bins = readers[0].n_bins
    if init == "random":
        W = np.abs(np.random.default_rng(random_streams(seed)[0]).standard_normal((n_bins, n_components)))
        return W.astype(np.float32)
    if init != "nndsvda":
        raise ParameterError(f"init={init!r} is not known; use 'nndsvda' or 'random'")
    if n_bins > GRAM_MAX_BINS:
        sample = plan_pass([r.n_frames for r in readers], init_frames, run_frames, np.random.default_rng(random_streams(seed)[0]))[0]
        sample = read_runs(readers, sample[np.lexsort((sample[:, 1], sample[:, 0]))])  # in file order: fewer seeks back
        if float(sample.max(initial=0.0)) <= 0:
            raise ParameterError(f"the {sample.shape[1]} frames sampled to initialise the templates are all silent; "
                                 "trim the silence from the recordings, or use init 'random'")
        return initialize(sample, n_components, init="nndsvda", seed=seed)[0]
    gram = np.zeros((n_bins, n_bins), np.float64)
    total, count = 0.0, 0
    for reader in readers:
        for _, V in reader.chunks(chunk_frames):
            gram += V @ V.T
            total += float(V.sum(dtype=np.float64))
            count += V.size
    if total <= 0:
        raise ParameterError("the training audio is silent (all zeros): there is nothing to learn")
    eigenvalues, vectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1][:n_components]
    singular = np.sqrt(np.maximum(eigenvalues[order], 0.0))
    U = vectors[:, order]
    Ut = np.ascontiguousarray(U.T, dtype=np.float32)
    positive, energy = np.zeros(U.shape[1]), np.zeros(U.shape[1])
    for reader in readers:
        for _, V in reader.chunks(chunk_frames):
            y = Ut @ V  # the right singular vectors' entries for these frames, times the singular values
            energy += np.einsum("kn,kn->k", y, y, dtype=np.float64)
            np.maximum(y, 0, out=y)
            positive += np.einsum("kn,kn->k", y, y, dtype=np.float64)
    average = total / count
    W = np.zeros((n_bins, n_components), np.float64)
    W[:, 0] = np.sqrt(singular[0]) * np.abs(U[:, 0])
    for j in range(1, U.shape[1]):
        x = U[:, j]
        x_p, x_n = np.maximum(x, 0), np.maximum(-x, 0)
        share = positive[j] / energy[j] if energy[j] > 0 else 0.5  # of the right singular vector's energy, on its positive side
        m_p = np.linalg.norm(x_p) * np.sqrt(share)
        m_n = np.linalg.norm(x_n) * np.sqrt(1.0 - share)
        u, sigma = (x_p, m_p) if m_p > m_n else (x_n, m_n)
        W[:, j] = np.sqrt(singular[j] * sigma) * u / max(np.linalg.norm(u), EPS)
    W[W < EPS] = average
    return W.astype(np.float32)
