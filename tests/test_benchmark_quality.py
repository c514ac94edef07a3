"""tools/benchmarks/quality/ (python -m tools.benchmarks.quality) in its quick mode: correct rows and finite numbers, never timing."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from .conftest import ROOT, data_path



def run_tool(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "tools.benchmarks.quality", *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.data
def test_quick_benchmark_gives_the_table_and_streaming_matches_offline(tmp_path):
    data_path("hls_cmds", "exact_sum_mix")
    result = run_tool("--quick", "--json", tmp_path / "q.json", "--markdown", tmp_path / "q.md")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    report = json.loads((tmp_path / "q.json").read_text())
    assert [r["method"] for r in report["results"]] == ["before", "defaults"]
    for method in report["results"]:
        assert [row["case"] for row in method["rows"]] == ["heart+lung 0087", "heart+lung 0116"]
        assert [row["case"] for row in method["medians"]] == ["median heart+lung (2)"]
        for row in method["rows"] + method["medians"]:
            values = [row[way][key] for way in ("streaming", "offline", "seed") for key in ("sdri", "si_sdri")]
            assert np.isfinite(values).all()
        median = method["medians"][0]
        assert abs(median["streaming"]["sdri"] - median["offline"]["sdri"]) <= 0.3  # the streaming engine = the offline solve
        assert all(0 < row["kept"] < row["n_components"] for row in method["rows"])
    # the printed tables: one per method with every case and the median last, then the summary
    for name in ("before", "defaults"):
        block = out[out.index(f"{name}: ") :].splitlines()
        cases = [line.split("  ")[0] for line in block[3:6]]
        assert cases == ["heart+lung 0087", "heart+lung 0116", "median heart+lung (2)"]
    assert "| method | heart+lung median SDRi: streaming |" in out and "| before |" in out and "| defaults |" in out
    # the Markdown for the docs: where it came from, the summary, one table per method with the JSON's numbers
    markdown = (tmp_path / "q.md").read_text()
    assert "Written by `python -m tools.benchmarks.quality --quick" in markdown and "UTC (commit " in markdown
    assert "| method | heart+lung median SDRi: streaming |" in markdown
    for method in report["results"]:
        median = method["medians"][0]
        assert f"| **median heart+lung (2)** | {median['mixture_sdr']:+.2f} | {median['streaming']['sdri']:+.2f} |" in markdown


@pytest.mark.data
def test_static_wiener_baseline_row(tmp_path):
    data_path("hls_cmds", "exact_sum_mix")
    result = run_tool("--method", "baseline:static-wiener", "--files", "0087,0118", "--no-groove", "--json", tmp_path / "b.json")
    assert result.returncode == 0, result.stderr
    (method,) = json.loads((tmp_path / "b.json").read_text())["results"]
    assert method["method"] == "baseline:static-wiener"
    for row in method["rows"] + method["medians"]:
        assert row["offline"] == row["streaming"] and row["seed"] == {"sdri": None, "si_sdri": None}  # one filter, no seed notebook
        assert np.isfinite([row["streaming"]["sdri"], row["streaming"]["si_sdri"]]).all()
    assert all(row["streaming"]["sdri"] > 0 for row in method["rows"])  # an equaliser learned on the first half already helps
    assert "| baseline:static-wiener |" in result.stdout and "| n/a |" in result.stdout


def test_benchmark_without_the_data_says_so_and_exits_0(tmp_path):
    result = run_tool("--data", tmp_path / "nothing")
    assert result.returncode == 0 and "shared data not found" in result.stdout


def test_benchmark_lists_its_methods_and_refuses_unknown_ones():
    listing = run_tool("--list")
    assert listing.returncode == 0 and "before" in listing.stdout and "defaults" in listing.stdout and "labelled" in listing.stdout
    assert "baseline:static-wiener" in listing.stdout
    unknown = run_tool("--method", "magic")
    assert unknown.returncode == 2 and "unknown method 'magic'" in unknown.stderr
