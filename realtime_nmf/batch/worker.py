"""What runs in a batch worker: the preset rebuilt from its content, one file at a time.

The preset travels by content (:class:`PresetPayload`: its YAML data and the bytes of its
dictionary), so a worker on another machine needs neither the preset's name nor its
files. Each worker process (each thread, on a Dask worker) builds the chain once and
reuses it: :func:`realtime_nmf.offline.process_file` prepares it for every file, which
resets all state, so a file's output does not depend on what the worker ran before.
BLAS is pinned to one thread per worker (the parallelism is across files).

A worker writes to the temporary name the parent gave it; the parent moves the file to
its final name when the worker reports success, so an output at its final name is
always complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .._version import __version__

__all__ = ["PresetPayload", "Task", "Outcome", "init_process", "process_task", "process_task_on_cluster", "worker_environment"]

_DICTIONARY_NAME = "dictionary.npz"


@dataclass(frozen=True)
class PresetPayload:
    """A preset as data: what a worker needs to rebuild it, and the hash that identifies it.

    Attributes
    ----------
    name : str
    data : dict
        The preset's YAML data (:meth:`realtime_nmf.presets.Preset.to_dict`), its dictionary
        named ``dictionary.npz``.
    dictionary : bytes
        The dictionary file.
    hash : str
        16 hex digits of SHA-256 over everything that shapes the output (the data but the
        description, and the dictionary bytes).
    """

    name: str
    data: dict
    dictionary: bytes
    hash: str = field(default="")

    @classmethod
    def from_preset(cls, preset) -> "PresetPayload":
        data = preset.to_dict()
        data["dictionary"] = _DICTIONARY_NAME
        dictionary = Path(preset.dictionary_path).read_bytes()
        shaping = {key: value for key, value in data.items() if key != "description"}
        digest = hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode() + b"\0" + dictionary).hexdigest()
        return cls(preset.name, data, dictionary, digest[:16])

    def load(self):
        """The :class:`realtime_nmf.presets.Preset`, validated as when it was loaded from its file."""
        from ..presets import preset_from_dict

        with tempfile.TemporaryDirectory(prefix="rtnmf-preset-") as folder:
            (Path(folder) / _DICTIONARY_NAME).write_bytes(self.dictionary)
            preset = preset_from_dict(dict(self.data), name=self.name, base=Path(folder))
            preset.dictionary  # loaded now, while the file exists
        return preset


@dataclass(frozen=True)
class Task:
    """One input to process: its name, where it is, the temporary name to write to, and its size and time."""

    rel: str
    input: str
    partial: str
    size: str = ""
    mtime: str = ""
    attempt: int = 0


@dataclass(frozen=True)
class Outcome:
    """What a worker reports for a task (``status``: ``ok``, ``error`` or ``interrupted``)."""

    task: Task
    status: str
    message: str = ""
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    seconds: float = 0.0
    worker: str = ""


_LOCAL = threading.local()  # per thread: {hash: (chain, processing rate)}
_PROCESS: dict = {"payload": None}
_PINNED = threading.Lock()
_pinned = False


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pin_blas() -> None:
    global _pinned
    with _PINNED:
        if not _pinned:
            from .._threads import blas_threads

            blas_threads(1)  # for the worker's life: the parallelism is across files
            _pinned = True


def _chain(payload: PresetPayload):
    cached = getattr(_LOCAL, "chains", {})
    entry = cached.get(payload.hash)
    if entry is None:
        preset = payload.load()
        entry = (preset.build(), preset.sample_rate)
        _LOCAL.chains = {payload.hash: entry}  # one preset per thread at a time
    return entry


def init_process(payload: PresetPayload) -> None:
    """Initializer of a local worker process: ignore Ctrl-C (the parent decides), pin BLAS, build the chain.

    An error building the chain is not raised here (it would break the pool and read as
    a crash); it is reported for every file instead.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _pin_blas()
    _PROCESS["payload"] = payload
    try:
        _chain(payload)
    except Exception:
        pass


def _notes(stats, chain, processing_rate: int) -> str:
    notes = []
    if stats.input_rate != processing_rate:
        notes.append(f"resampled to {processing_rate} Hz for processing and back")
    separator = next((p for p in chain if getattr(p, "name", "") == "nmf"), None)
    if separator is not None and separator.nonfinite_frames:
        notes.append(f"{separator.nonfinite_frames} frames held NaN or infinite samples (replaced by silence)")
    if stats.clipped_samples:
        notes.append(f"{stats.clipped_samples} samples clipped")
    return "; ".join(notes)


def process_task(task: Task, payload: PresetPayload | None = None) -> Outcome:
    """Process one file into ``task.partial``; never raises for a problem with the file.

    Parameters
    ----------
    task : Task
    payload : PresetPayload, optional
        The preset; a local worker process has it from :func:`init_process`.

    Returns
    -------
    Outcome
    """
    from ..errors import RealtimeNMFError
    from ..offline import process_file

    payload = payload if payload is not None else _PROCESS["payload"]
    worker = _worker_name()
    started = time.perf_counter()
    try:
        chain, rate = _chain(payload)
        # rtnmf run's blocks (process_file's default): the streamed resampler's last bits depend on
        # how its input is cut, so the same blocks give the same bytes
        stats = process_file(chain, task.input, task.partial, processing_rate=rate)
    except RealtimeNMFError as exc:
        return Outcome(task, "error", str(exc), seconds=time.perf_counter() - started, worker=worker)
    except Exception as exc:  # a bug or an unexpected library error: this file fails, the batch goes on
        return Outcome(task, "error", f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - started, worker=worker)
    if stats.interrupted:
        return Outcome(task, "interrupted", worker=worker)
    return Outcome(task, "ok", _notes(stats, chain, rate), duration=stats.samples_written / stats.input_rate,
                   sample_rate=stats.input_rate, channels=stats.n_channels, seconds=stats.seconds, worker=worker)


def process_task_on_cluster(task: Task, payload: PresetPayload) -> Outcome:
    """:func:`process_task` on a Dask worker: BLAS pinned to one thread in that process first."""
    _pin_blas()
    return process_task(task, payload)


def worker_environment(input_dir: str, staging_dir: str) -> dict:
    """Run on every Dask worker before a batch: its version and whether it sees the batch's folders."""
    problems = []
    if not os.path.isdir(input_dir):
        problems.append(f"cannot see the input folder {input_dir}")
    if not (os.path.isdir(staging_dir) and os.access(staging_dir, os.W_OK)):
        problems.append(f"cannot write in the output folder {os.path.dirname(staging_dir)}")
    return {"version": __version__, "problems": problems, "name": _worker_name()}
