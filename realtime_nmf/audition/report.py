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

- ``selection.js``: the clip's samples and its decomposition, with which the page mixes
  the ticked components (and the rest) itself and plays them, before any preset exists.

The activations are solved offline against the fixed templates
(:func:`realtime_nmf.decompose.decompose`); each component's signal is the clip through its
ratio mask, limited to what the model explains (``explained_only`` in
:func:`realtime_nmf.decompose.iter_component_signals`), so the components and the
residual add up to the clip exactly, and so do their energy shares
(:func:`realtime_nmf.audition.features.contribution_share`).

What is looked for is neutral by default; a profile (``heartbeat``, ``percussion``:
:mod:`realtime_nmf.audition.profiles`) adds its score and marks, and an example of the
target alone ranks the components and ticks the suggested ones
(:mod:`realtime_nmf.audition.reference`).
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
from .features import ComponentFeatures, component_features, contribution_share
from .profiles import Profile, get_profile
from .reference import ExampleRanking
from ._folder import AuditionFolder

__all__ = ["audition", "AuditionReport", "SORT_ORDERS", "component_file_stem"]

#: Orders of :meth:`AuditionReport.table`: key function over :class:`ComponentFeatures`. (With an
#: example of the target, ``reference`` orders by :attr:`ExampleRanking.affinity` as well.)
SORT_ORDERS = {
    "index": lambda f: f.index,
    "heartbeat": lambda f: (-f.heartbeat_score, f.index),
    "energy": lambda f: (-f.energy_share, f.index),
    "centroid": lambda f: (f.centroid if math.isfinite(f.centroid) else math.inf, f.index),
    "percussive": lambda f: (-(f.percussiveness if math.isfinite(f.percussiveness) else 0.0), f.index),
}
_OUTPUT_SUBTYPE = "FLOAT"  # 32-bit float WAV: exact sums, no clipping of loud components
#: The page's data for mixing the ticked components in the browser (see :mod:`realtime_nmf.audition.selection`).
SELECTION_DATA = "selection.js"


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
        The part of the clip's energy the residual carries, in percent
        (:func:`~realtime_nmf.audition.features.contribution_share`): with the
        components' it adds up to 100 %.
    dictionary_path : Path
        The dictionary the page's preset refers to (absolute).
    sample_rate : int
    duration : float
        Seconds.
    notes : list of str
        What was done to the clip on the way in (mixed to mono, resampled).
    extra_files : list of Path
        Other files written (a copy of a dictionary that had no file).
    profile : Profile
        What was looked for (:mod:`realtime_nmf.audition.profiles`).
    ranking : ExampleRanking or None
        With an example of the target (``reference=``): how each component explains it.
    suggested : list of int
        The components ticked on the page: those the example suggests, else those the
        profile marks ``likely``; may be empty.
    advice : str
        What to try when no component isolates the target ("" otherwise).
    clip_name : str
        How commands name the clip (its path, or ``CLIP`` for samples).
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
    profile: Profile = field(default_factory=lambda: get_profile("general"))
    ranking: ExampleRanking | None = None
    suggested: list[int] = field(default_factory=list)
    advice: str = ""
    clip_name: str = "CLIP"

    def table(self, order: str = "index") -> str:
        """The features as a plain-text table (for the terminal), one line per component.

        The energy column and the residual's share add up to 100 % (see
        :func:`realtime_nmf.audition.features.contribution_share`).

        Parameters
        ----------
        order : str
            One of :data:`SORT_ORDERS`: ``index`` (dictionary order), ``heartbeat`` (most
            heartbeat-like first), ``energy`` (loudest first), ``centroid`` (lowest first),
            ``percussive`` (most percussive first), ``reference`` (best match to the
            target example first; needs one).
        """
        if order not in (*SORT_ORDERS, "reference"):
            raise ParameterError(f"order={order!r} is not one of {', '.join(SORT_ORDERS)}, reference")
        if order == "reference" and self.ranking is None:
            raise ParameterError("order='reference' needs an example of the target (--reference FILE)")
        key = (SORT_ORDERS[order] if order != "reference" else (lambda f: (-float(self.ranking.affinity[f.index]), f.index)))
        profile, ranking = self.profile, self.ranking
        width = max([5] + [len(f.label) for f in self.features])
        head = f"{'#':>3}  {'label':<{width}}  {'energy':>7}  {'centroid':>9}  {'repeats':>10}  {'periodicity':>11}  {'percussive':>10}"
        if ranking is not None:
            head += f"  {'example':>7}  {'target':>6}"
        if profile.column:
            head += f"  {profile.column}"
        lines = [head]
        for f in sorted(self.features, key=key):
            repeats = f"{f.repetition_bpm:.0f}/min" if math.isfinite(f.repetition_bpm) else "-"
            centroid = f"{f.centroid:.0f} Hz" if math.isfinite(f.centroid) else "-"
            percussive = f"{f.percussiveness:.2f}" if math.isfinite(f.percussiveness) else "-"
            line = (f"{f.index:>3}  {f.label or '-':<{width}}  {f.energy_share:>6.1f}%  {centroid:>9}  {repeats:>10}  "
                    f"{f.periodicity:>11.2f}  {percussive:>10}")
            if ranking is not None:
                line += f"  {ranking.example_share[f.index]:>6.1f}%  {100 * ranking.target_share[f.index]:>5.0f}%"
            if profile.column:
                mark = profile.mark(f)
                line += f"  {profile.value(f):.2f}" + (f" {mark}" if mark else "")
            lines.append((line + ("  <- suggested" if f.index in self.suggested else "")).rstrip())
        lines.append(f"residual (what the dictionary does not explain): {self.residual_share:.1f}% of the clip's energy")
        lines.append("energy: the part of the clip's energy each carries (its signal's product with the clip), so the column and "
                     "the residual add up to 100 %; parts that share time and frequency sound louder together than alone")
        if ranking is not None:
            lines.append(f"example: each component's share of the target example's energy; target: the estimated share of the "
                         f"component that is the target; suggested: {', '.join(map(str, self.suggested)) or 'none'} "
                         f"(explaining {ranking.explained:.0f} % of the example)")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# inputs


