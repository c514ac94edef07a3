"""Learning a dictionary from recordings: spectrograms, NMF, and the provenance that goes with it.

Two ways:

- :func:`learn_dictionary` (``rtnmf train CLIP``): NMF of the clips; the components are
  unlabelled and a listener picks the ones to keep (``rtnmf audition``);
- :func:`learn_labelled_dictionary` (``rtnmf train --target T --background B``):
  supervised and semi-supervised NMF (Smaragdis, Raj and Shashanka 2007): target
  templates learned from target-only clips, background templates from background-only
  clips and/or from mixtures with the target templates held fixed; every component is
  labelled, so a preset keeps the target by its label.
"""

from __future__ import annotations

import datetime
import itertools
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from . import defaults
from ._version import __version__
from .audio import audio_info, check_finite, load, segment_frames
from .dictionary import Dictionary, validate_label
from .errors import ParameterError
from .nmf import fit, initial_activations, initialize, validate_beta
from .stft import magnitude_spectrogram, validate_stft_settings
from .windows import ASYMMETRIC, hop_for_latency

__all__ = ["learn_dictionary", "train_dictionary", "learn_labelled_dictionary", "train_labelled_dictionary", "resolve_stft_settings",
           "validate_label"]


def resolve_stft_settings(sample_rate: int, n_fft: int | None = None, hop_length: int | None = None, window: str = defaults.WINDOW,
                          latency_ms: float | None = None):
    """Fill in default ``n_fft`` (about 50 ms) and hop (a quarter of it) for ``sample_rate``, and validate.

    With ``latency_ms``, the window design is the asymmetric low-latency pair and the hop
    the longest whose latency ``2 * hop - 1`` is at most ``latency_ms``
    (:func:`realtime_nmf.windows.hop_for_latency`); ``n_fft`` keeps its value (the
    frequency resolution). A hop or another window given with it is an error.
    """
    if n_fft is None and defaults.default_n_fft(sample_rate) < _SMALLEST_N_FFT:
        lowest = _SMALLEST_N_FFT / defaults.WINDOW_SECONDS
        raise ParameterError(f"sample_rate={sample_rate} Hz is too low for audio: the default 50 ms window would hold "
                             f"{defaults.WINDOW_SECONDS * sample_rate:.2g} samples; give a rate of at least {lowest:.0f} Hz "
                             "(e.g. 4000, 22050 or 44100), or --n-fft")
    n_fft = defaults.default_n_fft(sample_rate) if n_fft is None else n_fft
    if latency_ms is not None:
        if hop_length is not None:
            raise ParameterError(f"give a latency (latency_ms={latency_ms!r}) or a hop (hop_length={hop_length!r}), not both: "
                                 "the latency sets the hop")
        if window not in (defaults.WINDOW, ASYMMETRIC):
            raise ParameterError(f"latency_ms={latency_ms!r} uses the {ASYMMETRIC!r} windows; drop window={window!r}")
        n_fft = validate_stft_settings(n_fft, 1, defaults.WINDOW)[0]
        return validate_stft_settings(n_fft, hop_for_latency(latency_ms, sample_rate, n_fft), ASYMMETRIC)
    hop_length = defaults.default_hop_length(int(n_fft)) if hop_length is None else hop_length
    return validate_stft_settings(n_fft, hop_length, window)


#: The smallest window :func:`realtime_nmf.stft.validate_stft_settings` accepts.
_SMALLEST_N_FFT = 16


def _segment_names(infos, start, end) -> list[str]:
    """Check ``start``/``end`` against every file before anything is learned; the files' names with the part used."""
    part = "" if start is None and end is None else f" ({start or 0:g} s to {'the end' if end is None else f'{end:g} s'})"
    for info in infos:
        segment_frames(info, start, end)
    return [Path(info.path).name + part for info in infos]


def _check_number(name: str, value, minimum, kind=int):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or (kind is int and int(value) != value):
        raise ParameterError(f"{name}={value!r} must be {'a whole number' if kind is int else 'a number'}")
    if value < minimum:
        raise ParameterError(f"{name}={value!r} must be at least {minimum}")
    return kind(value)


