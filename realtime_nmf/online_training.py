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
from typing import Callable, Mapping, Sequence

import numpy as np

from . import __version__, defaults
from .audio import audio_info, segment_frames
from .dictionary import Dictionary
from .errors import ParameterError
from .file_frames import FrameReader, resampled_length
from .nmf import validate_beta
from .online_data import initial_templates
from .online_nmf import online_fit
from .stft import n_frames_for

__all__ = ["learn_dictionary_online", "train_dictionary_online", "learn_labelled_dictionary_online", "train_labelled_dictionary_online",
           "spectrogram_bytes", "full_batch_memory", "FULL_BATCH_FACTOR"]


def _rate(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name}={value!r} must be a whole number of samples per second, at least 1")
    return int(value)


#: The options of online training besides those of full-batch training.
ONLINE_OPTIONS = ("batch_frames", "passes", "forget", "solver_iterations", "solver_tolerance", "run_frames", "init_frames")


def _readers(clips: Sequence, names: Sequence[str], settings: dict) -> list:
    readers = [clip if isinstance(clip, FrameReader) else FrameReader(clip, name=names[index] if index < len(names) else None, **settings)
               for index, clip in enumerate(clips)]
    for reader in readers:
        if reader.n_samples < reader.n_fft:  # as full-batch training says it
            rate = reader.sample_rate
            raise ParameterError(f"{reader.name} is {reader.n_samples} samples ({1000 * reader.n_samples / rate:.0f} ms) long, shorter than one "
                                 f"analysis window; training needs at least n_fft={reader.n_fft} samples ({1000 * reader.n_fft / rate:.0f} ms), "
                                 "and a few seconds to learn well")
    return readers


def _online_settings(options: dict, mini_batches: int, history) -> dict:
    """The online settings for the provenance, defaults filled in."""
    settings = {name: options.get(name, getattr(defaults, "ONLINE_" + name.upper())) for name in ONLINE_OPTIONS}
    settings["run_frames"] = min(settings["run_frames"], settings["batch_frames"])
    settings["mini_batches"] = mini_batches
    if history is not None:
        settings["divergence_per_frame_by_pass"] = history
    return settings


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
    start: float | None = None,
    end: float | None = None,
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
    start, end : float, optional
        Seconds: learn from this part of every clip (see :func:`realtime_nmf.audio.frames_between`).
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
    readers = _readers(clips, [str(s) for s in sources], dict(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, window=window,
                                                              power=power, start=start, end=end))
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
        "online": _online_settings(dict(passes=passes, batch_frames=batch_frames, run_frames=run_frames, forget=forget,
                                        solver_iterations=solver_iterations, solver_tolerance=solver_tolerance, init_frames=init_frames),
                                   result["n_updates"], result["history"]),
        "init": init,
        "seed": seed,
        "sparsity": sparsity,
        "latency_ms_requested": latency_ms,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
    }
    return Dictionary(W=result["W"], sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, window=window, beta=beta, power=power,
                      provenance=provenance)


def train_dictionary_online(clips: Sequence[str | Path], *, sample_rate: int | None = None, start: float | None = None,
                            end: float | None = None, **options) -> Dictionary:
    """:func:`learn_dictionary_online` from audio files, at ``sample_rate`` (by default the first file's rate).

    ``start`` and ``end`` (seconds) select the same part of every file, as for
    :func:`realtime_nmf.training.train_dictionary`; they are checked against every file
    before anything is learned.
    """
    from .training import _segment_names

    if not clips:
        raise ParameterError("give at least one audio file to train on")
    infos = [audio_info(clip) for clip in clips]
    if sample_rate is None:
        sample_rate = infos[0].sample_rate
    options.setdefault("sources", _segment_names(infos, start, end))
    return learn_dictionary_online(list(clips), _rate("sample_rate", sample_rate), start=start, end=end, **options)


