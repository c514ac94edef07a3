"""Dictionaries learned out of core: ``rtnmf train --online``, and when to train that way.

:func:`learn_dictionary_online` and :func:`train_dictionary_online` are the online
counterparts of :func:`realtime_nmf.training.learn_dictionary` and
:func:`realtime_nmf.training.train_dictionary`: the same settings and the same kind of
:class:`~realtime_nmf.dictionary.Dictionary`, learned by online NMF
(:func:`realtime_nmf.online_nmf.online_fit`) from mini-batches read from the files, so
memory does not grow with the length of the recordings. :func:`full_batch_memory`
estimates what full-batch training would need, which ``rtnmf train --max-memory``
compares with its limit.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import __version__, defaults
from .audio import audio_info
from .dictionary import Dictionary
from .errors import ParameterError
from .file_frames import FrameReader, resampled_length
from .nmf import validate_beta
from .online_nmf import online_fit
from .stft import n_frames_for

__all__ = ["learn_dictionary_online", "train_dictionary_online", "spectrogram_bytes", "full_batch_memory", "FULL_BATCH_FACTOR"]


def _rate(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name}={value!r} must be a whole number of samples per second, at least 1")
    return int(value)


def learn_dictionary_online(
    clips: Sequence,
    sample_rate: int,
    *,
    n_components: int = defaults.N_COMPONENTS,
    beta: float = defaults.BETA,
    n_fft: int | None = None,
    hop_length: int | None = None,
    window: str = defaults.WINDOW,
    latency_ms: float | None = None,
    power: float = defaults.POWER,
    init: str = defaults.INIT,
    seed: int | None = defaults.SEED,
    sparsity: float = defaults.SPARSITY,
    batch_frames: int = defaults.ONLINE_BATCH_FRAMES,
    passes: int = defaults.ONLINE_PASSES,
    forget: float = defaults.ONLINE_FORGET,
    solver_iterations: int = defaults.ONLINE_SOLVER_ITERATIONS,
    solver_tolerance: float = defaults.ONLINE_SOLVER_TOLERANCE,
    run_frames: int = defaults.ONLINE_RUN_FRAMES,
    init_frames: int = defaults.ONLINE_INIT_FRAMES,
    sources: Sequence[str] = (),
    progress: Callable[[int, int, float], None] | None = None,
) -> Dictionary:
    """Learn a dictionary by online NMF, reading the clips a mini-batch at a time (:func:`online_fit`).

    Parameters
    ----------
    clips : sequence of str, Path or np.ndarray [shape=(n_samples,)]
        Audio files (mixed to mono, resampled to ``sample_rate`` piece by piece) or mono
        signals at ``sample_rate``. Files are never loaded whole.
    sample_rate : int
    n_components, beta, init, seed, sparsity
        As for :func:`realtime_nmf.training.learn_dictionary`.
    n_fft, hop_length, window, latency_ms, power
        As for :func:`realtime_nmf.training.learn_dictionary`.
    batch_frames, passes, forget, solver_iterations, solver_tolerance, run_frames, init_frames
        See :func:`online_fit`.
    sources : sequence of str
        Names for the provenance; by default the file names.
    progress : callable(done, total, divergence), optional

    Returns
    -------
    Dictionary
        Its provenance says ``method: online`` and holds the online settings.
    """
    from .training import resolve_stft_settings

    beta = validate_beta(beta)
    sample_rate = _rate("sample_rate", sample_rate)
    n_fft, hop_length, window = resolve_stft_settings(sample_rate, n_fft, hop_length, window, latency_ms)
    readers = [clip if isinstance(clip, FrameReader) else
               FrameReader(clip, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, window=window, power=power,
                           name=sources[index] if index < len(sources) else None)
               for index, clip in enumerate(clips)]
    result = online_fit(readers, n_components, beta=beta, init=init, seed=seed, sparsity=sparsity, batch_frames=batch_frames,
                        passes=passes, forget=forget, solver_iterations=solver_iterations, solver_tolerance=solver_tolerance,
                        run_frames=run_frames, init_frames=init_frames, progress=progress)
    provenance = {
        "method": "online",
        "sources": [str(s) for s in sources] or [reader.name for reader in readers],
        "duration_seconds": sum(reader.n_samples for reader in readers) / sample_rate,
        "n_frames": result["n_frames"],
        "iterations": passes,
        "converged": False,
        "divergence": result["divergence_per_frame"] * result["n_frames"],
        "divergence_per_frame": result["divergence_per_frame"],
        "online": {"passes": passes, "batch_frames": batch_frames, "run_frames": min(run_frames, batch_frames), "forget": forget,
                   "mini_batches": result["n_updates"], "solver_iterations": solver_iterations, "solver_tolerance": solver_tolerance,
                   "init_frames": init_frames, "divergence_per_frame_by_pass": result["history"]},
        "init": init,
        "seed": seed,
        "sparsity": sparsity,
        "latency_ms_requested": latency_ms,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
    }
    return Dictionary(W=result["W"], sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, window=window, beta=beta, power=power,
                      provenance=provenance)


def train_dictionary_online(clips: Sequence[str | Path], *, sample_rate: int | None = None, **options) -> Dictionary:
    """:func:`learn_dictionary_online` from audio files, at ``sample_rate`` (by default the first file's rate)."""
    if not clips:
        raise ParameterError("give at least one audio file to train on")
    if sample_rate is None:
        sample_rate = audio_info(clips[0]).sample_rate
    return learn_dictionary_online(list(clips), _rate("sample_rate", sample_rate), **options)


# --------------------------------------------------------------------------------------
# when to train online

#: Peak memory of full-batch training per byte of the spectrogram (measured: 1.85).
FULL_BATCH_FACTOR = 1.85


def spectrogram_bytes(clips: Sequence[str | Path], sample_rate: int, n_fft: int, hop_length: int) -> tuple[int, int]:
    """Bytes of the float32 spectrogram full-batch training would hold, and its frames.

    Parameters
    ----------
    clips : sequence of str or Path
    sample_rate, n_fft, hop_length : int

    Returns
    -------
    n_bytes, n_frames : int
    """
    n_frames = 0
    for clip in clips:
        info = audio_info(clip)
        n_frames += n_frames_for(resampled_length(info.n_samples, info.sample_rate, sample_rate), n_fft, hop_length)
    return n_frames * (n_fft // 2 + 1) * 4, n_frames


def full_batch_memory(clips: Sequence[str | Path], sample_rate: int, n_fft: int, hop_length: int) -> int:
    """Bytes full-batch training of the clips is expected to need at its peak (spectrogram, workspace, one clip's audio)."""
    n_bytes, _ = spectrogram_bytes(clips, sample_rate, n_fft, hop_length)
    largest = max((audio_info(clip).n_samples * audio_info(clip).n_channels for clip in clips), default=0)
    return int(FULL_BATCH_FACTOR * n_bytes) + 8 * largest
