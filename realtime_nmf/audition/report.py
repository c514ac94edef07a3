"""Audition: separate a clip into every component of a dictionary, to hear, see and pick them.

:func:`audition` writes, into one folder:

- ``component_NN.wav`` for every component (``NN`` the dictionary index, zero-padded to
  two digits, more when the dictionary has more than 100 components), ``mixture.wav``
  (the clip as analysed: mono, at the dictionary's rate) and ``residual.wav`` (what the
  dictionary does not explain: the clip minus all components);
- ``component_NN.png`` (template, activation and spectrogram of the component),
  ``mixture.png``, ``residual.png`` and ``overview.png`` (the whole dictionary);
- ``index.html``: a page to listen to each component, see its pictures and features,
  tick the ones to keep and get a preset for them.

The activations are solved offline against the fixed templates
(:func:`realtime_nmf.decompose.decompose`); each component's signal is the clip through its
ratio mask, limited to what the model explains (``explained_only`` in
:func:`realtime_nmf.decompose.iter_component_signals`), so the components and the
residual add up to the clip exactly.
"""

from __future__ import annotations

import math
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import audio, defaults
from ..dictionary import Dictionary
from ..errors import ParameterError
from ..resample import resample
from .features import ComponentFeatures, component_features, energy_share
from ._folder import AuditionFolder

__all__ = ["audition", "AuditionReport", "SORT_ORDERS", "component_file_stem"]

#: Orders of :meth:`AuditionReport.table`: key function over :class:`ComponentFeatures`.
SORT_ORDERS = {
    "index": lambda f: f.index,
    "heartbeat": lambda f: (-f.heartbeat_score, f.index),
    "energy": lambda f: (-f.energy_share, f.index),
    "centroid": lambda f: (f.centroid if math.isfinite(f.centroid) else math.inf, f.index),
}
_OUTPUT_SUBTYPE = "FLOAT"  # 32-bit float WAV: exact sums, no clipping of loud components


def component_file_stem(index: int, n_components: int) -> str:
    """``component_03``: the index zero-padded to two digits, or to the digits of ``n_components - 1``."""
    width = max(2, len(str(n_components - 1)))
    return f"component_{index:0{width}d}"


@dataclass
class AuditionReport:
    """What :func:`audition` wrote and measured.

    Attributes
    ----------
    folder : Path
    page : Path
        ``index.html``.
    features : list of ComponentFeatures
        One per component, in dictionary order.
    component_audio, component_pictures : list of Path
        One per component, in dictionary order.
    mixture_audio, residual_audio, overview : Path
    residual_share : float
        Energy of the residual in percent of the clip's energy.
    dictionary_path : Path
        The dictionary the page's preset refers to (absolute).
    sample_rate : int
    duration : float
        Seconds.
    notes : list of str
        What was done to the clip on the way in (mixed to mono, resampled).
    extra_files : list of Path
        Other files written (a copy of a dictionary that had no file).
    """

    folder: Path
    page: Path
    features: list[ComponentFeatures]
    component_audio: list[Path]
    component_pictures: list[Path]
    mixture_audio: Path
    residual_audio: Path
    overview: Path
    residual_share: float
    dictionary_path: Path
    sample_rate: int
    duration: float
    notes: list[str] = field(default_factory=list)
    extra_files: list[Path] = field(default_factory=list)

    def table(self, order: str = "index") -> str:
        """The features as a plain-text table (for the terminal), one line per component.

        Parameters
        ----------
        order : str
            One of :data:`SORT_ORDERS`: ``index`` (dictionary order), ``heartbeat`` (most
            heartbeat-like first), ``energy`` (loudest first), ``centroid`` (lowest first).
        """
        if order not in SORT_ORDERS:
            raise ParameterError(f"order={order!r} is not one of {', '.join(SORT_ORDERS)}")
        width = max([5] + [len(f.label) for f in self.features])
        lines = [f"{'#':>3}  {'label':<{width}}  {'energy':>7}  {'centroid':>9}  {'repeats':>10}  {'periodicity':>11}  heartbeat"]
        for f in sorted(self.features, key=SORT_ORDERS[order]):
            repeats = f"{f.repetition_bpm:.0f}/min" if math.isfinite(f.repetition_bpm) else "-"
            centroid = f"{f.centroid:.0f} Hz" if math.isfinite(f.centroid) else "-"
            mark = f"{f.heartbeat_mark} ({f.heartbeat_score:.2f})" if f.heartbeat_mark else ""
            lines.append(f"{f.index:>3}  {f.label or '-':<{width}}  {f.energy_share:>6.1f}%  {centroid:>9}  {repeats:>10}  "
                         f"{f.periodicity:>11.2f}  {mark}".rstrip())
        lines.append(f"residual (what the dictionary does not explain): {self.residual_share:.1f}% of the clip's energy")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# inputs


def _load_dictionary(dictionary) -> tuple[Dictionary, Path | None]:
    if isinstance(dictionary, Dictionary):
        return dictionary, None
    if isinstance(dictionary, (str, os.PathLike)):
        return Dictionary.load(dictionary), Path(dictionary).resolve()
    raise ParameterError(f"dictionary must be a Dictionary or the path of a .npz file, not {type(dictionary).__name__}")


