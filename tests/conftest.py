"""Shared fixtures: a small dictionary, the shared recordings, and an isolated user preset folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = (ROOT / ".." / "shared" / "data").resolve()


def data_path(*parts: str) -> Path:
    """Path of a shared recording; skips the test when the shared data folder is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared recordings not found at {path} (they live outside the repository)")
    return path


@pytest.fixture(autouse=True)
def isolated_user_presets(tmp_path_factory, monkeypatch):
    """Every test gets its own empty user preset folder, never the real ~/.config."""
    folder = tmp_path_factory.mktemp("user_presets")
    monkeypatch.setenv("RTNMF_PRESET_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def numpy_path_unless_live():
    """A live engine makes the compiled kernels the default for the rest of its process: undo that after each test."""
    yield
    from realtime_nmf import kernels

    kernels.prefer_compiled(False)


@pytest.fixture(scope="session")
def stethoscope():
    """The demo's synthesised stethoscope recording (20 s) and its parts."""
    from realtime_nmf.demo import synthesize_stethoscope

    return synthesize_stethoscope(duration=20.0)


@pytest.fixture(scope="session")
def clip_file(stethoscope, tmp_path_factory):
    """The synthesised stethoscope recording as a 4 kHz float WAV file."""
    import soundfile as sf

    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    sf.write(path, stethoscope["mixture"], 4000, subtype="FLOAT")
    return path


@pytest.fixture(scope="session")
def small_dictionary(stethoscope):
    """A 10-component KL dictionary at 4 kHz (n_fft 256, hop 64) trained on the first 10 s."""
    from realtime_nmf.training import learn_dictionary

    # beta pinned: the engine tests' thresholds were set with KL, whatever the training default
    return learn_dictionary([stethoscope["mixture"][:40000]], 4000, n_components=10, iterations=60, n_fft=256, hop_length=64, beta=1.0)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
