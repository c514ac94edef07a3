"""A batch run: its settings, its inputs (streamed), the output folder's lock, and the summary.

:class:`BatchRun` checks the settings and the folders, connects to a Dask cluster when
asked, takes the output folder's lock, opens the manifest and hands the inputs to
:class:`realtime_nmf.batch.loop.BatchLoop`; the inputs are walked (or the list read)
lazily, never held whole. After Ctrl-C the manifest still gets the rows of everything the
run did not reach, and the summary says the run was interrupted.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..errors import OutputError, ParameterError
from .executors import DaskCluster, usable_cores
from .inputs import DEFAULT_PATTERN, WAITING, BatchLayout, read_list, walk
from .loop import BatchLoop, StopRequests
from .manifest import Manifest, Row
from .worker import PresetPayload

__all__ = ["BatchRun", "BatchSummary", "run_batch"]

LOCK_NAME = ".rtnmf-batch.lock"


@dataclass
class BatchSummary:
    """What a batch run did, counted from the rows it wrote."""

    ok: int = 0
    skipped: int = 0
    error: int = 0
    crashed: int = 0
    not_retried: int = 0  # failures recorded by an earlier run and left as they were
    duplicates: int = 0
    interrupted: bool = False
    audio_seconds: float = 0.0
    peak_in_flight: int = 0
    manifest: Path | None = None

    @property
    def failed(self) -> int:
        return self.error + self.crashed

    @property
    def exit_status(self) -> int:
        """0 when every input succeeded, 130 after Ctrl-C, 1 when any failed."""
        return 130 if self.interrupted else (1 if self.failed else 0)

    def line(self) -> str:
        """The one-line summary, e.g. ``198 ok, 2 errors: see out/rtnmf-batch.csv``."""
        parts = [f"{self.ok} ok"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (done by an earlier run)")
        if self.error:
            parts.append(f"{self.error} error" + ("s" if self.error != 1 else ""))
        if self.crashed:
            parts.append(f"{self.crashed} crashed")
        text = ", ".join(parts)
        if self.not_retried:
            text += f" ({self.not_retried} failed in an earlier run and were not retried; --retry-failed retries them)"
        if self.duplicates:
            text += f"; {self.duplicates} duplicate input(s) ignored"
        if self.failed:
            text += f": see {self.manifest}"
        if self.interrupted:
            text = f"interrupted: {text}; run the same command again to finish"
        return text


@contextlib.contextmanager
def _locked(folder: Path):
    """Hold an exclusive lock on the output folder, so two batches never write one manifest."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    path = folder / LOCK_NAME
    try:
        handle = open(path, "a+")
    except OSError as exc:
        raise OutputError(f"cannot write in the output folder {str(folder)!r}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise OutputError(f"another rtnmf batch is writing to {str(folder)!r}; wait for it to finish, or choose another -o") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _clear_staging(folder: Path) -> None:
    """Remove what an interrupted or killed run left in the staging folder (partial outputs)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


class BatchRun:
    """A batch: a preset applied to every input of a folder, outputs mirrored into another folder.

    Parameters
    ----------
    preset : realtime_nmf.presets.Preset
    input_dir, output_dir : str or Path
    pattern : str
        Glob of the inputs relative to ``input_dir`` (ignored with ``files``).
    files : str, optional
        A file listing the inputs, one per line (relative to ``input_dir`` or absolute
        inside it); ``"-"`` reads standard input.
    jobs : int, optional
        Local worker processes (default: the usable cores); 1 runs in this process.
    scheduler : str, optional
        Address of a Dask scheduler to run on instead (``tcp://HOST:8786``).
    overwrite : bool
        Redo every input and replace existing outputs.
    retry_failed : bool
        Also redo the inputs an earlier run recorded as ``error`` or ``crashed``.
    """

    def __init__(self, preset, input_dir, output_dir, *, pattern: str = DEFAULT_PATTERN, files: str | None = None,
                 jobs: int | None = None, scheduler: str | None = None, overwrite: bool = False, retry_failed: bool = False):
        if overwrite and retry_failed:
            raise ParameterError("--overwrite and --retry-failed exclude each other (--overwrite already redoes every input)")
        if scheduler is not None and jobs is not None:
            raise ParameterError("--jobs is for this machine; with --scheduler the cluster's workers set the parallelism")
        if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
            raise ParameterError(f"--jobs {jobs!r} must be a positive number of processes, e.g. {usable_cores()}")
        self.layout = BatchLayout(input_dir, output_dir, pattern)
        self.files = files
        self.scheduler = scheduler
        self.jobs = None if scheduler is not None else (jobs or usable_cores())
        self.overwrite = overwrite
        self.retry_failed = retry_failed
        self.payload = PresetPayload.from_preset(preset)

    def inputs(self) -> Iterator[tuple[str, str | None]]:
        """``(name, problem)`` for every input, streamed: its relative path, or the listed line and why it cannot be taken.

        From standard input, :data:`realtime_nmf.batch.inputs.WAITING` comes while no line is ready.
        """
        if self.files is None:
            for rel in walk(self.layout):
                yield rel, None
            return
        for line in read_list(self.files):
            if line is WAITING:
                yield WAITING
                continue
            try:
                yield self.layout.relative(line), None
            except ParameterError as exc:
                yield line, str(exc)

    def count(self) -> int | None:
        """How many inputs there are (names only, nothing opened); None for a list read from standard input."""
        if self.files == "-":
            return None
        return sum(1 for item in self.inputs() if item is not WAITING)

    def run(self, *, on_row: Callable[[Row], None] | None = None, on_note: Callable[[str], None] | None = None) -> BatchSummary:
        """Process every input; returns the summary (see :attr:`BatchSummary.exit_status`).

        Parameters
        ----------
        on_row : callable(Row), optional
            Called in this thread for every row written to the manifest.
        on_note : callable(str), optional
            Called with notices (stopping after Ctrl-C).
        """
        source = self.inputs()
        first = next(source, None)
        while first is WAITING:
            first = next(source, None)
        if first is None:
            where = f"the list {self.files!r}" if self.files is not None else (
                f"{str(self.layout.input_dir)!r} for --pattern {self.layout.pattern!r} (case-sensitive; hidden files and folders are skipped)")
            raise ParameterError(f"no input found in {where}")
        layout = self.layout
        created = not layout.output_dir.exists()
        try:
            layout.output_dir.mkdir(parents=True, exist_ok=True)
            layout.staging_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder {str(layout.output_dir)!r}: {exc.strerror or exc}") from None
        with _locked(layout.output_dir):
            try:
                cluster = None if self.scheduler is None else DaskCluster(
                    self.scheduler, self.payload, str(layout.input_dir), str(layout.staging_dir))
            except BaseException:
                _remove_empty(layout, created)
                raise
            try:
                with Manifest(layout.manifest_path) as manifest, StopRequests() as stop:
                    _clear_staging(layout.staging_dir)
                    loop = BatchLoop(self, manifest, stop, cluster, BatchSummary(manifest=manifest.path), on_row, on_note)
                    try:
                        loop.run(itertools.chain([first], source))
                    finally:
                        loop.close()
            finally:
                if cluster is not None:
                    cluster.close()
        _clear_staging(layout.staging_dir)  # what workers that were stopped or died left behind
        with contextlib.suppress(OSError):
            layout.staging_dir.rmdir()
        return loop.summary


def _remove_empty(layout: BatchLayout, created: bool) -> None:
    """Undo the folders a run made before it could start (the scheduler was unreachable, say)."""
    with contextlib.suppress(OSError):
        layout.staging_dir.rmdir()
    if created:
        with contextlib.suppress(OSError):
            (layout.output_dir / LOCK_NAME).unlink()
            layout.output_dir.rmdir()


def run_batch(preset, input_dir, output_dir, **options) -> BatchSummary:
    """Run a batch (:class:`BatchRun` with the same arguments) and return its summary."""
    on_row = options.pop("on_row", None)
    return BatchRun(preset, input_dir, output_dir, **options).run(on_row=on_row)