def learn_labelled_dictionary_online(
    target: Sequence,
    sample_rate: int,
    *,
    background: Sequence = (),
    mixtures: Sequence = (),
    n_components: int = defaults.N_COMPONENTS,
    target_components: int | None = None,
    target_label: str = defaults.TARGET_LABEL,
    background_label: str = defaults.BACKGROUND_LABEL,
    beta: float = defaults.BETA,
    n_fft: int | None = None,
    hop_length: int | None = None,
    window: str = defaults.WINDOW,
    latency_ms: float | None = None,
    power: float = defaults.POWER,
    init: str = defaults.INIT,
    seed: int | None = defaults.SEED,
    sparsity: float = defaults.SPARSITY,
    start: float | None = None,
    end: float | None = None,
    sources: Mapping[str, Sequence[str]] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    **online,
) -> Dictionary:
    """Labelled target and background templates learned online: :func:`realtime_nmf.training.learn_labelled_dictionary` out of core.

    The same steps, each an :func:`~realtime_nmf.online_nmf.online_fit` over its clips:
    the target templates from the target-only clips; the background templates from the
    background-only clips; with mixtures, all templates refined on them with the target
    templates held fixed (semi-supervised; without background clips the background
    templates start from the mixtures' streaming nndsvda).

    Parameters
    ----------
    target, background, mixtures : sequence of str, Path or np.ndarray [shape=(n_samples,)]
        Files or mono signals at ``sample_rate``; ``background`` or ``mixtures`` (or both)
        must hold something.
    sample_rate : int
    n_components, target_components, target_label, background_label
        As for :func:`realtime_nmf.training.learn_labelled_dictionary`.
    beta, n_fft, hop_length, window, latency_ms, power, init, seed, sparsity, start, end
        As for :func:`learn_dictionary_online`.
    sources : dict, optional
        Names for the provenance: ``{"target": [...], "background": [...], "mixtures": [...]}``.
    progress : callable(done, total, divergence), optional
        Mini-batches count on across the steps.
    **online
        ``batch_frames``, ``passes``, ``forget``, ``solver_iterations``,
        ``solver_tolerance``, ``run_frames``, ``init_frames`` (see :func:`learn_dictionary_online`).

    Returns
    -------
    Dictionary
    """
    from .training import resolve_stft_settings, validate_label

    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 2:
        raise ParameterError(f"n_components={n_components!r} must be a whole number, at least 2 (target and background templates)")
    target_components = int(n_components) // 2 if target_components is None else target_components
    if isinstance(target_components, bool) or not isinstance(target_components, (int, np.integer)) or not 1 <= target_components < n_components:
        raise ParameterError(f"target_components={target_components!r} must be a whole number from 1 to n_components - 1 = {n_components - 1}, "
                             "so that some templates are left for the background")
    target_label, background_label = validate_label(target_label, "target_label"), validate_label(background_label, "background_label")
    if target_label == background_label:
        raise ParameterError(f"target_label and background_label are both {target_label!r}; give them different names")
    if not target:
        raise ParameterError("give target-only audio (--target FILE)")
    if not background and not mixtures:
        raise ParameterError("give background-only audio or mixtures to learn the background templates from "
                             "(rtnmf train --target T --background B, or --target T MIXTURE ...)")
    beta = validate_beta(beta)
    sample_rate = _rate("sample_rate", sample_rate)
    n_fft, hop_length, window = resolve_stft_settings(sample_rate, n_fft, hop_length, window, latency_ms)
    settings = dict(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, window=window, power=power, start=start, end=end)
    unknown = sorted(set(online) - set(ONLINE_OPTIONS))
    if unknown:
        raise ParameterError(f"{unknown[0]!r} is not an option of online training; use {', '.join(ONLINE_OPTIONS)}")
    fit_options = dict(beta=beta, init=init, seed=seed, sparsity=sparsity, **online)
    n_background = int(n_components) - int(target_components)
    stages, done = [], [0]

    def stage(role, clips, k, **extra):
        names = [str(name) for name in (sources or {}).get(role, ())]
        readers = _readers(clips, names, settings)

        def report(count, total, value):
            if progress is not None:
                progress(done[0] + count, done[0] + total, value)

        result = online_fit(readers, k, progress=report, **fit_options, **extra)
        done[0] += result["n_updates"]
        stages.append({"role": role, "sources": names or [r.name for r in readers], "n_frames": result["n_frames"],
                       "duration_seconds": sum(r.n_samples for r in readers) / sample_rate, "mini_batches": result["n_updates"],
                       "divergence_per_frame": result["divergence_per_frame"], "divergence": result["divergence_per_frame"] * result["n_frames"]})
        return result["W"], readers

    W_target, _ = stage("target", target, int(target_components))
    W_background = stage("background", background, n_background)[0] if background else None
    if mixtures:
        if W_background is None:
            names = [str(name) for name in (sources or {}).get("mixtures", ())]
            W_background = initial_templates(_readers(mixtures, names, settings), n_background, init=init, seed=seed)
        W_init = np.concatenate([W_target, W_background], axis=1)
        W = stage("mixtures", mixtures, int(n_components), W_init=W_init, fixed_components=range(int(target_components)))[0]
    else:
        W = np.concatenate([W_target, W_background], axis=1)
    last = stages[-1]
    provenance = {
        "method": "semi-supervised" if mixtures else "supervised",
        "training": "online",
        "sources": [name for stage_ in stages for name in stage_["sources"]],
        "stages": stages,
        "duration_seconds": sum(stage_["duration_seconds"] for stage_ in stages),
        "n_frames": sum(stage_["n_frames"] for stage_ in stages),
        "iterations": online.get("passes", defaults.ONLINE_PASSES),
        "converged": False,
        "divergence": last["divergence"],
        "divergence_per_frame": last["divergence_per_frame"],
        "online": _online_settings(online, sum(stage_["mini_batches"] for stage_ in stages), None),
        "init": init,
        "seed": seed,
        "sparsity": sparsity,
        "latency_ms_requested": latency_ms,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
    }
    labels = [target_label] * int(target_components) + [background_label] * n_background
    return Dictionary(W=W, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, window=window, beta=beta, power=power,
                      labels=labels, provenance=provenance)


