"""Shortened soak runs (the full ones: python -m tools.benchmarks.soak file --minutes 60; ... live --minutes 10)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT
from .jack_harness import _portaudio_missing


def _soak(mode: str, minutes: float) -> str:
    result = subprocess.run([sys.executable, "-m", "tools.benchmarks.soak", mode, "--minutes", str(minutes)], capture_output=True, text=True,
                            timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_file_mode_soak_memory_stays_flat_and_length_is_exact():
    out = _soak("file", 20)
    assert "equal to the input" in out and "PASS" in out


@pytest.mark.live
def test_live_soak_through_jack_freewheel_has_no_engine_errors():
    reason = _portaudio_missing()
    if reason:
        pytest.skip(reason)
    out = _soak("live", 1)
    assert "engine errors: 0" in out and "PASS" in out