def _load_dictionary(dictionary) -> tuple[Dictionary, Path | None]:
    if isinstance(dictionary, Dictionary):
        return dictionary, None
    if isinstance(dictionary, (str, os.PathLike)):
        return Dictionary.load(dictionary), Path(dictionary).resolve()
    raise ParameterError(f"dictionary must be a Dictionary or the path of a .npz file, not {type(dictionary).__name__}")


def _load_clip(clip, dictionary: Dictionary, sample_rate: int | None, *, start: float | None = None, end: float | None = None,
               what: str = "clip") -> tuple[np.ndarray, str, list[str]]:
    """The clip as mono float32 at the dictionary's rate, a name for it, and notes on what was done to it."""
    if isinstance(clip, (str, os.PathLike)):
        name = Path(clip).name
        info = audio.audio_info(clip)
        y, _ = audio.load(clip, sample_rate=dictionary.sample_rate, mono=True, start=start, end=end)
        channels, rate = info.n_channels, info.sample_rate
        if start is not None or end is not None:
            name += f" ({start or 0:g} s to {(start or 0) + y.shape[0] / dictionary.sample_rate:.3g} s)"
    else:
        if start is not None or end is not None:
            raise ParameterError("start and end choose a part of a file; slice an array instead")
        name = f"the {what}"
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
    audio.check_finite(y, f"{what} {name!r}")
    if y.shape[0] < dictionary.n_fft:
        raise ParameterError(f"{what} {name!r} has {y.shape[0]} samples at {dictionary.sample_rate} Hz; "
                             f"give at least one window ({dictionary.n_fft} samples), better a few seconds")
    if not np.any(y):
        raise ParameterError(f"{what} {name!r} is silent; give a recording of the sound you want to audition")
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
    profile: str | Profile = "general",
    reference: str | Path | np.ndarray | None = None,
    start: float | None = None,
    end: float | None = None,
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
    profile : str or Profile
        What to look for: ``general`` (default: no target assumed), ``heartbeat`` or
        ``percussion`` (see :mod:`realtime_nmf.audition.profiles`).
    reference : str, Path or np.ndarray [shape=(n_samples,)], optional
        A short example of the target alone (a file, or samples at ``sample_rate``):
        ranks the components and ticks the suggested ones
        (:func:`realtime_nmf.audition.reference.rank_by_example`).
    start, end : float, optional
        Seconds: audition only this part of the clip file.

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

    from .reference import rank_by_example

    profile = get_profile(profile)
    d, known_path = _load_dictionary(dictionary)
    y, clip_name, notes = _load_clip(clip, d, sample_rate, start=start, end=end)
    example = example_name = None
    if reference is not None:
        example, example_name, example_notes = _load_clip(reference, d, sample_rate, what="target example")
        notes += example_notes
    out = AuditionFolder(folder)
    folder = out.path
    extra = []
    if known_path is None and dictionary_path is not None:
        known_path = Path(dictionary_path).resolve()
    if known_path is None:
        known_path = d.save(out.file("dictionary.npz")).resolve()
        extra.append(known_path)

    S, H = decompose(d, y, iterations=iterations, tolerance=tolerance)
    ranking = None if example is None else rank_by_example(d, y, example, S=S, H=H, iterations=iterations, tolerance=tolerance)
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
                                             notes=_notes(f, profile, ranking), centroid=f.centroid))
        if progress is not None:
            progress(k + 1, d.n_components)
    residual = (y - explained).astype(np.float32)
    mixture_audio = write_audio("mixture.wav", y)
    residual_audio = write_audio("residual.wav", residual)
    sheet = SignalSheet(scale)
    sheet.save(out.file("mixture.png"), S=np.abs(S), title=f"the clip: {clip_name}")
    sheet.save(out.file("residual.png"), S=spectrogram(residual),
               title="residual: the clip minus all components (what the dictionary does not explain)")
    suggested = ranking.suggested if ranking is not None else [f.index for f in features if profile.mark(f) == "likely"]
    names = [f"{f.index} {f.label}".strip() + (" *" if f.index in suggested else "") for f in features]
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
        residual_share=contribution_share(residual, y),
        dictionary_path=known_path,
        sample_rate=d.sample_rate,
        duration=y.shape[0] / d.sample_rate,
        notes=notes,
        extra_files=extra,
        profile=profile,
        ranking=ranking,
        suggested=suggested,
        clip_name=str(clip) if isinstance(clip, (str, os.PathLike)) else "CLIP",
    )
    report.advice = advice(report, d, example_path=str(reference) if isinstance(reference, (str, os.PathLike)) else None,
                           start=start, end=end)
    from .page import write_audition_page
    from .selection import write_selection_data

    write_selection_data(out.file(SELECTION_DATA), d, y, H)
    write_audition_page(report, d, clip_name, example_name, selection_data=SELECTION_DATA)
    out.finish()
    return report


