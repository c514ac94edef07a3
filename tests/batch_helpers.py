"""Shared by the batch tests: a folder of recordings, the command in a fresh interpreter, manifest reading."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from realtime_nmf.batch import read_manifest
from realtime_nmf.batch.inputs import MANIFEST_NAME

from .conftest import ROOT

#: (relative path, seconds, sample rate, channels, subtype) of the test tree: nested folders,
#: stereo, another rate (resampled for processing), FLAC.
RECORDINGS = [
    ("a.wav", 3.0, 4000, 1, "PCM_16"),
    ("patients/p01/visit1.wav", 2.5, 4000, 2, "PCM_16"),
    ("patients/p01/visit2.wav", 2.0, 8000, 1, "PCM_16"),
    ("patients/p02/visit1.wav", 3.5, 4000, 1, "PCM_24"),
    ("patients/p02/visit1.flac", 2.0, 4000, 1, "PCM_16"),
    ("z/deep/er/still.wav", 1.5, 4000, 1, "PCM_16"),
]


def write_recordings(folder: Path, signal: np.ndarray, recordings=RECORDINGS) -> list[str]:
    """Write slices of ``signal`` (4 kHz) as the recordings of ``recordings``; return their relative paths."""
    from realtime_nmf.resample import resample

    offset = 0
    for index, (rel, seconds, rate, channels, subtype) in enumerate(recordings):
        n = int(seconds * 4000)
        y = signal[offset:offset + n]
        offset = (offset + n) % (len(signal) - 4 * 4000)
        if rate != 4000:
            y = resample(y, 4000, rate)
        y = np.stack([y * (0.5 + 0.5 * c) for c in range(channels)], axis=1)
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y, rate, subtype=subtype)
    return [rel for rel, *_ in recordings]


def rtnmf(*args, timeout=600, env=None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m realtime_nmf ARGS`` in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "realtime_nmf", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


def rows(output_dir: Path) -> dict:
    """The manifest's rows by input."""
    found = read_manifest(output_dir / MANIFEST_NAME)
    by_input = {row.input: row for row in found}
    assert len(by_input) == len(found), "one row per input"
    return by_input


def wait_for(condition, timeout: float = 120.0, what: str = "a condition") -> None:
    """Poll ``condition`` until it holds (a readiness signal, not a measure of speed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def same_bytes(first: Path, second: Path, rels) -> list[str]:
    """The relative paths whose files differ between two trees."""
    return [rel for rel in rels if (first / rel).read_bytes() != (second / rel).read_bytes()]