def _joined_spectrogram(signals, sources, sample_rate, n_fft, hop_length, window, power, what="training audio"):
    """Magnitude (or power) spectrograms of mono signals, joined along time; and their total length in samples."""
    spectrograms = []
    total = 0
    for index, y in enumerate(signals):
        name = sources[index] if index < len(sources) else f"signal {index}"
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ParameterError(f"{name}: training needs mono signals of shape (n_samples,), got {y.shape}")
        check_finite(y, name)
        if y.shape[0] < n_fft:
            raise ParameterError(
                f"{name} is {y.shape[0]} samples ({1000 * y.shape[0] / sample_rate:.0f} ms) long, shorter than one analysis window; "
                f"training needs at least n_fft={n_fft} samples ({1000 * n_fft / sample_rate:.0f} ms), and a few seconds to learn well"
            )
        spectrograms.append(magnitude_spectrogram(y, n_fft, hop_length, window, power=power))
        total += y.shape[0]
        del y
    if not spectrograms:
        raise ParameterError(f"no {what} given")
    V = np.concatenate(spectrograms, axis=1) if len(spectrograms) > 1 else spectrograms[0]
    if float(V.max()) <= 0.0:
        raise ParameterError(f"the {what} is silent (all zeros): there is nothing to learn")
    return V, total


def learn_dictionary(
    signals: Iterable[np.ndarray],
    sample_rate: int,
    *,
    n_components: int = defaults.N_COMPONENTS,
    beta: float = defaults.BETA,
    iterations: int = defaults.TRAIN_ITERATIONS,
    tolerance: float = defaults.TRAIN_TOLERANCE,
    n_fft: int | None = None,
    hop_length: int | None = None,
    window: str = defaults.WINDOW,
    latency_ms: float | None = None,
    power: float = defaults.POWER,
    init: str = defaults.INIT,
    seed: int | None = defaults.SEED,
    sparsity: float = defaults.SPARSITY,
    sources: Sequence[str] = (),
    progress: Callable[[int, float], None] | None = None,
) -> Dictionary:
    """Learn a dictionary from mono signals already at ``sample_rate``.

    The magnitude spectrograms of all signals are joined along time and factorised with
    :func:`realtime_nmf.nmf.fit`.

    Parameters
    ----------
    signals : iterable of np.ndarray [shape=(n_samples,)]
        Consumed once, one signal at a time (a generator that loads each file lets every
        signal be freed once its spectrogram is made).
    sample_rate : int
    n_components, beta, iterations, tolerance, init, seed, sparsity
        See :func:`realtime_nmf.nmf.fit`.
    n_fft, hop_length : int, optional
        Default: about 50 ms and a quarter of it (:func:`resolve_stft_settings`).
    window : str
    latency_ms : float, optional
        Learn with the asymmetric low-latency windows whose streaming latency is at most
        this (the hop follows from it; :func:`resolve_stft_settings`).
    power : float
        1 for a magnitude spectrogram, 2 for power.
    sources : sequence of str
        Names recorded in the provenance.
    progress : callable(iteration, divergence), optional

    Returns
    -------
    Dictionary
    """
    n_components = _check_number("n_components", n_components, 1)
    iterations = _check_number("iterations", iterations, 1)
    beta = validate_beta(beta)
    sample_rate = _check_number("sample_rate", sample_rate, 1)
    n_fft, hop_length, window = resolve_stft_settings(sample_rate, n_fft, hop_length, window, latency_ms)
    V, total = _joined_spectrogram(signals, sources, sample_rate, n_fft, hop_length, window, power)
    if V.shape[1] < n_components:
        raise ParameterError(
            f"the training audio gives {V.shape[1]} frames, fewer than n_components={n_components}; "
            "use a longer recording or fewer components"
        )
    result = fit(V, n_components, beta=beta, iterations=iterations, tolerance=tolerance, init=init, seed=seed, sparsity=sparsity, callback=progress)
    provenance = {
        "sources": [str(s) for s in sources],
        "duration_seconds": total / sample_rate,
        "n_frames": int(V.shape[1]),
        "iterations": result.iterations,
        "converged": result.converged,
        "divergence": result.divergence,
        "divergence_per_frame": result.divergence / V.shape[1],
        "init": init,
        "seed": seed,
        "sparsity": sparsity,
        "tolerance": tolerance,
        "latency_ms_requested": latency_ms,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
    }
    return Dictionary(W=result.W, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, window=window, beta=beta,
                      power=power, provenance=provenance)


def train_dictionary(clips: Sequence[str | Path], *, sample_rate: int | None = None, start: float | None = None,
                     end: float | None = None, **options) -> Dictionary:
    """Learn a dictionary from audio files (mixed to mono, resampled to one rate).

    Parameters
    ----------
    clips : sequence of str or Path
    sample_rate : int, optional
        Rate to learn at; by default the first clip's rate.
    start, end : float, optional
        Seconds: learn from this part of every clip (see :func:`realtime_nmf.audio.segment_frames`).
    **options
        Passed to :func:`learn_dictionary`.

    Returns
    -------
    Dictionary
    """
    if not clips:
        raise ParameterError("give at least one audio file to train on")
    infos = [audio_info(clip) for clip in clips]
    if sample_rate is None:
        sample_rate = infos[0].sample_rate
    sample_rate = _check_number("sample_rate", sample_rate, 1)
    names = _segment_names(infos, start, end)
    signals = (load(info.path, sample_rate=sample_rate, mono=True, start=start, end=end)[0] for info in infos)  # one file at a time
    return learn_dictionary(signals, sample_rate, sources=names, **options)


