"""The batch manifest, ``OUTPUT_DIR/rtnmf-batch.csv``: one row per input, the record of the output tree.

Only the parent process writes it. A run moves the manifest it finds to a hidden
``.rtnmf-batch.previous.csv`` and writes a new one, a row per input as it finishes
(flushed at once); rows of the previous manifest are looked up by input when the run
decides what to skip, and at the end (also after Ctrl-C) the rows of every input this run
did not reach are copied over, so the manifest always describes every output the folder
holds. Should the parent be killed outright, the next run merges both files (the newer
row of an input wins). Memory holds two integers per row of the previous manifest (a
hash of the input and the row's offset in the file), never the rows themselves.

Columns: ``input`` and ``output`` (relative to the input and output folders), ``status``
(``ok``, ``skipped``: done by an earlier run and unchanged since, ``error``, ``crashed``:
the worker process died on it twice), ``message``, ``duration`` (seconds of audio),
``sample_rate``, ``channels``, ``realtime_factor`` (audio seconds per second of
processing), ``seconds`` (processing time), ``worker`` (host:pid), ``preset_hash``,
``input_size`` (bytes), ``input_mtime`` (UTC, ISO 8601), ``version`` (of realtime_nmf).
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import OutputError

__all__ = ["Row", "Manifest", "COLUMNS", "DONE", "FAILED", "format_mtime", "read_manifest"]

DONE = ("ok", "skipped")
FAILED = ("error", "crashed")
PREVIOUS_NAME = ".rtnmf-batch.previous.csv"


@dataclass
class Row:
    """One line of the manifest (every field as the CSV holds it, numbers formatted)."""

    input: str
    output: str
    status: str
    message: str = ""
    duration: str = ""
    sample_rate: str = ""
    channels: str = ""
    realtime_factor: str = ""
    seconds: str = ""
    worker: str = ""
    preset_hash: str = ""
    input_size: str = ""
    input_mtime: str = ""
    version: str = ""

    def values(self) -> list[str]:
        return [" ".join(str(value).split()) if name == "message" else str(value) for name, value in asdict(self).items()]


COLUMNS = tuple(field.name for field in fields(Row))


def format_mtime(mtime_ns: int) -> str:
    """A modification time as the manifest writes it: UTC, ISO 8601, microseconds."""
    moment = datetime.datetime.fromtimestamp(mtime_ns // 1000 / 1e6, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _key(rel: str) -> int:
    return int.from_bytes(hashlib.blake2b(rel.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little")


def _parse(line: bytes, header: list[str]) -> Row | None:
    try:
        values = next(csv.reader([line.decode("utf-8", "surrogateescape")]))
    except (StopIteration, csv.Error):
        return None
    if len(values) != len(header):
        return None  # a line cut short by a crash, or edited by hand
    data = dict(zip(header, values))
    return Row(**{name: data.get(name, "") for name in COLUMNS})


def _header(line: bytes, path: Path) -> list[str]:
    text = line.decode("utf-8", "replace").strip()
    header = next(csv.reader([text]), [])
    if "input" not in header or "status" not in header:
        raise OutputError(f"{str(path)!r} is not an rtnmf batch manifest (its first line is {text[:60]!r}); "
                          "move it out of the output folder")
    return header


class _RowFile:
    """A manifest file read by offsets: an index from input to the offset of its last row."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = open(path, "rb")
        self.header = self._header()
        self.index: dict[int, int] = {}
        reader = csv.reader
        position = self.handle.tell()
        for line in self.handle:
            if line.endswith(b"\n") and line.strip():  # a last line without its newline was cut short
                first = line.split(b",", 1)[0]
                rel = first.decode("utf-8", "surrogateescape") if not first.startswith(b'"') else next(
                    reader([line.decode("utf-8", "surrogateescape")]), [""])[0]
                self.index[_key(rel)] = position
            position += len(line)

    def _header(self) -> list[str]:
        try:
            return _header(self.handle.readline(), self.path)
        except OutputError:
            self.handle.close()
            raise

    def row_at(self, offset: int) -> Row | None:
        self.handle.seek(offset)
        return _parse(self.handle.readline(), self.header)

    def lookup(self, rel: str) -> Row | None:
        offset = self.index.get(_key(rel))
        if offset is None:
            return None
        row = self.row_at(offset)
        return row if row is not None and row.input == rel else None

    def close(self) -> None:
        self.handle.close()


