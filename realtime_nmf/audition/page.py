"""The audition page: one self-contained HTML file that plays, shows and picks components.

The page works opened from disk (``file://``): CSS and JavaScript are inline (written from
the package's ``audition/assets/page.html``, ``page.css``, ``page.js`` and ``player.js``),
audio, pictures and the selection data (``selection.js``) are referred to by relative file
names in the same folder, nothing is fetched from a network. Rows are written as HTML
(audio, pictures and features show even with JavaScript off); the script sorts rows,
ticks components (the suggested ones are ticked when the page opens), plays one player
at a time, mixes and plays the ticked components or the rest in the browser
(``player.js``), and turns the ticked components into preset YAML (shown, and offered as
a download made from a Blob), the equivalent ``rtnmf preset new`` command, and the
``rtnmf run --dictionary ... --keep ...`` command that hears them through the streaming
engine without saving anything.
"""

from __future__ import annotations

import html
import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from importlib import resources
from string import Template

from .._atomic import atomic_write
from .features import ComponentFeatures
from .profiles import Profile, get_profile

__all__ = ["PageRow", "PageSignal", "write_page", "write_audition_page", "KEEP_PLACEHOLDER", "NAME_PLACEHOLDER"]

#: Stands for the ticked indices in the preset YAML and command templates given to the page.
KEEP_PLACEHOLDER = "__RTNMF_KEEP__"
#: Stands for the preset name typed on the page.
NAME_PLACEHOLDER = "__RTNMF_NAME__"


@dataclass(frozen=True)
class PageRow:
    """One component on the page: its features, the names of its files (relative to the page) and what the example says.

    ``example`` and ``target`` are its share of the target example's energy (percent) and
    its estimated target share (0 to 1), NaN without an example; ``suggested`` ticks it.
    """

    features: ComponentFeatures
    audio: str
    picture: str
    example: float = float("nan")
    target: float = float("nan")
    suggested: bool = False