# --------------------------------------------------------------------------------------
# labelled (supervised and semi-supervised) dictionaries


def _nonempty(signals: Iterable[np.ndarray]):
    """``signals`` as an iterator, or None when it holds nothing (without loading more than its first item)."""
    signals = iter(signals)
    first = next(signals, None)
    return None if first is None else itertools.chain([first], signals)


def learn_labelled_dictionary(
    target: Iterable[np.ndarray],
    sample_rate: int,
    *,
    background: Iterable[np.ndarray] = (),
    mixtures: Iterable[np.ndarray] = (),
    n_components: int = defaults.N_COMPONENTS,
    target_components: int | None = None,
    target_label: str = defaults.TARGET_LABEL,
    background_label: str = defaults.BACKGROUND_LABEL,
    beta: float = defaults.BETA,
    iterations: int = defaults.TRAIN_ITERATIONS,
    tolerance: float = defaults.TRAIN_TOLERANCE,
    n_fft: int | None = None,
    hop_length: int | None = None,
    window: str = defaults.WINDOW,
    latency_ms: float | None = None,
    power: float = defaults.POWER,
    init: str = defaults.INIT,
    seed: int | None = defaults.SEED,
    sparsity: float = defaults.SPARSITY,
    sources: Mapping[str, Sequence[str]] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> Dictionary:
    """Learn labelled target and background templates (supervised or semi-supervised NMF).

    1. The target templates: NMF of the target-only signals, ``target_components`` of them.
    2. With background-only signals: the background templates, NMF of those signals
       (supervised NMF: each source's templates from its own examples).
    3. With mixtures: NMF of the mixtures with the target templates held fixed, which
       learns (or, after step 2, refines) the background templates as whatever else the
       mixtures hold (semi-supervised NMF, Smaragdis, Raj and Shashanka 2007).

    The dictionary holds the target templates first, labelled ``target_label``, then the
    background templates, labelled ``background_label``, so a preset keeps the target with
    ``keep: <target_label>``.

    Parameters
    ----------
    target : iterable of np.ndarray [shape=(n_samples,)]
        Target-only signals (e.g. heart sounds), mono, at ``sample_rate``.
    sample_rate : int
    background : iterable of np.ndarray [shape=(n_samples,)]
        Background-only signals (e.g. lung sounds).
    mixtures : iterable of np.ndarray [shape=(n_samples,)]
        Signals holding the target and the background. At least one of ``background``
        and ``mixtures`` is needed.
    n_components : int
        Templates in all (target and background).
    target_components : int, optional
        Target templates; by default half of ``n_components``.
    target_label, background_label : str
        See :func:`validate_label`.
    beta, iterations, tolerance, init, seed, sparsity
        See :func:`realtime_nmf.nmf.fit`; used by every step (``iterations`` each).
    n_fft, hop_length, window, latency_ms, power
        See :func:`learn_dictionary`.
    sources : dict, optional
        Names for the provenance: ``{"target": [...], "background": [...], "mixtures": [...]}``.
    progress : callable(iteration, divergence), optional
        Iterations count on across the steps (up to ``iterations`` times the number of steps).

    Returns
    -------
    Dictionary
    """
    n_components = _check_number("n_components", n_components, 2)
    target_components = n_components // 2 if target_components is None else _check_number("target_components", target_components, 1)
    if target_components >= n_components:
        raise ParameterError(f"target_components={target_components} must be less than n_components={n_components}, "
                             "so that some templates are left for the background")
    iterations = _check_number("iterations", iterations, 1)
    beta = validate_beta(beta)
    target_label = validate_label(target_label, "target_label")
    background_label = validate_label(background_label, "background_label")
    if target_label == background_label:
        raise ParameterError(f"target_label and background_label are both {target_label!r}; give them different names")
    sample_rate = _check_number("sample_rate", sample_rate, 1)
    n_fft, hop_length, window = resolve_stft_settings(sample_rate, n_fft, hop_length, window, latency_ms)
    names = {role: [str(name) for name in (sources or {}).get(role, ())] for role in ("target", "background", "mixtures")}
    n_background = n_components - target_components
    options = dict(beta=beta, iterations=iterations, tolerance=tolerance, sparsity=sparsity)
    stages = []

    def stage_progress():
        offset = len(stages) * iterations
        return None if progress is None else (lambda iteration, divergence: progress(offset + iteration, divergence))

    def spectrogram(signals, role, what, k):
        V, total = _joined_spectrogram(signals, names[role], sample_rate, n_fft, hop_length, window, power, what=what)
        if V.shape[1] < k:
            raise ParameterError(f"the {what} gives {V.shape[1]} frames, fewer than the {k} components to learn from it; "
                                 "use a longer recording or fewer components")
        return V, total

    def record(role, V, total, result):
        stages.append({"role": role, "sources": names[role], "duration_seconds": total / sample_rate, "n_frames": int(V.shape[1]),
                       "iterations": result.iterations, "converged": result.converged, "divergence": result.divergence})

    background, mixtures = _nonempty(background), _nonempty(mixtures)
    if background is None and mixtures is None:
        raise ParameterError("give background-only audio or mixtures to learn the background templates from "
                             "(rtnmf train --target T --background B, or --target T MIXTURE ...)")
    V, total = spectrogram(target, "target", "target audio", target_components)
    result = fit(V, target_components, init=init, seed=seed, callback=stage_progress(), **options)
    record("target", V, total, result)
    W_target = result.W
    W_background = None
    if background is not None:
        V, total = spectrogram(background, "background", "background audio", n_background)
        result = fit(V, n_background, init=init, seed=seed, callback=stage_progress(), **options)
        record("background", V, total, result)
        W_background = result.W
    if mixtures is not None:
        V, total = spectrogram(mixtures, "mixtures", "mixture audio", n_components)
        if W_background is None:
            W_background = initialize(V, n_background, init=init, seed=seed)[0]
        W_init = np.concatenate([W_target, W_background.astype(W_target.dtype)], axis=1)
        result = fit(V, n_components, W_init=W_init, H_init=initial_activations(V, W_init), fixed_components=range(target_components),
                     callback=stage_progress(), **options)
        record("mixtures", V, total, result)
        W = result.W
    else:
        W = np.concatenate([W_target, W_background], axis=1)
    last = stages[-1]
    provenance = {
        "method": "semi-supervised" if mixtures is not None else "supervised",
        "sources": [name for role in ("target", "background", "mixtures") for name in names[role]],
        "stages": stages,
        "duration_seconds": sum(stage["duration_seconds"] for stage in stages),
        "n_frames": sum(stage["n_frames"] for stage in stages),
        "iterations": sum(stage["iterations"] for stage in stages),
        "converged": all(stage["converged"] for stage in stages),
        "divergence": last["divergence"],
        "divergence_per_frame": last["divergence"] / last["n_frames"],
        "init": init,
        "seed": seed,
        "sparsity": sparsity,
        "tolerance": tolerance,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
    }
    labels = [target_label] * target_components + [background_label] * n_background
    return Dictionary(W=W, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, window=window, beta=beta, power=power,
                      labels=labels, provenance=provenance)


def train_labelled_dictionary(
    target: Sequence[str | Path],
    *,
    background: Sequence[str | Path] = (),
    mixtures: Sequence[str | Path] = (),
    sample_rate: int | None = None,
    start: float | None = None,
    end: float | None = None,
    **options,
) -> Dictionary:
    """:func:`learn_labelled_dictionary` from audio files (mixed to mono, resampled to one rate).

    Parameters
    ----------
    target, background, mixtures : sequence of str or Path
    sample_rate : int, optional
        Rate to learn at; by default the first target file's rate.
    start, end : float, optional
        Seconds: learn from this part of every file.
    **options
        Passed to :func:`learn_labelled_dictionary`.

    Returns
    -------
    Dictionary
    """
    if not target:
        raise ParameterError("give at least one target-only audio file (--target FILE)")
    infos = {role: [audio_info(path) for path in paths] for role, paths in (("target", target), ("background", background),
                                                                              ("mixtures", mixtures))}
    if sample_rate is None:
        sample_rate = infos["target"][0].sample_rate
    sample_rate = _check_number("sample_rate", sample_rate, 1)

    def signals(role):  # one file in memory at a time
        return (load(info.path, sample_rate=sample_rate, mono=True, start=start, end=end)[0] for info in infos[role])

    names = {role: _segment_names(items, start, end) for role, items in infos.items()}
    return learn_labelled_dictionary(signals("target"), sample_rate, background=signals("background"), mixtures=signals("mixtures"),
                                     sources=names, **options)
