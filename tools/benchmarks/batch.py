"""Batch benchmark: rtnmf batch against a shell loop of rtnmf run, scaling to the cores, parent memory, reruns, start-up.

Usage: python -m tools.benchmarks.bench --only batch [--quick]   (or python -m tools.benchmarks.batch [--quick] [--markdown FILE])

Every command runs in a fresh interpreter (``python -m realtime_nmf ...`` with this
checkout first on the path), as a user runs it, on 15 s recordings at 4 kHz (slices of the
demo's synthesised stethoscope recording) with the bundled heartbeat preset. The shell
loop, ``--jobs 1``, ``--jobs N`` (N: the usable cores) and, when Dask's distributed is
installed, a local Dask cluster of N single-threaded workers run in alternation, round
after round, so that a slow phase of this shared machine slows every side of a ratio;
ratios are medians over the rounds. Rates are files per second of wall time, start-up
included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")


def command(*args, stdin=None) -> tuple[float, float]:
    """Run ``python ARGS``; return (wall seconds, CPU seconds of it and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *map(str, args)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          input=stdin)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0,):
        raise SystemExit(f"benchmark command failed ({done.returncode}): {' '.join(map(str, args))}\n{done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def write_recordings(folder: Path, n: int, seconds: float = 15.0) -> list[str]:
    """``n`` recordings of ``seconds`` at 4 kHz (16-bit), 50 per folder."""
    from realtime_nmf.demo import synthesize_stethoscope

    y = synthesize_stethoscope(duration=max(40.0, seconds + 5.0))["mixture"]
    length = int(seconds * 4000)
    rels = []
    for index in range(n):
        rel = f"p{index // 50:03d}/rec{index:05d}.wav"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        start = (index * 997) % (len(y) - length)
        sf.write(folder / rel, y[start:start + length], 4000, subtype="PCM_16")
        rels.append(rel)
    return rels


def batch(folder: Path, out: Path, *args) -> tuple[float, float]:
    return command("-m", "realtime_nmf", "batch", "--preset", "heartbeat", folder, "-o", out, "--quiet", *args)


def shell_loop(folder: Path, rels: list[str], out: Path) -> tuple[float, float]:
    """What a user's ``for f in ...; do rtnmf run ...; done`` costs: one interpreter per file (wall s, CPU s)."""
    started, cpu = time.perf_counter(), 0.0
    for rel in rels:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        cpu += command("-m", "realtime_nmf", "run", "--preset", "heartbeat", "--input", folder / rel, "--output", out / rel)[1]
    return time.perf_counter() - started, cpu


@contextlib.contextmanager
def dask_cluster(folder: Path, n_workers: int):
    """A Dask scheduler and ``n_workers`` single-threaded workers on 127.0.0.1 (None without distributed)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        yield None
        return
    scheduler_file = folder / "scheduler.json"
    logs = open(folder / "dask.log", "w")
    processes = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", scheduler_file], env=ENV, stdout=logs, stderr=logs, cwd=folder)]
    try:
        while not (scheduler_file.exists() and scheduler_file.stat().st_size):
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        processes.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", str(n_workers),
                                           "--nthreads", "1", "--no-dashboard", "--memory-limit", "0", "--local-directory", folder],
                                          env=ENV, stdout=logs, stderr=logs, cwd=folder))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(n_workers, timeout=120)
        yield address
    finally:
        for process in processes[::-1]:
            process.terminate()
            process.wait(timeout=60)
        logs.close()


def throughput(report, quick: bool) -> None:
    from realtime_nmf.batch.executors import usable_cores

    cores = usable_cores()
    n_loop, n_batch, rounds = (6, 40, 1) if quick else (20, 240, 5)
    report.heading(f"rtnmf batch: 15 s recordings at 4 kHz, preset heartbeat, {cores} usable cores, commands in alternation")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        rels = write_recordings(scratch / "in", n_batch)
        (scratch / "loop_in").mkdir()
        for rel in rels[:n_loop]:
            (scratch / "loop_in" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(scratch / "in" / rel, scratch / "loop_in" / rel)
        sides = {"shell loop of `rtnmf run`": [], "`rtnmf batch --jobs 1`": [], f"`rtnmf batch --jobs {cores}`": []}
        cpu = {name: [] for name in sides}
        with dask_cluster(scratch, cores) as address:
            if address is not None:
                sides[f"`rtnmf batch --scheduler` (local Dask, {cores} workers x 1 thread)"] = []
            for round_ in range(rounds):
                for name in sides:
                    out = scratch / f"out-{round_}-{len(sides[name])}-{abs(hash(name))}"
                    if name.startswith("shell"):
                        wall, used = shell_loop(scratch / "loop_in", rels[:n_loop], out)
                        files = n_loop
                    elif "--scheduler" in name:
                        (wall, used), files = batch(scratch / "in", out, "--scheduler", address), n_batch
                    else:
                        (wall, used), files = batch(scratch / "in", out, "--jobs", name.split("--jobs ")[1].rstrip("`")), n_batch
                    sides[name].append(files / wall)
                    cpu.setdefault(name, []).append(used / files)
                    shutil.rmtree(out)
    loop = sides["shell loop of `rtnmf run`"]
    rows = []
    for name, rates in sides.items():
        ratios = [rate / base for rate, base in zip(rates, loop)]
        files = n_loop if name.startswith("shell") else n_batch
        # the CPU of processes this one waits for: the workers of a pool are the fork server's children, Dask's are not ours
        used = f"{1000 * statistics.median(cpu[name]):.0f}" if name.startswith(("shell", "`rtnmf batch --jobs 1`")) else ""
        rows.append([name, files, f"{statistics.median(rates):.2f} [{min(rates):.2f}-{max(rates):.2f}]",
                     f"{statistics.median(ratios):.1f}x [{min(ratios):.1f}-{max(ratios):.1f}]", used])
    report.table(["command", "files", f"files per second, median [min-max] of {rounds} round(s)",
                  "vs the shell loop, median [min-max] (target >= 20x)", "CPU ms per file"], rows)
    one, many = sides["`rtnmf batch --jobs 1`"], sides[f"`rtnmf batch --jobs {cores}`"]
    scaling = [m / o / cores for m, o in zip(many, one)]
    loop_cpu, one_cpu = statistics.median(cpu["shell loop of `rtnmf run`"]), statistics.median(cpu["`rtnmf batch --jobs 1`"])
    report.paragraph(f"Scaling from --jobs 1 to --jobs {cores}: {100 * statistics.median(scaling):.0f} % of linear "
                     f"[{100 * min(scaling):.0f}-{100 * max(scaling):.0f}] (target >= 80 %). CPU per file, which sets the pace on an "
                     f"idle machine: a shell loop keeps one core busy ({1 / loop_cpu:.1f} files/s), --jobs {cores} keeps {cores} "
                     f"({cores / one_cpu:.0f} files/s at linear scaling): {loop_cpu * cores / one_cpu:.0f}x.")


def peak_parent_rss(folder: Path, out: Path, listing: Path, *args) -> tuple[float, float]:
    """Peak RSS (MB, VmHWM) of the ``rtnmf batch`` parent process alone, and its wall time."""
    code = ("import runpy, sys; sys.argv = ['rtnmf'] + sys.argv[1:]; code = 0\n"
            "try:\n    runpy.run_module('realtime_nmf', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
            "print('VmHWM', [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1], file=sys.stderr)\n"
            "sys.exit(0)")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "batch", "--preset", "heartbeat", str(folder), "-o", str(out), "--files",
                           str(listing), "--quiet", *args], env=ENV, capture_output=True, text=True)
    line = [entry for entry in done.stderr.splitlines() if entry.startswith("VmHWM")]
    if not line:
        raise SystemExit(f"batch failed: {done.stderr[-2000:]}")
    return int(line[0].split()[1]) / 1024, time.perf_counter() - started


def memory_and_rerun(report, quick: bool) -> None:
    from realtime_nmf.batch.executors import usable_cores

    sizes = (1000, 10000) if quick else (1000, 100000)
    report.heading("rtnmf batch: parent memory and reruns")
    report.paragraph("Every input is a link to one 0.25 s recording, so that a list of 100,000 files runs in minutes; the parent's "
                     "work per file (stat, manifest, submission, commit) is the same as for a long one.")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        source = write_recordings(scratch / "src", 1, seconds=0.25)[0]
        folder = scratch / "in"
        for n in sizes:
            shutil.rmtree(folder, ignore_errors=True)
            for index in range(n):
                path = folder / f"d{index // 1000:03d}" / f"f{index:06d}.wav"
                if index % 1000 == 0:
                    path.parent.mkdir(parents=True)
                os.symlink(scratch / "src" / source, path)
            listing = scratch / "list.txt"
            listing.write_text("".join(f"d{index // 1000:03d}/f{index:06d}.wav\n" for index in range(n)))
            out = scratch / f"out{n}"
            first, first_wall = peak_parent_rss(folder, out, listing, "--jobs", str(usable_cores()))
            again, again_wall = peak_parent_rss(folder, out, listing)
            _, cpu = command("-m", "realtime_nmf", "batch", "--preset", "heartbeat", folder, "-o", out, "--files", listing, "--quiet")
            rows.append([f"{n:,}", f"{first:.0f}", f"{first_wall:.1f}", f"{again:.0f}", f"{again_wall:.2f}", f"{cpu:.2f}"])
            shutil.rmtree(out)
    report.table(["inputs", "first run: parent peak RSS MB", "wall s", "rerun (all skipped): parent peak RSS MB", "wall s", "CPU s"], rows)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        write_recordings(scratch / "in", 1000, seconds=1.0)
        batch(scratch / "in", scratch / "out")
        walls, cpus = zip(*(batch(scratch / "in", scratch / "out") for _ in range(3 if not quick else 1)))
        report.paragraph(f"Rerun of a finished 1,000-file batch (walking the folder, every file skipped): {statistics.median(walls):.2f} s "
                         f"wall, {statistics.median(cpus):.2f} s CPU, median of {len(walls)} (target < 2 s).")


def startup(report, quick: bool) -> None:
    repeats = 5 if quick else 15
    cases = {"`python -c pass` (the interpreter alone)": ["-c", "pass"], "`import numpy`": ["-c", "import numpy"],
             "`import realtime_nmf`": ["-c", "import realtime_nmf"], "`rtnmf --help`": ["-m", "realtime_nmf", "--help"],
             "`rtnmf info heartbeat`": ["-m", "realtime_nmf", "info", "heartbeat"]}
    found = {name: [] for name in cases}
    for _ in range(repeats):  # in alternation
        for name, args in cases.items():
            found[name].append(command(*args)[1])
    report.heading(f"Start-up: CPU seconds of the whole process (user + system), median [min-max] of {repeats}, in alternation")
    report.table(["process", "CPU s"], [[name, f"{statistics.median(v):.3f} [{min(v):.3f}-{max(v):.3f}]"] for name, v in found.items()])
    base = statistics.median(found["`python -c pass` (the interpreter alone)"])
    report.paragraph(f"`import realtime_nmf` itself: {statistics.median(found['`import realtime_nmf`']) - base:.3f} s of CPU above "
                     "the bare interpreter (target <= 0.5 s).")


def batch_rows(report, quick: bool) -> None:
    """Every batch table: start-up, throughput side by side, parent memory and reruns."""
    startup(report, quick)
    throughput(report, quick)
    memory_and_rerun(report, quick)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer files and rounds (a smoke run)")
    parser.add_argument("--markdown", type=Path, default=None, metavar="FILE", help="also write the tables to FILE as Markdown")
    args = parser.parse_args()
    from .markdown import Report

    report = Report("tools.benchmarks.batch", sys.argv[1:])
    batch_rows(report, args.quick)
    if args.markdown is not None:
        report.write(args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
