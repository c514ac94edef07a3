"""The benchmark's results as text: medians, fixed-width tables for the terminal, Markdown and JSON.

A method's result is ``{"method", "description", "rows", "medians",
"max_streaming_offline_gap", "seconds"}``, ``rows`` as :func:`.methods.run_case` returns
them; :func:`method_result` adds the medians.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tools.benchmarks.markdown import Report
from tools.benchmarks.quality.cases import FULL_DATASET
from tools.benchmarks.quality.oracle_share import median_context, share_lines

WAYS = ("streaming", "offline", "seed")
#: Marks the end of the summary in the Markdown (a page can include the summary alone, ``:end-before:``).
SUMMARY_END = "<!-- end of the summary -->"


def median_row(rows: list[dict], name: str, of: str) -> dict:
    """The median of every column over ``rows`` (None for a column a method has not)."""
    out = {"case": name, "dataset": "median", "kept": None, "n_components": None, "of": of,
           "mixture_sdr": float(np.median([r["mixture_sdr"] for r in rows]))}
    for way in WAYS:
        values = {key: [r[way][key] for r in rows] for key in ("sdri", "si_sdri")}
        out[way] = {key: None if None in v else float(np.median(v)) for key, v in values.items()}
    out.update(median_context(rows))  # the ideal ratio mask's and the example's choice
    return out


def method_result(method, rows: list[dict]) -> dict:
    """A method's rows with their medians: over each heart+lung fold, and over all cases when there are others."""
    medians = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        group = [r for r in rows if r["dataset"] == dataset]
        if dataset.startswith("heart+lung"):
            medians.append(median_row(group, f"median {dataset} ({len(group)})", dataset))
    if any(not r["dataset"].startswith("heart+lung") for r in rows):
        medians.append(median_row(rows, f"median all ({len(rows)})", "all"))
    gaps = [abs(r["streaming"]["sdri"] - r["offline"]["sdri"]) for r in rows]
    return {"method": method.name, "description": method.description, "rows": rows, "medians": medians,
            "max_streaming_offline_gap": max(gaps) if gaps else None}


def db(value) -> str:
    """``+1.23`` (6 wide), or ``n/a`` for a missing or non-finite value."""
    return "   n/a" if value is None or not np.isfinite(value) else f"{value:+6.2f}"


def _kept(row: dict) -> str:
    return f"{row['kept']}/{row['n_components']}" if row["kept"] is not None else ""


def method_table(result: dict) -> str:
    """One method, fixed width: every case, then the medians, then the largest streaming-offline gap."""
    lines = [f"{result['method']}: {result['description']}",
             f"{'':30}  {'mixture':>7}  {'streaming':^15}  {'offline, converged':^18}  {'seed notebook':^15}",
             f"{'case':30}  {'SDR':>7}  {'SDRi':>6}  {'SI-SDRi':>7}  {'SDRi':>6}  {'SI-SDRi':>9}  {'SDRi':>6}  {'SI-SDRi':>7}  kept"]
    for row in result["rows"] + result["medians"]:
        lines.append(f"{row['case']:30}  {db(row['mixture_sdr']):>7}  {db(row['streaming']['sdri'])}  {db(row['streaming']['si_sdri']):>7}  "
                     f"{db(row['offline']['sdri'])}  {db(row['offline']['si_sdri']):>9}  {db(row['seed']['sdri'])}  "
                     f"{db(row['seed']['si_sdri']):>7}  {_kept(row)}")
    lines.append(f"largest |streaming - offline| SDRi over the cases: {result['max_streaming_offline_gap']:.2f} dB")
    return "\n".join(lines)


def method_markdown(report: Report, result: dict) -> None:
    """One method as a Markdown table (the same columns as :func:`method_table`)."""
    report.heading(f"{result['method']}: {result['description']}", level=3)
    rows = []
    for row in result["rows"] + result["medians"]:
        name = f"**{row['case']}**" if row["dataset"] == "median" else row["case"]
        rows.append([name, db(row["mixture_sdr"]).strip(), *(db(row[way][key]).strip() for way in WAYS for key in ("sdri", "si_sdri")),
                     _kept(row)])
    report.table(["case", "mixture SDR", "streaming SDRi", "SI-SDRi", "offline converged SDRi", "SI-SDRi", "seed notebook SDRi", "SI-SDRi",
                  "kept"], rows)
    report.paragraph(f"Largest streaming - offline SDRi gap over the cases: {result['max_streaming_offline_gap']:.2f} dB; "
                     f"{result.get('seconds', float('nan')):.0f} s.")
    shares = share_lines(result)
    if shares:
        report.paragraph(shares.replace("\n", "  \n"))


def summary_table(results: list[dict]) -> str:
    """One Markdown line per method: medians over heart+lung (and the swapped fold), and the groove cases."""
    if not results:
        return ""
    groove = [r["case"] for r in results[0]["rows"] if r["dataset"] == "groove"]
    swapped = any(str(m.get("of")).startswith("heart+lung") and str(m.get("of")).endswith(" swapped") for m in results[0]["medians"])
    head = ("| method | heart+lung median SDRi: streaming | SI-SDRi | offline converged | seed notebook | "
            + ("swapped halves: streaming SDRi | " if swapped else "")
            + "".join(f"{name} SDRi: streaming / offline | " for name in groove) + "what changes |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for result in results:
        medians = {m.get("of"): m for m in result["medians"]}
        hls = medians.get("heart+lung") or medians.get(FULL_DATASET)
        cells = [result["method"]]
        if hls:
            cells += [db(hls["streaming"]["sdri"]).strip(), db(hls["streaming"]["si_sdri"]).strip(), db(hls["offline"]["sdri"]).strip(),
                      db(hls["seed"]["sdri"]).strip()]
        else:
            cells += ["", "", "", ""]
        if swapped:
            other = medians.get("heart+lung swapped") or medians.get(FULL_DATASET + " swapped")
            cells.append(db(other["streaming"]["sdri"]).strip() if other else "")
        for name in groove:
            row = next(r for r in result["rows"] if r["case"] == name)
            cells.append(f"{db(row['streaming']['sdri']).strip()} / {db(row['offline']['sdri']).strip()}")
        cells.append(result["description"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def oracle_table(rows: list[dict]) -> str:
    """The oracle context rows, fixed width, with their medians."""
    names = [key for key in rows[0] if key != "case"]
    lines = ["oracle context (uses the test half's true parts; not achievable by a separator):",
             f"{'case':24}  " + "  ".join(f"{name:>{len(name)}}" for name in names)]
    for row in rows:
        lines.append(f"{row['case']:24}  " + "  ".join(f"{db(row[name]):>{len(name)}}" for name in names))
    lines.append(f"{'median':24}  " + "  ".join(f"{db(float(np.median([r[name] for r in rows]))):>{len(name)}}" for name in names))
    return "\n".join(lines)


def oracle_markdown(report: Report, rows: list[dict]) -> None:
    """The oracle context rows as a Markdown table, medians last."""
    names = [key for key in rows[0] if key != "case"]
    table = [[row["case"], *(db(row[name]).strip() for name in names)] for row in rows]
    table.append(["**median**", *(db(float(np.median([r[name] for r in rows]))).strip() for name in names)])
    report.heading("Oracle context (SDRi, dB; uses the test half's true parts: no separator can have them)", level=3)
    report.table(["case", *names], table)


def write_json(path: Path, results: list[dict], oracle: list[dict] | None) -> None:
    """Every number, as ``{"results": [...], "oracle": [...] or null}``."""
    Path(path).write_text(json.dumps({"results": results, "oracle": oracle}, indent=1))
