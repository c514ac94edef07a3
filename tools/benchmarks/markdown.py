"""Benchmark output as Markdown: tables printed as they are measured and, with ``--markdown FILE``, written to a file.

The documentation pages (``docs/performance.md``, ``docs/quality.md``) include the files the
benchmarks write (``docs/generated/*.md``), so the figures in the docs are the benchmark's
own output, never copied by hand. Every file opens with where it came from: the command,
the machine, the date, the commit and how busy the machine was.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def machine() -> str:
    """The processor, its cores and memory, Python and the numerical libraries."""
    cpu = "unknown processor"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            kb = next(int(line.split()[1]) for line in handle if line.startswith("MemTotal"))
        memory = f", {kb / 2**20:.0f} GB"
    except (OSError, StopIteration):
        pass
    import scipy

    return (f"{cpu}, {os.cpu_count()} cores{memory}; Python {platform.python_version()}, numpy {np.__version__}, "
            f"scipy {scipy.__version__}; {blas()}")


def blas() -> str:
    """Every BLAS loaded (numpy's and scipy's may differ), with its version and library (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS unknown"
    found = [f"{pool.get('internal_api', 'BLAS')} {pool.get('version', '')} ({Path(pool.get('filepath', '?')).parent.name})"
             for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return "BLAS " + (", ".join(dict.fromkeys(found)) if found else "unknown")


def commit() -> str:
    """The repository's commit, with ``+ local changes`` when the work tree differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return head + (" + local changes" if dirty else "")


def load_average() -> str:
    try:
        return "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    except OSError:
        return "unknown"


class Report:
    """Markdown written as it is measured: every part is printed at once and kept for :meth:`write`.

    Parameters
    ----------
    module : str
        The benchmark's module, for the provenance line (``tools.benchmarks.bench``).
    argv : list of str
        The arguments it was run with.
    echo : bool
        Print every part as it is added (the bench's output is this Markdown); False keeps
        them for :meth:`write` only.
    """

    def __init__(self, module: str, argv: list[str], *, echo: bool = True):
        self.echo = echo
        self.command = "python -m " + " ".join([module, *map(shlex.quote, argv)])
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.load_at_start = load_average()
        self.commit = commit()  # the code that runs is the code at the start
        self.parts: list[str] = []

    def _add(self, text: str) -> None:
        self.parts.append(text)
        if self.echo:
            print(text + "\n", flush=True)

    def heading(self, text: str, level: int = 3) -> None:
        self._add("#" * level + " " + text)

    def paragraph(self, text: str) -> None:
        self._add(text)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
        self._add("\n".join(lines))

    def preformatted(self, text: str) -> None:
        """Text kept as printed (fixed-width tables), in a fenced block."""
        self.parts.append("```text\n" + text + "\n```")
        if self.echo:
            print(text + "\n", flush=True)

    def provenance(self) -> str:
        seconds = (datetime.datetime.now(datetime.timezone.utc) - self.started).total_seconds()
        return (f"Written by `{self.command}` on {self.started:%Y-%m-%d %H:%M} UTC (commit {self.commit}), in {seconds / 60:.1f} min, "
                f"on {machine()}. Load average (1 / 5 / 15 min) {self.load_at_start} at the start, {load_average()} at the end: "
                f"a shared machine where other work runs, so timings are noisy.")

    def write(self, path: Path) -> None:
        """Write the provenance paragraph and every part to ``path`` (folders created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "\n\n".join([f"<!-- generated by {self.command}; do not edit by hand -->", self.provenance(), *self.parts]) + "\n"
        path.write_text(text)
        print(f"wrote {path}", file=sys.stderr)
