"""The parent's loop of a batch: inputs in, a bounded number of files in flight, rows out.

The parent alone decides, commits and records: for each input it decides whether an
earlier run finished it (a ``skipped`` row) or it must be processed, keeps at most a few
files per worker in flight, moves each finished file from its temporary name to its place
in the output tree (creating the folders it needs then) and writes its manifest row. A
local worker process that dies (``BrokenProcessPool``) takes only its pool down: a new
pool takes over, and the files that were in flight are tried again one at a time in a
separate process, so the file that kills a worker is the one marked ``crashed``. Ctrl-C
(or SIGTERM) stops submitting and lets the files in progress finish; a second Ctrl-C
abandons them (their partial files are removed).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import itertools
import multiprocessing
import os
import secrets
import signal
import stat
import threading
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterator

from .._version import __version__
from .executors import DaskCluster, InProcessExecutor, local_pool
from .inputs import WAITING
from .manifest import DONE, FAILED, Manifest, Row, format_mtime
from .worker import Outcome, Task, process_task

__all__ = ["BatchLoop", "StopRequests"]


class StopRequests:
    """Ctrl-C and SIGTERM as requests the batch loop reads, raised as KeyboardInterrupt only inside an in-process file."""

    def __init__(self):
        self.requests = 0
        self.interruptible = False
        self._previous: dict = {}

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
                if signum is not None:
                    self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def _handler(self, signum, frame):
        self.requests += 1
        if self.interruptible:
            raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class BatchLoop:
    """One run of a batch: the scheduling loop and its executors."""

    def __init__(self, batch, manifest: Manifest, stop: StopRequests, cluster: DaskCluster | None, summary, on_row, on_note):
        self.batch, self.layout, self.manifest, self.stop = batch, batch.layout, manifest, stop
        self.on_row, self.on_note = on_row, on_note or (lambda text: None)
        self.summary = summary
        self.run_id = secrets.token_hex(4)
        self.counter = itertools.count()
        self.inflight: dict[cf.Future, tuple[Task, int]] = {}
        self.pending: set[str] = set()
        self.quarantine: deque[Task] = deque()
        self.dropped = 0  # tasks given up because of Ctrl-C
        self.generation = 0
        self.pool = None
        self.isolated = None
        self.cluster = cluster
        self._blas = None
        self._children_before = {child.pid for child in multiprocessing.active_children()}
        if cluster is not None:
            self.mode = "dask"
            self.limit = 2 * self.cluster.threads
        elif batch.jobs == 1:
            from .._threads import blas_threads

            self.mode = "inprocess"
            self.inprocess = InProcessExecutor(batch.payload)
            self._blas = blas_threads(1)
            self.limit = 1
        else:
            self.mode = "pool"
            self.limit = 2 * batch.jobs

    # the loop -----------------------------------------------------------------------
    def run(self, source: Iterator[tuple[str, str | None]]) -> None:
        exhausted = stopping = False
        while True:
            if self.stop.requests and not stopping:
                stopping = True
                self._stop_submitting()
            if self.stop.requests >= 2:
                self._abandon()
                break
            if not stopping:
                while not exhausted and self._main_in_flight() < self.limit and not self.stop.requests:
                    item = next(source, None)
                    if item is None:
                        exhausted = True
                    elif item is WAITING:
                        break  # a list on standard input with no line ready yet
                    else:
                        self._take(*item)
                if self.quarantine and not self.stop.requests and not any(g < 0 for _, g in self.inflight.values()):
                    self._submit(self.quarantine.popleft())
            if not self.inflight:
                if self.stop.requests or (exhausted and not self.quarantine):
                    break
                continue
            self.summary.peak_in_flight = max(self.summary.peak_in_flight, len(self.inflight))
            done, _ = cf.wait(list(self.inflight), timeout=0.2, return_when=cf.FIRST_COMPLETED)
            for future in done:
                self._finish(future)
        self.summary.interrupted = bool(self.stop.requests) and (not exhausted or bool(self.quarantine) or self.dropped > 0)

    def _main_in_flight(self) -> int:
        return sum(1 for _, generation in self.inflight.values() if generation >= 0)

    def _take(self, name: str, problem: str | None) -> None:
        if problem is not None:
            self._write(Row(name, "", "error", problem, version=__version__))
            return
        if name in self.pending or self.manifest.written(name):
            self.summary.duplicates += 1
            return
        decision = self._plan(name)
        if isinstance(decision, Task):
            self._submit(decision)

    def _plan(self, rel: str) -> Task | None:
        """Write the row of an input that needs no processing and return None, or return its task."""
        source = self.layout.input_dir / rel
        try:
            info = os.stat(source)
        except OSError as exc:
            reason = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror or exc})"
            self._write(Row(rel, rel, "error", f"the input {reason}", version=__version__))
            return None
        if not stat.S_ISREG(info.st_mode):
            self._write(Row(rel, rel, "error", "the input is not a file", version=__version__))
            return None
        size, mtime = str(info.st_size), format_mtime(info.st_mtime_ns)
        problem = self.layout.output_problem(rel)
        if problem is not None:
            self._write(Row(rel, "", "error", problem, input_size=size, input_mtime=mtime, version=__version__))
            return None
        output = self.layout.output_for(rel)
        old = self.manifest.previous(rel)
        batch = self.batch
        if old is not None and not batch.overwrite and (old.preset_hash, old.input_size, old.input_mtime) == (batch.payload.hash, size, mtime):
            if old.status in DONE and output.is_file():
                self._write(dataclasses.replace(old, status="skipped", message="done by an earlier run; input and preset unchanged"))
                return None
            if old.status in FAILED and not batch.retry_failed:
                self._write(old, carried=True)
                return None
        if old is None and not batch.overwrite and (output.exists() or output.is_symlink()):
            self._write(Row(rel, rel, "error", f"the output {str(output)!r} exists and no earlier batch row names it; "
                            "--overwrite replaces it", preset_hash=batch.payload.hash, input_size=size, input_mtime=mtime,
                            version=__version__))
            return None
        return Task(rel, str(source), self._partial(rel), size, mtime)

    def _partial(self, rel: str) -> str:
        return str(self.layout.staging_dir / f"{self.run_id}-{next(self.counter)}{Path(rel).suffix}")

    # executors ------------------------------------------------------------------------
    def _submit(self, task: Task) -> None:
        self.pending.add(task.rel)
        generation = 0
        if self.mode == "inprocess":
            self.stop.interruptible = True
            try:
                future = self.inprocess.run_task(task)
            except KeyboardInterrupt:
                future = cf.Future()
                future.set_result(Outcome(task, "interrupted"))
            finally:
                self.stop.interruptible = False
        elif self.mode == "dask":
            future = self.cluster.run_task(task)
        else:
            if task.attempt == 0:
                if self.pool is None:
                    self.pool = local_pool(self.batch.jobs, self.batch.payload)
                pool, generation = self.pool, self.generation
            else:
                if self.isolated is None:
                    self.isolated = local_pool(1, self.batch.payload)
                pool, generation = self.isolated, -1
            try:
                future = pool.submit(process_task, task)
            except BrokenProcessPool as exc:  # broke before we heard of it: this task joins the others
                future = cf.Future()
                future.set_exception(exc)
        self.inflight[future] = (task, generation)

    def _reset_pool(self, generation: int) -> None:
        if generation < 0:
            pool, self.isolated = self.isolated, None
        elif generation == self.generation and self.pool is not None:
            pool, self.pool = self.pool, None
            self.generation += 1
        else:
            return  # that pool was already replaced
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # results ----------------------------------------------------------------------------
    def _finish(self, future: cf.Future) -> None:
        task, generation = self.inflight.pop(future)
        self.pending.discard(task.rel)
        if future.cancelled():
            self._drop(task)
            return
        error = future.exception()
        if error is None:
            outcome: Outcome = future.result()
            if outcome.status == "interrupted":
                self._drop(task)
                return
            if outcome.status == "ok":
                row = self._commit(task, outcome)
            else:
                self._discard(task)
                row = self._row(task, "error", outcome.message, outcome)
        elif isinstance(error, BrokenProcessPool):
            self._discard(task)
            self._reset_pool(generation)
            if generation >= 0:
                if self.stop.requests:
                    self.dropped += 1
                    return
                self.quarantine.append(dataclasses.replace(task, attempt=1, partial=self._partial(task.rel)))
                self.pending.add(task.rel)
                return
            row = self._row(task, "crashed", "the worker process died while processing it, twice (once with others, once alone)")
        elif isinstance(error, cf.CancelledError):
            self._drop(task)
            return
        elif type(error).__name__ == "KilledWorker":
            self._discard(task)
            row = self._row(task, "crashed", f"the Dask workers that ran it died ({error})")
        else:
            self._discard(task)
            row = self._row(task, "error", f"{type(error).__name__}: {error}")
        self._write(row)

    def _commit(self, task: Task, outcome: Outcome) -> Row:
        """Move a finished file to its place in the output tree (its folder created now) and make its row."""
        output = self.layout.output_for(task.rel)
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            os.replace(task.partial, output)
        except OSError as exc:
            self._discard(task)
            return self._row(task, "error", f"cannot write {str(output)!r}: {exc.strerror or exc}", outcome)
        return self._row(task, "ok", outcome.message, outcome)

    def _row(self, task: Task, status: str, message: str, outcome: Outcome | None = None) -> Row:
        row = Row(task.rel, task.rel, status, message, preset_hash=self.batch.payload.hash, input_size=task.size,
                  input_mtime=task.mtime, version=__version__)
        if outcome is not None:
            row.worker = outcome.worker
            row.seconds = f"{outcome.seconds:.6f}"
            if outcome.duration is not None:
                row.duration = f"{outcome.duration:.3f}"
                row.sample_rate, row.channels = str(outcome.sample_rate), str(outcome.channels)
                row.realtime_factor = f"{outcome.duration / outcome.seconds:.1f}" if outcome.seconds > 0 else ""
        return row

    def _write(self, row: Row, carried: bool = False) -> None:
        self.manifest.write(row)
        summary = self.summary
        if row.status == "ok":
            summary.ok += 1
            summary.audio_seconds += float(row.duration or 0)
        elif row.status == "skipped":
            summary.skipped += 1
        elif row.status == "crashed":
            summary.crashed += 1
        else:
            summary.error += 1
        summary.not_retried += carried
        if self.on_row is not None:
            self.on_row(row)

    def _discard(self, task: Task) -> None:
        with contextlib.suppress(OSError):
            os.unlink(task.partial)

    def _drop(self, task: Task) -> None:
        self._discard(task)
        self.dropped += 1

    # stopping -----------------------------------------------------------------------------
    def _stop_submitting(self) -> None:
        for future in list(self.inflight):
            future.cancel()
        running = sum(1 for future in self.inflight if not future.done())
        if running:
            self.on_note(f"stopping: {running} file(s) in progress will finish; press Ctrl-C again to abandon them")

    def _abandon(self) -> None:
        """Second Ctrl-C: end the local worker processes, drop what was in flight (their partial files go)."""
        if self.inflight:
            self.on_note(f"abandoning {len(self.inflight)} file(s) in progress; a rerun of the same command does them")
        for child in multiprocessing.active_children():
            if child.pid not in self._children_before:
                child.terminate()
        for future, (task, _) in list(self.inflight.items()):
            self._drop(task)
        self.inflight.clear()

    def close(self) -> None:
        for pool in (self.pool, self.isolated):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        if self._blas is not None:
            self._blas.restore_original_limits()
        for task, _ in self.inflight.values():
            self._discard(task)
