"""The quality benchmark on the 29 exact heart+lung triples: the ideal ratio mask beside each method, and choosing by an example."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from .conftest import ROOT, data_path


@pytest.mark.data
def test_full_set_rows_carry_the_ideal_ratio_mask_and_the_example_choice(tmp_path):
    data_path("hls_cmds_full", "exact_sum_mix")
    result = subprocess.run([sys.executable, "-m", "tools.benchmarks.quality", "--full", "--files", "0112,0144", "--method", "defaults",
                             "--json", tmp_path / "f.json"], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    (method,) = json.loads((tmp_path / "f.json").read_text())["results"]
    assert [row["case"] for row in method["rows"]] == ["heart+lung 0112", "heart+lung 0144"]
    for row in method["rows"]:
        # a perfect mask of the same STFT beats the separator, which beats doing nothing
        assert row["irm"] > row["streaming"]["sdri"] > 0
        assert np.isfinite(row["example"]["sdri"]) and 0 <= row["example"]["kept"] <= row["n_components"]
    (median,) = method["medians"]
    assert median["case"] == "median heart+lung full (2)"
    assert median["irm"] == pytest.approx(np.median([row["irm"] for row in method["rows"]]))
    line = next(line for line in result.stdout.splitlines() if line.startswith("median heart+lung full (2): streaming SDRi"))
    share = median["streaming"]["sdri"] / median["irm"]
    assert f"ideal ratio mask {median['irm']:+.2f} dB: {share:.2f} of it" in line
    assert "components chosen by 3 s of the target alone" in line and "of the choice by the aligned reference" in line