def train_labelled_dictionary_online(target: Sequence[str | Path], *, background: Sequence[str | Path] = (),
                                     mixtures: Sequence[str | Path] = (), sample_rate: int | None = None, start: float | None = None,
                                     end: float | None = None, **options) -> Dictionary:
    """:func:`learn_labelled_dictionary_online` from audio files, at ``sample_rate`` (by default the first target file's).

    ``start`` and ``end`` (seconds) select the same part of every file.
    """
    from .training import _segment_names

    if not target:
        raise ParameterError("give at least one target-only audio file (--target FILE)")
    infos = {role: [audio_info(path) for path in paths] for role, paths in (("target", target), ("background", background),
                                                                              ("mixtures", mixtures))}
    if sample_rate is None:
        sample_rate = infos["target"][0].sample_rate
    names = {role: _segment_names(items, start, end) for role, items in infos.items()}
    return learn_labelled_dictionary_online(list(target), _rate("sample_rate", sample_rate), background=list(background),
                                            mixtures=list(mixtures), sources=names, start=start, end=end, **options)


# --------------------------------------------------------------------------------------
# when to train online

#: Peak memory of full-batch training per byte of the spectrogram (measured: 1.85).
FULL_BATCH_FACTOR = 1.85


def spectrogram_bytes(clips: Sequence[str | Path], sample_rate: int, n_fft: int, hop_length: int, *, start: float | None = None,
                      end: float | None = None) -> tuple[int, int]:
    """Bytes of the float32 spectrogram full-batch training would hold, and its frames.

    Parameters
    ----------
    clips : sequence of str or Path
    sample_rate, n_fft, hop_length : int
    start, end : float, optional
        Seconds: only this part of every clip.

    Returns
    -------
    n_bytes, n_frames : int
    """
    n_frames = 0
    for clip in clips:
        info = audio_info(clip)
        first, stop = segment_frames(info, start, end)
        n_frames += n_frames_for(resampled_length(stop - first, info.sample_rate, sample_rate), n_fft, hop_length)
    return n_frames * (n_fft // 2 + 1) * 4, n_frames


def full_batch_memory(clips: Sequence[str | Path], sample_rate: int, n_fft: int, hop_length: int, *, start: float | None = None,
                      end: float | None = None) -> int:
    """Bytes full-batch training of the clips (or of their parts from ``start`` to ``end`` seconds) is expected to need at its peak.

    The spectrogram, the workspace of the updates (:data:`FULL_BATCH_FACTOR` times the
    spectrogram in all) and the largest clip's decoded audio.
    """
    n_bytes, _ = spectrogram_bytes(clips, sample_rate, n_fft, hop_length, start=start, end=end)
    largest = 0
    for clip in clips:
        info = audio_info(clip)
        first, stop = segment_frames(info, start, end)
        largest = max(largest, (stop - first) * info.n_channels)
    return int(FULL_BATCH_FACTOR * n_bytes) + 8 * largest
