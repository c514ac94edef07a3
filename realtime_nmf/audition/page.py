"""The audition page: one self-contained HTML file that plays, shows and picks components.

The page works opened from disk (``file://``): CSS and JavaScript are inline (written from
the package's ``audition/assets/page.html``, ``page.css`` and ``page.js``), audio and
pictures are referred to by relative file names in the same folder, nothing is fetched
from a network. Rows are written as HTML (audio, pictures and features show even with
JavaScript off); the script sorts rows, ticks components, plays one player at a time and
turns the ticked components into preset YAML (shown, and offered as a download made
from a Blob) and into the equivalent ``rtnmf preset new`` command.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from importlib import resources
from string import Template

from .._atomic import atomic_write
from .features import ComponentFeatures

__all__ = ["PageRow", "PageSignal", "write_page", "KEEP_PLACEHOLDER", "NAME_PLACEHOLDER"]

#: Stands for the ticked indices in the preset YAML and command templates given to the page.
KEEP_PLACEHOLDER = "__RTNMF_KEEP__"
#: Stands for the preset name typed on the page.
NAME_PLACEHOLDER = "__RTNMF_NAME__"


@dataclass(frozen=True)
class PageRow:
    """One component on the page: its features and the names of its files (relative to the page)."""

    features: ComponentFeatures
    audio: str
    picture: str


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


def _features_html(f: ComponentFeatures) -> str:
    repeats = (f"{f.repetition_bpm:.0f} per minute <span class='dim'>(periodicity {f.periodicity:.2f})</span>"
               if math.isfinite(f.repetition_bpm) else "<span class='dim'>no repetition found</span>")
    centroid = f"{f.centroid:.0f} Hz" if math.isfinite(f.centroid) else "<span class='dim'>silent</span>"
    mark = f.heartbeat_mark
    badge = f"<span class='badge {mark}'>{'&#9829; likely' if mark == 'likely' else 'maybe'} heartbeat</span> " if mark else ""
    return (
        "<dl>"
        f"<dt>energy</dt><dd>{f.energy_share:.1f} % of the clip</dd>"
        f"<dt>centroid</dt><dd>{centroid}</dd>"
        f"<dt>repeats</dt><dd>{repeats}</dd>"
        f"<dt>heartbeat</dt><dd>{badge}<span class='dim'>score {f.heartbeat_score:.2f}</span></dd>"
        "</dl>"
    )


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


def _row_html(row: PageRow) -> str:
    f = row.features
    name = f"component {f.index}" + (f" &middot; {_e(f.label)}" if f.label else "")
    attributes = {
        "class": f"component {f.heartbeat_mark}".strip(),
        "id": f"component-{f.index}",
        "data-index": f.index,
        "data-label": f.label,
        "data-energy": _number(f.energy_share, 4),
        "data-centroid": _number(f.centroid, 2),
        "data-rate": _number(f.repetition_bpm, 2),
        "data-score": _number(f.heartbeat_score, 4),
        "data-mark": f.heartbeat_mark,
    }
    heading = f'<label class="pick"><input type="checkbox" class="keep" value="{f.index}"> <span class="name">{name}</span></label>'
    return _article(" ".join(f'{key}="{_e(value)}"' for key, value in attributes.items()), heading, _features_html(f),
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

    Returns
    -------
    Path
    """
    labels = sorted({row.features.label for row in rows if row.features.label})
    label_buttons = "".join(f'<button type="button" class="tick-label" data-label="{_e(label)}">tick &lsquo;{_e(label)}&rsquo;</button>'
                            for label in labels)
    data = {"yaml": preset_yaml, "command": preset_command, "keep": KEEP_PLACEHOLDER, "name": NAME_PLACEHOLDER}
    page = Template(_asset("page.html")).substitute(
        title=_e(title),
        summary=_e(summary),
        signals="".join(_signal_html(signal) for signal in signals),
        rows="".join(_row_html(row) for row in rows),
        overview=_e(overview),
        label_buttons=label_buttons,
        preset_folder=_e(preset_folder),
        data=_script_json(data),
        css=_asset("page.css"),
        script=_asset("page.js"),
    )
    path = Path(path)
    with atomic_write(path, "w") as handle:
        handle.write(page)
    return path
