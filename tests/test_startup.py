"""Start-up stays light: importing the package, and each command, load only what that command needs.

Read from ``python -X importtime`` in a fresh interpreter (the modules a process really
imported, whatever imported them). No time is asserted here: the CPU cost of the import
is measured by ``python -m tools.benchmarks.bench --only batch``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from .conftest import ROOT

#: Never needed before a command asks for them: signal design, statistics, plotting, audio
#: devices, machine learning, JIT compilers, the cluster, the resamplers, BSS Eval.
HEAVY = ("scipy", "matplotlib", "sounddevice", "_sounddevice", "sklearn", "numba", "llvmlite", "librosa", "dask", "distributed",
         "torch", "pandas", "PIL", "fast_bss_eval", "soxr", "samplerate", "jinja2", "tornado", "mir_eval")
#: Not needed by the import itself, nor by ``--help``: progress bars, BLAS control, plugin lookup, config folders.
LIGHT_EXTRAS = ("tqdm", "threadpoolctl", "importlib.metadata", "platformdirs", "realtime_nmf.batch", "realtime_nmf.live",
                "realtime_nmf.audition", "realtime_nmf.evaluate", "realtime_nmf.demo", "realtime_nmf.decompose")


def imported_modules(*args: str) -> set[str]:
    """Every module a fresh ``python -X importtime ARGS`` imported."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    names = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:") and "|" in line}
    assert "numpy" in names, "importtime output was read"
    return names


def forbidden(names: set[str], banned) -> list[str]:
    return sorted(name for name in names if any(name == ban or name.startswith(ban + ".") for ban in banned))


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("startup")
    (folder / "in").mkdir()
    sf.write(folder / "in" / "x.wav", (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32), 4000, subtype="PCM_16")
    return folder


def test_importing_the_package_loads_nothing_heavy():
    names = imported_modules("-c", "import realtime_nmf")
    assert forbidden(names, HEAVY + LIGHT_EXTRAS) == []


def test_help_and_info_load_nothing_heavy():
    assert forbidden(imported_modules("-m", "realtime_nmf", "--help"), HEAVY + LIGHT_EXTRAS) == []
    assert forbidden(imported_modules("-m", "realtime_nmf", "batch", "--help"), HEAVY + LIGHT_EXTRAS) == []
    assert forbidden(imported_modules("-m", "realtime_nmf", "info", "heartbeat"), HEAVY + ("tqdm", "threadpoolctl")) == []


def test_a_file_run_and_a_batch_load_only_what_they_use(recording):
    run = imported_modules("-m", "realtime_nmf", "run", "--preset", "heartbeat", "--input", str(recording / "in" / "x.wav"),
                           "--output", str(recording / "y.wav"))
    assert forbidden(run, HEAVY + ("realtime_nmf.batch", "realtime_nmf.live")) == []
    batch = imported_modules("-m", "realtime_nmf", "batch", "--preset", "heartbeat", str(recording / "in"), "-o",
                             str(recording / "out"), "--jobs", "1")
    assert forbidden(batch, HEAVY + ("realtime_nmf.live",)) == []


def test_the_check_sees_a_module_imported_when_it_is_needed():
    # the same reading catches a heavy module as soon as something uses it: here the resampler
    names = imported_modules("-c", "import realtime_nmf.resample as r, numpy as np; r.resample(np.zeros(100, np.float32), 4000, 8000)")
    assert {name.split(".")[0] for name in forbidden(names, HEAVY)} == {"soxr"}