def _load_clip(clip, dictionary: Dictionary, sample_rate: int | None) -> tuple[np.ndarray, str, list[str]]:
    """The clip as mono float32 at the dictionary's rate, a name for it, and notes on what was done to it."""
    if isinstance(clip, (str, os.PathLike)):
        name = Path(clip).name
        info = audio.audio_info(clip)
        y, _ = audio.load(clip, sample_rate=dictionary.sample_rate, mono=True)
        channels, rate = info.n_channels, info.sample_rate
    else:
        name = "the clip"
        y = np.asarray(clip, dtype=np.float32)
        channels = y.shape[1] if y.ndim == 2 else 1
        if y.ndim == 2:
            y = y.mean(axis=1, dtype=np.float32)
        if y.ndim != 1:
            raise ParameterError(f"clip must have shape (n_samples,) or (n_samples, n_channels), got {np.shape(clip)}")
        if sample_rate is None:
            raise ParameterError("give sample_rate= with a clip passed as an array (the rate it was recorded at)")
        rate = int(sample_rate)
        y = resample(y, rate, dictionary.sample_rate)
    notes = []
    if channels > 1:
        notes.append(f"{name}: its {channels} channels were mixed to mono")
    if rate != dictionary.sample_rate:
        notes.append(f"{name}: resampled from {rate} Hz to the dictionary's {dictionary.sample_rate} Hz")
    audio.check_finite(y, f"clip {name!r}")
    if y.shape[0] < dictionary.n_fft:
        raise ParameterError(f"clip {name!r} has {y.shape[0]} samples at {dictionary.sample_rate} Hz; "
                             f"give at least one window ({dictionary.n_fft} samples), better a few seconds")
    if not np.any(y):
        raise ParameterError(f"clip {name!r} is silent; give a recording of the sound you want to audition")
    return np.ascontiguousarray(y), name, notes


# --------------------------------------------------------------------------------------
# the audition


def audition(
    dictionary: Dictionary | str | Path,
    clip: str | Path | np.ndarray,
    folder: str | Path,
    *,
    sample_rate: int | None = None,
    dictionary_path: str | Path | None = None,
    iterations: int = defaults.CONVERGED_ITERATIONS,
    tolerance: float = defaults.CONVERGED_TOLERANCE,
    progress: Callable[[int, int], None] | None = None,
) -> AuditionReport:
    """Separate a clip into every component of a dictionary and write files, pictures and a page.

    Parameters
    ----------
    dictionary : Dictionary, str or Path
        The dictionary, or the path of its ``.npz`` file.
    clip : str, Path or np.ndarray [shape=(n_samples,) or (n_samples, n_channels)]
        An audio file or samples; mixed to mono and resampled to the dictionary's rate.
    folder : str or Path
        Output folder: a new or empty folder (made if missing), or one an earlier audition
        wrote, whose files are then replaced (those for component indices this dictionary
        lacks are removed). A folder holding other files is refused before anything is
        written, and a file the user put in an audition folder is never touched
        (see :mod:`realtime_nmf.audition._folder`).
    sample_rate : int, optional
        Rate of ``clip`` when it is an array (required then).
    dictionary_path : str or Path, optional
        Where ``dictionary`` (a Dictionary object) is saved, for the page's preset. When
        neither this nor a path is known, the dictionary is saved as
        ``folder/dictionary.npz`` and the preset refers to that copy.
    iterations, tolerance : int, float
        Most updates and convergence tolerance of the offline activation solve (:func:`realtime_nmf.decompose.decompose`).
    progress : callable, optional
        Called as ``progress(done, total)`` after each component's files are written.

    Returns
    -------
    AuditionReport

    Raises
    ------
    DictionaryError, AudioFileError, ParameterError, OutputError
        A missing or invalid dictionary or clip, a clip too short or silent, an output
        folder that cannot be written or holds files an audition did not write.
    """
    from ..decompose import decompose, iter_component_signals
    from ..stft import magnitude_spectrogram
    from .plots import ComponentSheet, PlotScale, SignalSheet, overview_sheet

    d, known_path = _load_dictionary(dictionary)
    y, clip_name, notes = _load_clip(clip, d, sample_rate)
    out = AuditionFolder(folder)
    folder = out.path
    extra = []
    if known_path is None and dictionary_path is not None:
        known_path = Path(dictionary_path).resolve()
    if known_path is None:
        known_path = d.save(out.file("dictionary.npz")).resolve()
        extra.append(known_path)

    S, H = decompose(d, y, iterations=iterations, tolerance=tolerance)
    scale = PlotScale.for_clip(np.abs(S), sample_rate=d.sample_rate, n_fft=d.n_fft, hop_length=d.hop_length, n_samples=y.shape[0])

    def spectrogram(signal):
        return magnitude_spectrogram(signal, d.n_fft, d.hop_length, d.window)

    def write_audio(name, signal):
        return audio.write(out.file(name), signal, d.sample_rate, subtype=_OUTPUT_SUBTYPE)

    # one component at a time: memory stays that of a few signals, whatever the number of components
    features, component_audio, component_pictures = [], [], []
    explained = np.zeros(y.shape[0], dtype=np.float64)
    sheet = ComponentSheet(scale)
    for k, signal in enumerate(iter_component_signals(d, y, H=H, S=S, explained_only=True)):
        explained += signal
        S_k = spectrogram(signal)
        f = component_features(y, signal, S_k, H[k], index=k, sample_rate=d.sample_rate, hop_length=d.hop_length, label=d.labels[k])
        features.append(f)
        stem = component_file_stem(k, d.n_components)
        component_audio.append(write_audio(f"{stem}.wav", signal))
        component_pictures.append(sheet.save(out.file(f"{stem}.png"), template=d.W[:, k], activation=H[k], S=S_k,
                                             title=f"component {k}" + (f" \u00b7 {f.label}" if f.label else ""),
                                             notes=_notes(f), centroid=f.centroid))
        if progress is not None:
            progress(k + 1, d.n_components)
    residual = (y - explained).astype(np.float32)
    mixture_audio = write_audio("mixture.wav", y)
    residual_audio = write_audio("residual.wav", residual)
    sheet = SignalSheet(scale)
    sheet.save(out.file("mixture.png"), S=np.abs(S), title=f"the clip: {clip_name}")
    sheet.save(out.file("residual.png"), S=spectrogram(residual),
               title="residual: the clip minus all components (what the dictionary does not explain)")
    names = [f"{f.index} {f.label}".strip() + (" \u2665" if f.heartbeat_mark == "likely" else "") for f in features]
    overview = overview_sheet(out.file("overview.png"), W=d.W, H=H, scale=scale, names=names,
                              title=f"{known_path.name}: {d.n_components} components on {clip_name}")

    report = AuditionReport(
        folder=folder,
        page=out.file("index.html"),
        features=features,
        component_audio=component_audio,
        component_pictures=component_pictures,
        mixture_audio=mixture_audio,
        residual_audio=residual_audio,
        overview=overview,
        residual_share=energy_share(residual, y),
        dictionary_path=known_path,
        sample_rate=d.sample_rate,
        duration=y.shape[0] / d.sample_rate,
        notes=notes,
        extra_files=extra,
    )
    _write_page(report, d, clip_name)
    out.finish()
    return report