def _notes(f: ComponentFeatures, profile: Profile, ranking: ExampleRanking | None) -> str:
    """Short feature lines for a component's picture."""
    lines = [f"energy {f.energy_share:.1f} % of the clip"]
    if math.isfinite(f.centroid):
        lines.append(f"centroid {f.centroid:.0f} Hz (red dashes)")
    lines += ([f"repeats {f.repetition_bpm:.0f} per minute", f"periodicity {f.periodicity:.2f}"] if math.isfinite(f.repetition_bpm)
              else ["no repetition found"])
    if math.isfinite(f.percussiveness):
        lines.append(f"percussive {f.percussiveness:.2f}")
    if profile.column:
        lines.append(f"{profile.column}: {profile.mark(f) or 'no'} (score {profile.value(f):.2f})")
    if ranking is not None:
        lines.append(f"example: {ranking.example_share[f.index]:.1f} %, target about {100 * ranking.target_share[f.index]:.0f} %")
    return "\n".join(lines)


def advice(report: AuditionReport, dictionary: Dictionary, *, example_path: str | None = None, start: float | None = None,
           end: float | None = None) -> str:
    """What to try when no component isolates the target ("" when one does, or when no target is known).

    With an example: no component estimated to be mostly target. With a profile that
    scores: no component marked ``likely``. The commands are built from the clip and the
    dictionary auditioned.
    """
    ranking, profile = report.ranking, report.profile
    if ranking is not None:
        if ranking.isolated and report.suggested:
            return ""
        problem = (f"No component isolates the target: the best is about {100 * ranking.target_share.max():.0f} % target "
                   f"(estimated from the example)")
    elif profile.score is not None:
        if report.suggested:
            return ""
        best = max((profile.value(f) for f in report.features), default=0.0)
        problem = f"No component is likely one of the {profile.target} (the highest {profile.column} score is {best:.2f})"
    else:
        return ""
    clip = shlex.quote(report.clip_name)
    part = "".join(f" {flag} {value:g}" for flag, value in (("--start", start), ("--end", end)) if value is not None)
    path = report.dictionary_path
    more = 2 * dictionary.n_components
    tries = [f"more components: rtnmf train {clip}{part} -o {shlex.quote(str(path.with_name(f'{path.stem}_k{more}.npz')))} "
             f"--components {more}"]
    if example_path is not None:
        tries.append(f"the target's own templates, learned from the example: rtnmf train --target {shlex.quote(example_path)} {clip}{part} "
                     f"-o {shlex.quote(str(path.with_name(f'{path.stem}_target.npz')))}")
    else:
        tries.append(f"ranking the components by a few seconds of the target alone: rtnmf audition {shlex.quote(str(path))} {clip}{part} "
                     "--reference EXAMPLE.wav -o FOLDER")
    return problem + ". Try " + "; or ".join(tries) + "."