@dataclass(frozen=True)
class PageSignal:
    """A whole signal on the page (the clip, the residual): title, note and file names."""

    title: str
    note: str
    audio: str
    picture: str


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _number(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else ""


def _features_html(row: PageRow, profile: Profile) -> str:
    f = row.features
    repeats = (f"{f.repetition_bpm:.0f} per minute <span class='dim'>(periodicity {f.periodicity:.2f})</span>"
               if math.isfinite(f.repetition_bpm) else "<span class='dim'>no repetition found</span>")
    centroid = f"{f.centroid:.0f} Hz" if math.isfinite(f.centroid) else "<span class='dim'>silent</span>"
    percussive = f"{f.percussiveness:.2f}" if math.isfinite(f.percussiveness) else "<span class='dim'>silent</span>"
    lines = [
        f"<dt>energy</dt><dd>{f.energy_share:.1f} % of the clip</dd>",
        f"<dt>centroid</dt><dd>{centroid}</dd>",
        f"<dt>repeats</dt><dd>{repeats}</dd>",
        f"<dt>percussive</dt><dd>{percussive}</dd>",
    ]
    if profile.column:
        mark = profile.mark(f)
        badge = f"<span class='badge {mark}'>{mark} {_e(profile.column)}</span> " if mark else ""
        lines.append(f"<dt>{_e(profile.column)}</dt><dd>{badge}<span class='dim'>score {profile.value(f):.2f}</span></dd>")
    if math.isfinite(row.example):
        badge = "<span class='badge likely'>suggested</span> " if row.suggested else ""
        lines.append(f"<dt>example</dt><dd>{badge}{row.example:.1f} % of the example's energy; about {100 * row.target:.0f} % target</dd>")
    return "<dl>" + "".join(lines) + "</dl>"


def _article(attributes: str, heading: str, details: str, audio: str, picture: str, alt: str) -> str:
    """One row of the page: heading, player, file links and details at the side, the picture beside them."""
    audio, picture = _e(audio), _e(picture)
    return f"""
<article {attributes}>
  <div class="side">
    {heading}
    <audio controls preload="auto" src="{audio}"></audio>
    <div class="files"><a href="{audio}">{audio}</a> &middot; <a href="{picture}">{picture}</a></div>
    {details}
  </div>
  <a class="picture" href="{picture}"><img src="{picture}" alt="{_e(alt)}"></a>
</article>"""


def _row_html(row: PageRow, profile: Profile) -> str:
    f = row.features
    name = f"component {f.index}" + (f" &middot; {_e(f.label)}" if f.label else "")
    mark = profile.mark(f)
    attributes = {
        "class": f"component {mark}".strip(),
        "id": f"component-{f.index}",
        "data-index": f.index,
        "data-label": f.label,
        "data-energy": _number(f.energy_share, 4),
        "data-centroid": _number(f.centroid, 2),
        "data-rate": _number(f.repetition_bpm, 2),
        "data-percussive": _number(f.percussiveness, 4),
        "data-score": _number(profile.value(f), 4),
        "data-mark": mark,
        "data-affinity": _number(row.example, 4),
        "data-suggested": "yes" if row.suggested else "",
    }
    checked = " checked" if row.suggested else ""
    heading = f'<label class="pick"><input type="checkbox" class="keep" value="{f.index}"{checked}> <span class="name">{name}</span></label>'
    return _article(" ".join(f'{key}="{_e(value)}"' for key, value in attributes.items()), heading, _features_html(row, profile),
                    row.audio, row.picture, f"template, activation and spectrogram of component {f.index}")


def _signal_html(signal: PageSignal) -> str:
    return _article('class="signal"', f'<span class="name">{_e(signal.title)}</span>', f'<p class="dim">{_e(signal.note)}</p>',
                    signal.audio, signal.picture, f"spectrogram: {signal.title}")


def _asset(name: str) -> str:
    """The text of one of the page's files (HTML template, CSS, JavaScript), shipped as package data."""
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def _script_json(data) -> str:
    """JSON safe to put inside a <script> element."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_page(
    path: str | Path,
    *,
    title: str,
    summary: str,
    rows: list[PageRow],
    signals: list[PageSignal],
    overview: str,
    preset_yaml: str,
    preset_command: str,
    preset_folder: str,
    try_command: str = "",
    profile: Profile | str = "general",
    preset_name: str = "selection",
    advice: str = "",
    selection_data: str = "selection.js",
    suggested_by: str = "",
) -> Path:
    """Write the audition page atomically.

    Parameters
    ----------
    path : str or Path
        The page (``index.html``); every file name given is relative to its folder.
    title : str
    summary : str
        One line about the dictionary and the clip.
    rows : list of PageRow
        Components in dictionary order.
    signals : list of PageSignal
        Whole signals shown above the components.
    overview : str
        File name of the dictionary overview picture.
    preset_yaml : str
        Preset YAML with the line ``keep: __RTNMF_KEEP__`` and the name placeholder.
    preset_command : str
        ``rtnmf preset new`` command with the same placeholders.
    preset_folder : str
        The user preset folder, for the hint on where to save the file.
    try_command : str
        ``rtnmf run --dictionary ... --keep __RTNMF_KEEP__ ...``: hear the ticked
        components through the streaming engine without saving a preset.
    profile : Profile or str
        What the page looks for (its score column, marks and tick button).
    preset_name : str
        The preset name the page starts with.
    advice : str
        Shown at the top when no component isolates the target.
    selection_data : str
        File name of the selection player's data (:mod:`realtime_nmf.audition.selection`).
    suggested_by : str
        What chose the ``suggested`` rows (the example's name), for the tick button.

    Returns
    -------
    Path
    """
    profile = get_profile(profile)
    labels = sorted({row.features.label for row in rows if row.features.label})
    buttons = []
    if suggested_by:
        buttons.append(f'<button type="button" id="tick-suggested">tick the ones {_e(suggested_by)} suggests</button>')
    if profile.column:
        buttons.append(f'<button type="button" id="tick-likely">tick likely {_e(profile.target)}</button>')
    buttons += [f'<button type="button" class="tick-label" data-label="{_e(label)}">tick &lsquo;{_e(label)}&rsquo;</button>' for label in labels]
    orders = [("index", "dictionary order"), ("energy", "loudest first"), ("centroid", "lowest centroid first"),
              ("percussive", "most percussive first")]
    if profile.column:
        orders.insert(1, ("score", f"most {profile.column}-like first"))
    if suggested_by:
        orders.insert(1, ("affinity", f"best match to {suggested_by} first"))
    data = {"yaml": preset_yaml, "command": preset_command, "try": try_command, "keep": KEEP_PLACEHOLDER, "name": NAME_PLACEHOLDER}
    page = Template(_asset("page.html")).substitute(
        title=_e(title),
        summary=_e(summary),
        signals="".join(_signal_html(signal) for signal in signals),
        rows="".join(_row_html(row, profile) for row in rows),
        overview=_e(overview),
        orders="".join(f'<option value="{key}">{_e(text)}</option>' for key, text in orders),
        tick_buttons="".join(buttons),
        preset_name=_e(preset_name),
        advice=f'<p id="advice">{_e(advice)}</p>' if advice else "",
        profile_note=_e(_profile_note(profile)),
        preset_folder=_e(preset_folder),
        selection_data=_e(selection_data),
        data=_script_json(data),
        css=_asset("page.css"),
        script=_asset("page.js"),
        player=_asset("player.js"),
    )
    path = Path(path)
    with atomic_write(path, "w") as handle:
        handle.write(page)
    return path


def _profile_note(profile: Profile) -> str:
    if profile.name == "heartbeat":
        return "The heartbeat score is high for a low centroid and a repetition at 40-200 per minute."
    if profile.name == "percussion":
        return "The percussive score is the share of the activation's envelope energy in changes faster than 0.2 s."
    return ("Percussive: the share of the activation's envelope energy in changes faster than 0.2 s "
            "(rtnmf audition --profile heartbeat or percussion adds a score for that target).")


def _preset_templates(dictionary, path: Path, clip_name: str, clip_path: str) -> tuple[str, str, str]:
    """Preset YAML, ``rtnmf preset new`` and ``rtnmf run`` commands with placeholders for the name and the kept indices."""
    from ..presets import Preset

    description = "".join(c if c.isprintable() else "?" for c in f"Components of {path.name} chosen by ear with rtnmf audition on {clip_name}")
    preset = Preset(name=NAME_PLACEHOLDER, dictionary_path=path, keep=KEEP_PLACEHOLDER, description=description, _dictionary=dictionary)
    command = f"rtnmf preset new {NAME_PLACEHOLDER} --dictionary {shlex.quote(str(path))} --keep {KEEP_PLACEHOLDER}"
    clip = Path(clip_path)
    output = clip.with_name(f"{clip.stem}_{NAME_PLACEHOLDER}.wav")
    trial = (f"rtnmf run --dictionary {shlex.quote(str(path))} --keep {KEEP_PLACEHOLDER} --input {shlex.quote(clip_path)} "
             f"--output {shlex.quote(str(output))}")
    return preset.to_yaml(), command, trial


def write_audition_page(report, dictionary, clip_name: str, example_name: str | None, *, selection_data: str) -> Path:
    """The page of an :class:`~realtime_nmf.audition.AuditionReport` (see :func:`write_page`)."""
    from ..presets import user_preset_dir

    d = dictionary
    clip_path = report.clip_name if report.clip_name == "CLIP" else str(Path(report.clip_name).resolve())  # the page is run from anywhere
    preset_yaml, command, trial = _preset_templates(d, report.dictionary_path, clip_name, clip_path)
    ranking = report.ranking
    rows = [PageRow(f, audio.name, picture.name,
                    example=float(ranking.example_share[f.index]) if ranking is not None else float("nan"),
                    target=float(ranking.target_share[f.index]) if ranking is not None else float("nan"),
                    suggested=f.index in report.suggested)
            for f, audio, picture in zip(report.features, report.component_audio, report.component_pictures)]
    signals = [
        PageSignal(f"the clip: {clip_name}", f"as analysed: mono, {d.sample_rate} Hz, {report.duration:.1f} s",
                   report.mixture_audio.name, "mixture.png"),
        PageSignal("residual", f"the clip minus all components: what the dictionary does not explain "
                               f"({report.residual_share:.1f} % of the clip's energy)", report.residual_audio.name, "residual.png"),
    ]
    summary = (f"dictionary {report.dictionary_path} ({d.n_components} components, {d.sample_rate} Hz, n_fft {d.n_fft}, "
               f"hop {d.hop_length}, beta {d.beta:g}) on {clip_name} ({report.duration:.1f} s)"
               + (f"; target example {example_name}" if example_name else ""))
    name = report.profile.preset_name or (Path(example_name.split(" (")[0]).stem if example_name else report.dictionary_path.stem)
    return write_page(report.page, title=f"Audition: {report.dictionary_path.name} on {clip_name}", summary=summary, rows=rows,
                      signals=signals, overview=report.overview.name, preset_yaml=preset_yaml, preset_command=command,
                      preset_folder=str(user_preset_dir()), try_command=trial, profile=report.profile,
                      preset_name=_preset_name(name), advice=report.advice, selection_data=selection_data,
                      suggested_by=example_name or "")


def _preset_name(text: str) -> str:
    """``text`` made a valid preset name (letters, digits, '_', '-', '.'; starting with a letter or digit)."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "_-.") else "-" for c in text).strip("-_.")
    return cleaned or "selection"
