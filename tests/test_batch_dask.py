"""rtnmf batch --scheduler: the same batch on a real Dask cluster (a scheduler and workers started on loopback)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("distributed", reason="Dask's distributed package is not installed (pip install 'realtime_nmf[cluster]')")

from realtime_nmf import load_preset  # noqa: E402
from realtime_nmf.batch import BatchRun  # noqa: E402

from .batch_helpers import rows, rtnmf, same_bytes, wait_for, write_recordings  # noqa: E402
from .conftest import ROOT  # noqa: E402


@contextlib.contextmanager
def dask_cluster(folder, pythonpath, n_workers=2):
    """``dask scheduler`` and ``dask worker`` (single-threaded worker processes) on 127.0.0.1; yields the address."""
    scheduler_file = folder / "scheduler.json"
    env = dict(os.environ, PYTHONPATH=str(pythonpath), OPENBLAS_NUM_THREADS="1")
    logs = [open(folder / "scheduler.log", "w"), open(folder / "worker.log", "w")]
    processes = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(scheduler_file)], stdout=logs[0], stderr=subprocess.STDOUT,
                                  env=env, cwd=folder)]
    try:
        wait_for(lambda: scheduler_file.exists() and scheduler_file.stat().st_size > 0, what="the Dask scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        processes.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", str(n_workers),
                                           "--nthreads", "1", "--no-dashboard", "--memory-limit", "0", "--local-directory", str(folder)],
                                          stdout=logs[1], stderr=subprocess.STDOUT, env=env, cwd=folder))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(n_workers, timeout=120)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with dask_cluster(tmp_path_factory.mktemp("dask"), ROOT) as address:
        yield address


@pytest.fixture(scope="module")
def recordings(tmp_path_factory, stethoscope):
    folder = tmp_path_factory.mktemp("recordings")
    rels = [rel for rel in write_recordings(folder, stethoscope["mixture"]) if rel.endswith(".wav")]
    (folder / "patients" / "broken.wav").write_bytes(b"RIFF....WAVE but nothing else")
    return folder, rels


def test_a_cluster_gives_the_outputs_of_one_process_byte_for_byte(cluster, recordings, tmp_path):
    folder, rels = recordings
    local = tmp_path / "local"
    done = rtnmf("batch", "--preset", "heartbeat", folder, "-o", local, "--jobs", 1)
    assert done.returncode == 1, done.stderr  # the broken file
    # the preset by content: a copy whose files are deleted before the cluster runs it
    preset = load_preset("heartbeat")
    shutil.copy(preset.dictionary_path, tmp_path / "d.npz")
    preset.dictionary_path = tmp_path / "d.npz"
    preset.save(tmp_path / "copy.yaml")
    loaded = load_preset(str(tmp_path / "copy.yaml"))
    batch = BatchRun(loaded, folder, tmp_path / "dask", scheduler=cluster)
    (tmp_path / "d.npz").unlink()
    (tmp_path / "copy.yaml").unlink()
    summary = batch.run()
    assert (summary.ok, summary.error, summary.exit_status) == (len(rels), 1, 1)
    assert summary.peak_in_flight <= 4  # two workers of one thread: two files each at most
    assert same_bytes(tmp_path / "dask", local, rels) == []
    found = rows(tmp_path / "dask")
    assert found["patients/broken.wav"].status == "error" and "broken.wav" in found["patients/broken.wav"].message
    workers = {row.worker for rel, row in found.items() if row.status == "ok"}
    assert all(int(worker.rsplit(":", 1)[1]) != os.getpid() for worker in workers)
    assert {row.preset_hash for row in found.values()} == {row.preset_hash for row in rows(local).values()}
    # a rerun through the cluster skips everything that is done
    again = rtnmf("batch", "--preset", "heartbeat", folder, "-o", tmp_path / "dask", "--scheduler", cluster)
    assert again.returncode == 1, again.stderr
    assert again.stdout.startswith(f"0 ok, {len(rels)} skipped (done by an earlier run), 1 error")


def test_workers_of_another_version_are_refused(recordings, tmp_path):
    folder, _ = recordings
    # a worker that imports another realtime_nmf (a copy whose version says so)
    other = tmp_path / "other"
    shutil.copytree(ROOT / "realtime_nmf", other / "realtime_nmf", ignore=shutil.ignore_patterns("__pycache__"))
    (other / "realtime_nmf" / "_version.py").write_text('__version__ = "0.0.1"\n')
    (tmp_path / "cluster").mkdir()
    with dask_cluster(tmp_path / "cluster", other, n_workers=1) as address:
        done = rtnmf("batch", "--preset", "heartbeat", folder, "-o", tmp_path / "out", "--scheduler", address)
    assert done.returncode == 1
    assert "runs realtime_nmf 0.0.1" in done.stderr and "install the same version on every worker" in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_one_clear_error(recordings, tmp_path):
    folder, _ = recordings
    done = rtnmf("batch", "--preset", "heartbeat", folder, "-o", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")
    assert done.returncode == 1
    assert done.stderr.startswith("rtnmf: error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'") and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
