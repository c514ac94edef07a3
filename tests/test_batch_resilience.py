"""rtnmf batch when things go wrong: Ctrl-C, a worker that dies, a parent that was killed, a list that arrives slowly."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from realtime_nmf import load_preset
from realtime_nmf.batch import BatchRun
from realtime_nmf.batch.inputs import MANIFEST_NAME, STAGING_NAME
from realtime_nmf.batch.manifest import PREVIOUS_NAME

from .batch_helpers import rows, rtnmf, wait_for
from .conftest import ROOT


@pytest.fixture(scope="module")
def short(tmp_path_factory, stethoscope):
    """Twelve 2 s recordings in two folders."""
    folder = tmp_path_factory.mktemp("short")
    y = stethoscope["mixture"]
    for index in range(12):
        path = folder / f"s{index % 2}" / f"{index:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y[index * 1000:index * 1000 + 8000], 4000, subtype="PCM_16")
    return folder, sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.wav"))


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory):
    """Ten minutes at 4 kHz: long enough to be caught in the middle."""
    folder = tmp_path_factory.mktemp("long")
    rng = np.random.default_rng(0)
    with sf.SoundFile(folder / "long.wav", "w", 4000, 1, "PCM_16") as handle:
        for _ in range(20):
            handle.write((0.1 * rng.standard_normal(120000)).astype(np.float32))
    return folder / "long.wav"


class Batch:
    """``rtnmf batch ARGS`` running in a fresh interpreter, its standard error collected as it comes."""

    def __init__(self, args, path=()):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *path]))
        self.process = subprocess.Popen([sys.executable, "-m", "realtime_nmf", "batch", *map(str, args)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.stdin = self.process.stdin
        self.errors: list[str] = []
        self._reader = threading.Thread(target=lambda: self.errors.extend(iter(self.process.stderr.readline, "")), daemon=True)
        self._reader.start()

    def send(self, lines) -> None:
        self.stdin.write("".join(f"{line}\n" for line in lines))
        self.stdin.flush()

    def signal(self, signum) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout=300) -> tuple[int, str, str]:
        stdout = self.process.stdout.read()
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.process.returncode, stdout, "".join(self.errors)


def data_rows(out: Path) -> int:
    path = out / MANIFEST_NAME
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, and theirs (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def partial_being_written(out: Path) -> bool:
    staging = out / STAGING_NAME
    return staging.is_dir() and any(p.name.endswith(".part") for p in staging.iterdir())


def check_consistent(folder: Path, out: Path) -> dict:
    """Every output has an ok row and is a complete file as long as its input; nothing partial is left."""
    found = rows(out)
    outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")
                     and p.name != MANIFEST_NAME)
    assert outputs == sorted(rel for rel, row in found.items() if row.status in ("ok", "skipped"))
    for rel in outputs:
        assert sf.info(str(out / rel)).frames == sf.info(str(folder / rel)).frames
    assert not (out / STAGING_NAME).exists() or not any((out / STAGING_NAME).iterdir())
    assert not (out / PREVIOUS_NAME).exists()
    return found


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_list_is_streamed_and_ctrl_c_finishes_cleanly(short, tmp_path, jobs):
    folder, rels = short
    out = tmp_path / "out"
    batch = Batch(["--preset", "heartbeat", folder, "-o", out, "--files", "-", "--jobs", jobs])
    batch.send(rels[:4])
    # rows appear while the list is still open: the list is streamed, never read whole first
    wait_for(lambda: data_rows(out) >= 4, what="the first four rows")
    batch.signal(signal.SIGINT)
    code, stdout, stderr = batch.wait()
    assert code == 130, stderr
    assert "interrupted: 4 ok" in stderr and "Traceback" not in stderr
    assert sorted(check_consistent(folder, out)) == rels[:4]
    # the same command again, the list complete: the rest is done, the first four skipped
    again = rtnmf("batch", "--preset", "heartbeat", folder, "-o", out, "--files", "-", "--jobs", jobs, input="\n".join(rels) + "\n")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"{len(rels) - 4} ok, 4 skipped (done by an earlier run)"
    check_consistent(folder, out)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_file_interrupted_in_the_middle_is_never_taken_for_finished(short, long_recording, tmp_path, signum):
    folder, rels = short
    shutil.copy(long_recording, folder / "long.wav")
    try:
        out = tmp_path / "out"
        batch = Batch(["--preset", "heartbeat", folder, "-o", out, "--files", "-", "--jobs", 1])
        batch.send(["long.wav"])
        wait_for(lambda: partial_being_written(out), what="the long file to be in progress")
        batch.signal(signum)
        code, stdout, stderr = batch.wait()
        assert code == 130, stderr
        assert not (out / "long.wav").exists()
        assert "long.wav" not in check_consistent(folder, out)
    finally:
        (folder / "long.wav").unlink()


def test_ctrl_c_lets_local_workers_finish_and_a_second_ctrl_c_abandons_them(short, long_recording, tmp_path):
    folder, rels = short
    shutil.copy(long_recording, folder / "long.wav")
    try:
        finished, abandoned = tmp_path / "finished", tmp_path / "abandoned"
        for out, presses in ((finished, 1), (abandoned, 2)):
            batch = Batch(["--preset", "heartbeat", folder, "-o", out, "--files", "-", "--jobs", 2])
            batch.send(["long.wav"])
            wait_for(lambda: partial_being_written(out), what="the long file to be in progress")
            # the workers are held (SIGSTOP) while the keys are pressed: the long file cannot finish in between, however fast
            workers = descendants(batch.process.pid)
            for pid in workers:
                os.kill(pid, signal.SIGSTOP)
            try:
                batch.signal(signal.SIGINT)
                wait_for(lambda: "press Ctrl-C again" in "".join(batch.errors), what="the stopping notice")
                if presses == 2:
                    batch.signal(signal.SIGINT)
                    wait_for(lambda: "abandoning 1 file(s) in progress" in "".join(batch.errors), what="the abandoning notice")
            finally:
                for pid in workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
            code, stdout, stderr = batch.wait()
            assert code == 130, stderr
            found = check_consistent(folder, out)
            assert ("long.wav" in found) == (presses == 1)
    finally:
        (folder / "long.wav").unlink()


CRASHER = '''
import os, signal
import numpy as np
from realtime_nmf.processors import Processor


class CrashOnLoud(Processor):
    """Kills its own process on a block louder than 0.9: a stand-in for a native crash or the OOM killer."""

    name = "crash-on-loud"

    def _process(self, block, out):
        if np.abs(block).max() > 0.9:
            os.kill(os.getpid(), signal.SIGKILL)
        out[...] = block
'''


def test_a_worker_that_dies_costs_only_the_file_that_killed_it(short, tmp_path):
    folder, rels = short
    plugin = tmp_path / "plugin"
    (plugin / "crashplug-0.1.dist-info").mkdir(parents=True)
    (plugin / "crashplug.py").write_text(CRASHER)
    (plugin / "crashplug-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: crashplug\nVersion: 0.1\n")
    (plugin / "crashplug-0.1.dist-info" / "entry_points.txt").write_text("[realtime_nmf.processors]\ncrash-on-loud = crashplug:CrashOnLoud\n")
    preset = load_preset("heartbeat")
    preset.chain = [("nmf", {}), ("crash-on-loud", {})]
    preset.save(tmp_path / "crashy.yaml")
    inputs = tmp_path / "in"
    shutil.copytree(folder, inputs)
    loud = np.full((4000, 1), 0.95, np.float32)
    sf.write(inputs / "s0" / "loud.wav", loud, 4000, subtype="PCM_16")
    out = tmp_path / "out"
    code, stdout, stderr = Batch(["--preset", tmp_path / "crashy.yaml", inputs, "-o", out, "--jobs", 2], path=[str(plugin)]).wait(600)
    assert code == 1, stderr
    assert stdout.strip() == f"{len(rels)} ok, 1 crashed: see {out.resolve() / MANIFEST_NAME}"
    found = check_consistent(inputs, out)
    assert found["s0/loud.wav"].status == "crashed" and "died" in found["s0/loud.wav"].message
    assert {rel: found[rel].status for rel in rels} == {rel: "ok" for rel in rels}


def test_rows_of_inputs_a_run_does_not_reach_are_kept(short, tmp_path):
    folder, rels = short
    out = tmp_path / "out"
    preset = load_preset("heartbeat")
    assert BatchRun(preset, folder, out, jobs=2).run().exit_status == 0
    before = rows(out)
    (tmp_path / "one.txt").write_text(rels[3] + "\n")
    summary = BatchRun(preset, folder, out, files=str(tmp_path / "one.txt"), jobs=1, overwrite=True).run()
    assert (summary.ok, summary.exit_status) == (1, 0)
    after = rows(out)
    assert sorted(after) == rels
    assert after[rels[3]].worker == f"{socket.gethostname()}:{os.getpid()}"  # redone, in this process (--jobs 1)
    assert {rel: after[rel] for rel in rels if rel != rels[3]} == {rel: before[rel] for rel in rels if rel != rels[3]}


def test_after_a_killed_parent_the_newer_rows_win(short, tmp_path):
    folder, rels = short
    out = tmp_path / "out"
    preset = load_preset("heartbeat")
    assert BatchRun(preset, folder, out, jobs=1).run().exit_status == 0
    manifest = out / MANIFEST_NAME
    lines = manifest.read_text().splitlines()
    # as if a run had renamed the manifest, written one newer row (a failure), and been killed mid-line
    (out / PREVIOUS_NAME).write_text("\n".join(lines) + "\n")
    newer = lines[1].split(",")
    newer[2], newer[3] = "error", "a newer failure"
    manifest.write_text("\n".join([lines[0], ",".join(newer), lines[2][:10]]))
    summary = BatchRun(preset, folder, out, jobs=1).run()
    assert (summary.skipped, summary.error, summary.not_retried) == (len(rels) - 1, 1, 1)
    found = rows(out)
    assert found[newer[0]].message == "a newer failure"
    assert not (out / PREVIOUS_NAME).exists()
