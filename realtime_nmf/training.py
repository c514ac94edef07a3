"""Learning a dictionary from recordings: spectrograms, NMF, and the provenance that goes with it."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from . import __version__, defaults
from .audio import audio_info, check_finite, load
from .dictionary import Dictionary
from .errors import ParameterError
from .nmf import fit, validate_beta
from .stft import magnitude_spectrogram, validate_stft_settings

__all__ = ["learn_dictionary", "train_dictionary", "resolve_stft_settings"]


def resolve_stft_settings(sample_rate: int, n_fft: int | None = None, hop_length: int | None = None, window: str = defaults.WINDOW):
    """Fill in default ``n_fft`` (about 50 ms) and hop (a quarter of it) for ``sample_rate``, and validate."""
    n_fft = defaults.default_n_fft(sample_rate) if n_fft is None else n_fft
    hop_length = defaults.default_hop_length(int(n_fft)) if hop_length is None else hop_length
    return validate_stft_settings(n_fft, hop_length, window)


def _check_number(name: str, value, minimum, kind=int):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or (kind is int and int(value) != value):
        raise ParameterError(f"{name}={value!r} must be {'a whole number' if kind is int else 'a number'}")
    if value < minimum:
        raise ParameterError(f"{name}={value!r} must be at least {minimum}")
    return kind(value)


def learn_dictionary(
    signals: Iterable[np.ndarray],
    sample_rate: int,
    *,
    n_components: int = defaults.N_COMPONENTS,
    beta: float = defaults.BETA,
    n_iter: int = defaults.TRAIN_ITERATIONS,
    tol: float = defaults.TRAIN_TOLERANCE,
    n_fft: int | None = None,
    hop_length: int | None = None,
    window: str = defaults.WINDOW,
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
    n_components, beta, n_iter, tol, init, seed, sparsity
        See :func:`realtime_nmf.nmf.fit`.
    n_fft, hop_length : int, optional
        Default: about 50 ms and a quarter of it (:func:`resolve_stft_settings`).
    window : str
    power : float
        1 for a magnitude spectrogram, 2 for power.
    sources : sequence of str
        Names recorded in the provenance.
    progress : callable(iteration, divergence), optional

    Returns
    -------
    Dictionary
    """
    n_components = _check_number("components", n_components, 1)
    n_iter = _check_number("iterations", n_iter, 1)
    beta = validate_beta(beta)
    sample_rate = _check_number("sample_rate", sample_rate, 1)
    n_fft, hop_length, window = resolve_stft_settings(sample_rate, n_fft, hop_length, window)
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
        raise ParameterError("no training audio given")
    V = np.concatenate(spectrograms, axis=1) if len(spectrograms) > 1 else spectrograms[0]
    if float(V.max()) <= 0.0:
        raise ParameterError("the training audio is silent (all zeros): there is nothing to learn")
    if V.shape[1] < n_components:
        raise ParameterError(
            f"the training audio gives {V.shape[1]} frames, fewer than components={n_components}; "
            "use a longer recording or fewer components"
        )
    result = fit(V, n_components, beta=beta, n_iter=n_iter, tol=tol, init=init, seed=seed, sparsity=sparsity, callback=progress)
    provenance = {
        "sources": [str(s) for s in sources],
        "duration_seconds": total / sample_rate,
        "n_frames": int(V.shape[1]),
        "iterations": result.n_iter,
        "converged": result.converged,
        "divergence": result.divergence,
        "divergence_per_frame": result.divergence / V.shape[1],
        "init": init,
        "seed": seed,
        "sparsity": sparsity,
        "tolerance": tol,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
    }
    return Dictionary(W=result.W, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, window=window, beta=beta,
                      power=power, provenance=provenance)


def train_dictionary(clips: Sequence[str | Path], *, sample_rate: int | None = None, **options) -> Dictionary:
    """Learn a dictionary from audio files (mixed to mono, resampled to one rate).

    Parameters
    ----------
    clips : sequence of str or Path
    sample_rate : int, optional
        Rate to learn at; by default the first clip's rate.
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
    sample_rate = _check_number("sr", sample_rate, 1)
    signals = (load(info.path, sample_rate=sample_rate, mono=True)[0] for info in infos)  # one file in memory at a time
    return learn_dictionary(signals, sample_rate, sources=[Path(info.path).name for info in infos], **options)