class Manifest:
    """The manifest of one output folder, for one run: old rows to consult, new rows to write.

    Use as a context manager; :meth:`close` (also on Ctrl-C) copies the rows of the inputs
    this run did not write and removes the previous manifest.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.previous_path = self.path.with_name(PREVIOUS_NAME)
        self._previous: _RowFile | None = None
        self._written: set[int] = set()
        self._handle = None
        self._writer = None

    # opening ------------------------------------------------------------------------
    def open(self) -> "Manifest":
        try:
            self._recover()
            if self.path.exists():
                with open(self.path, "rb") as handle:
                    _header(handle.readline(), self.path)
                os.replace(self.path, self.previous_path)
            if self.previous_path.exists():
                self._previous = _RowFile(self.previous_path)
            self._handle = open(self.path, "w", newline="", encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise OutputError(f"cannot write the manifest {str(self.path)!r}: {exc.strerror or exc}") from None
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(COLUMNS)
        self._handle.flush()
        return self

    def _recover(self) -> None:
        """After a run that was killed: merge its rows (newer) with the previous manifest's into the previous manifest."""
        if not (self.previous_path.exists() and self.path.exists()):
            return
        newer, older = _RowFile(self.path), _RowFile(self.previous_path)
        merged = self.previous_path.with_name(PREVIOUS_NAME + ".merging")
        with open(merged, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            written = set()
            for source in (newer, older):
                for key, offset in source.index.items():
                    row = source.row_at(offset) if key not in written else None
                    if row is not None:
                        writer.writerow(row.values())
                        written.add(key)
        newer.close()
        older.close()
        os.replace(merged, self.previous_path)
        os.unlink(self.path)

    def __enter__(self) -> "Manifest":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # use ------------------------------------------------------------------------------
    def previous(self, rel: str) -> Row | None:
        """The last row an earlier run wrote for the input ``rel``, if any."""
        return self._previous.lookup(rel) if self._previous is not None else None

    def written(self, rel: str) -> bool:
        """Whether this run already wrote a row for ``rel`` (a duplicate in a file list)."""
        return _key(rel) in self._written

    def write(self, row: Row) -> None:
        """Append a row and flush it to the file."""
        self._written.add(_key(row.input))
        try:
            self._writer.writerow(row.values())
            self._handle.flush()
        except OSError as exc:
            raise OutputError(f"cannot write the manifest {str(self.path)!r} (disk full?): {exc.strerror or exc}") from None

    def close(self) -> None:
        """Copy the earlier rows of the inputs not written by this run, sync, and drop the previous manifest."""
        if self._handle is None:
            return
        try:
            if self._previous is not None:
                for key, offset in self._previous.index.items():
                    if key not in self._written:
                        row = self._previous.row_at(offset)
                        if row is not None:
                            self._writer.writerow(row.values())
                self._previous.close()
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            if self._previous is not None:
                os.unlink(self.previous_path)
        except OSError as exc:
            raise OutputError(f"cannot write the manifest {str(self.path)!r} (disk full?): {exc.strerror or exc}") from None
        finally:
            self._handle = None


def read_manifest(path: str | Path) -> list[Row]:
    """Every row of a manifest file (for tests and reports; a run never loads it whole)."""
    text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    return [Row(**{name: dict(zip(header, values)).get(name, "") for name in COLUMNS}) for values in reader if len(values) == len(header)]
