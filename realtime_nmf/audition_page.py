"""The audition page: one self-contained HTML file that plays, shows and picks components.

The page works opened from disk (``file://``): CSS and JavaScript are inline, audio and
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
from string import Template

from ._atomic import atomic_write
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
    page = Template(_PAGE).substitute(
        title=_e(title),
        summary=_e(summary),
        signals="".join(_signal_html(signal) for signal in signals),
        rows="".join(_row_html(row) for row in rows),
        overview=_e(overview),
        label_buttons=label_buttons,
        preset_folder=_e(preset_folder),
        data=_script_json(data),
        css=_CSS,
        script=_SCRIPT,
    )
    path = Path(path)
    with atomic_write(path, "w") as handle:
        handle.write(page)
    return path


_CSS = """
:root { --ink: #1d1d1f; --dim: #6b6b70; --line: #d9d9de; --accent: #b3261e; --pick: #fff4e5; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; background: #fafafa; }
header, main, section { max-width: 1500px; margin: 0 auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 1rem 0 0.2rem; }
h2 { font-size: 1.15rem; margin: 1.4rem 0 0.5rem; }
.dim { color: var(--dim); }
.toolbar { position: sticky; top: 0; z-index: 2; background: #ffffffee; border-bottom: 1px solid var(--line);
           padding: 0.5rem 1rem; display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: center; }
.toolbar .group { display: flex; gap: 0.4rem; align-items: center; flex-wrap: wrap; }
button { font: inherit; padding: 0.25rem 0.7rem; border: 1px solid #9a9aa0; border-radius: 4px; background: #fff; cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
input[type=text] { font: inherit; width: 9rem; padding: 0.2rem 0.4rem; }
article { display: grid; grid-template-columns: 320px 1fr; gap: 1rem; background: #fff; border: 1px solid var(--line);
          border-radius: 6px; padding: 0.7rem; margin: 0.7rem 0; }
article.picked { background: var(--pick); border-color: #e0a040; }
article .side { display: flex; flex-direction: column; gap: 0.4rem; min-width: 0; }
article .name { font-weight: 600; font-size: 1.05rem; }
article audio { width: 100%; }
article .files { font-size: 0.8rem; }
article img { width: 100%; height: auto; display: block; }
label.pick { display: flex; gap: 0.5rem; align-items: center; cursor: pointer; }
label.pick input { width: 1.2rem; height: 1.2rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 0.7rem; margin: 0; font-size: 0.92rem; }
dt { color: var(--dim); }
dd { margin: 0; }
.badge { display: inline-block; padding: 0 0.4rem; border-radius: 3px; font-size: 0.85rem; font-weight: 600; }
.badge.likely { background: var(--accent); color: #fff; }
.badge.maybe { background: #f3d9d7; color: var(--accent); }
#preset { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 0.7rem 1rem; margin-top: 0.8rem; }
#preset[hidden] { display: none; }
#preset textarea { width: 100%; font: 13px/1.4 ui-monospace, Menlo, Consolas, monospace; }
#preset pre { background: #f3f3f5; padding: 0.5rem; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
#message { color: var(--accent); }
.overview img { max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
@media (max-width: 800px) { article { grid-template-columns: 1fr; } }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("audition-data").textContent);
  var list = document.getElementById("components");
  var rows = Array.prototype.slice.call(list.querySelectorAll("article.component"));
  var boxes = rows.map(function (row) { return row.querySelector("input.keep"); });
  var nameInput = document.getElementById("preset-name");
  var message = document.getElementById("message");
  var downloadUrl = null;

  function ticked() {
    return boxes.filter(function (box) { return box.checked; })
      .map(function (box) { return parseInt(box.value, 10); })
      .sort(function (a, b) { return a - b; });
  }

  function refresh() {
    rows.forEach(function (row, i) { row.classList.toggle("picked", boxes[i].checked); });
    var keep = ticked();
    document.getElementById("selection").textContent = keep.length
      ? "ticked: " + keep.join(", ") + " (" + keep.length + " of " + rows.length + ")"
      : "nothing ticked yet";
  }

  function number(row, key, missing) {
    var value = parseFloat(row.getAttribute("data-" + key));
    return isNaN(value) ? missing : value;
  }

  var orders = {
    index: function (a, b) { return number(a, "index", 0) - number(b, "index", 0); },
    heartbeat: function (a, b) { return number(b, "score", 0) - number(a, "score", 0) || orders.index(a, b); },
    energy: function (a, b) { return number(b, "energy", 0) - number(a, "energy", 0) || orders.index(a, b); },
    centroid: function (a, b) { return number(a, "centroid", Infinity) - number(b, "centroid", Infinity) || orders.index(a, b); }
  };

  document.getElementById("order").addEventListener("change", function (event) {
    rows.slice().sort(orders[event.target.value]).forEach(function (row) { list.appendChild(row); });
  });

  function tickWhere(test) {
    rows.forEach(function (row, i) { if (test(row)) { boxes[i].checked = true; } });
    refresh();
  }
  document.getElementById("tick-likely").addEventListener("click", function () {
    tickWhere(function (row) { return row.getAttribute("data-mark") === "likely"; });
  });
  document.getElementById("tick-none").addEventListener("click", function () {
    boxes.forEach(function (box) { box.checked = false; });
    refresh();
  });
  Array.prototype.forEach.call(document.querySelectorAll("button.tick-label"), function (button) {
    button.addEventListener("click", function () {
      var label = button.getAttribute("data-label");
      tickWhere(function (row) { return row.getAttribute("data-label") === label; });
    });
  });
  boxes.forEach(function (box) { box.addEventListener("change", refresh); });

  // one player at a time
  document.addEventListener("play", function (event) {
    Array.prototype.forEach.call(document.querySelectorAll("audio"), function (audio) {
      if (audio !== event.target) { audio.pause(); }
    });
  }, true);

  function fill(template, name, keep) {
    return template.split(data.name).join(name).split(data.keep).join(keep);
  }

  function makePreset() {
    var keep = ticked();
    var name = nameInput.value.trim();
    var panel = document.getElementById("preset");
    if (!keep.length) {
      message.textContent = "Tick at least one component first.";
      panel.hidden = true;
      return;
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.\-]*$/.test(name)) {
      message.textContent = "The preset name may hold letters, digits, '_', '-' and '.', and must start with a letter or digit.";
      panel.hidden = true;
      return;
    }
    message.textContent = "";
    var yaml = fill(data.yaml, name, "[" + keep.join(", ") + "]");
    document.getElementById("preset-yaml").value = yaml;
    document.getElementById("preset-command").textContent = fill(data.command, name, keep.join(","));
    Array.prototype.forEach.call(document.querySelectorAll(".preset-name"), function (node) { node.textContent = name; });
    if (downloadUrl) { URL.revokeObjectURL(downloadUrl); }
    downloadUrl = URL.createObjectURL(new Blob([yaml], { type: "application/x-yaml" }));
    var link = document.getElementById("preset-download");
    link.href = downloadUrl;
    link.download = name + ".yaml";
    link.textContent = "download " + name + ".yaml";
    panel.hidden = false;
    panel.scrollIntoView({ block: "nearest" });
  }
  document.getElementById("make-preset").addEventListener("click", makePreset);

  document.getElementById("copy-yaml").addEventListener("click", function () {
    var area = document.getElementById("preset-yaml");
    area.select();
    var done = function () { message.textContent = "Copied the preset YAML."; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(area.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  refresh();
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
<header>
  <h1>$title</h1>
  <p class="dim">$summary</p>
</header>
<div class="toolbar">
  <div class="group">
    <label for="order">order</label>
    <select id="order">
      <option value="index">dictionary order</option>
      <option value="heartbeat">most heartbeat-like first</option>
      <option value="energy">loudest first</option>
      <option value="centroid">lowest centroid first</option>
    </select>
  </div>
  <div class="group">
    <button type="button" id="tick-likely">tick likely heartbeats</button>
    $label_buttons
    <button type="button" id="tick-none">untick all</button>
    <span id="selection" class="dim"></span>
  </div>
  <div class="group">
    <label for="preset-name">preset name</label>
    <input type="text" id="preset-name" value="heartbeat" spellcheck="false">
    <button type="button" id="make-preset" class="primary">make preset from ticked</button>
    <span id="message"></span>
  </div>
</div>
<section id="preset" hidden>
  <h2>Preset <span class="preset-name"></span></h2>
  <textarea id="preset-yaml" rows="17" readonly></textarea>
  <p><a id="preset-download" href="#" download="preset.yaml">download</a> &middot; <button type="button" id="copy-yaml">copy</button></p>
  <p>Save it as <code><span class="preset-name"></span>.yaml</code> and run it with
     <code>rtnmf run --preset path/to/<span class="preset-name"></span>.yaml --input IN.wav --output OUT.wav</code>,
     or save it in your user preset folder (<code>$preset_folder</code>) to use it by name.
     It names the dictionary by its absolute path, so it works wherever you save it as long as the dictionary stays where it is.
     Or let rtnmf write the preset, with its own copy of the dictionary, into your user preset folder:</p>
  <pre id="preset-command"></pre>
</section>
<section>
  <h2>The clip</h2>
  $signals
</section>
<main>
  <h2>Components</h2>
  <p class="dim">Each picture: the template (left, on a log-frequency axis), the activation over time (top) and the spectrogram of
     the component (bottom, same dB scale for every picture). &ldquo;Repeats&rdquo; is the dominant repetition rate of the activation,
     from its autocorrelation; the heartbeat score is high for a low centroid and a repetition at 40&ndash;200 per minute.</p>
  <div id="components">$rows
  </div>
</main>
<section class="overview">
  <h2>The whole dictionary</h2>
  <a href="$overview"><img src="$overview" alt="overview of every template and activation"></a>
</section>
<script type="application/json" id="audition-data">$data</script>
<script>$script</script>
</body>
</html>
"""