def _notes(f: ComponentFeatures) -> str:
    """Short feature lines for a component's picture."""
    lines = [f"energy {f.energy_share:.1f} % of the clip"]
    if math.isfinite(f.centroid):
        lines.append(f"centroid {f.centroid:.0f} Hz (red dashes)")
    lines += ([f"repeats {f.repetition_bpm:.0f} per minute", f"periodicity {f.periodicity:.2f}"] if math.isfinite(f.repetition_bpm)
              else ["no repetition found"])
    lines.append(f"heartbeat: {f.heartbeat_mark or 'no'} (score {f.heartbeat_score:.2f})")
    return "\n".join(lines)


def _preset_templates(dictionary: Dictionary, path: Path, clip_name: str) -> tuple[str, str]:
    """Preset YAML and ``rtnmf preset new`` command with placeholders for the name and the kept indices."""
    from ..presets import Preset
    from .page import KEEP_PLACEHOLDER, NAME_PLACEHOLDER

    description = "".join(c if c.isprintable() else "?" for c in f"Components of {path.name} chosen by ear with rtnmf audition on {clip_name}")
    preset = Preset(name=NAME_PLACEHOLDER, dictionary_path=path, keep=KEEP_PLACEHOLDER, description=description, _dictionary=dictionary)
    command = f"rtnmf preset new {NAME_PLACEHOLDER} --dictionary {shlex.quote(str(path))} --keep {KEEP_PLACEHOLDER}"
    return preset.to_yaml(), command


def _write_page(report: AuditionReport, dictionary: Dictionary, clip_name: str) -> None:
    from ..presets import user_preset_dir
    from .page import PageRow, PageSignal, write_page

    d = dictionary
    preset_yaml, command = _preset_templates(d, report.dictionary_path, clip_name)
    rows = [PageRow(f, audio.name, picture.name) for f, audio, picture in zip(report.features, report.component_audio, report.component_pictures)]
    signals = [
        PageSignal(f"the clip: {clip_name}", f"as analysed: mono, {d.sample_rate} Hz, {report.duration:.1f} s",
                   report.mixture_audio.name, "mixture.png"),
        PageSignal("residual", f"the clip minus all components: what the dictionary does not explain "
                               f"({report.residual_share:.1f} % of the clip's energy)", report.residual_audio.name, "residual.png"),
    ]
    summary = (f"dictionary {report.dictionary_path} ({d.n_components} components, {d.sample_rate} Hz, n_fft {d.n_fft}, "
               f"hop {d.hop_length}, beta {d.beta:g}) on {clip_name} ({report.duration:.1f} s)")
    write_page(report.page, title=f"Audition: {report.dictionary_path.name} on {clip_name}", summary=summary, rows=rows,
               signals=signals, overview=report.overview.name, preset_yaml=preset_yaml, preset_command=command,
               preset_folder=str(user_preset_dir()))
