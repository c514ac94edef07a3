"""Checks every file realtime_nmf opens goes through first: what the path is, and how to name it in a message.

A path given by a user (a dictionary, a preset, an audio file) is examined with ``os.stat``
before it is opened: a NUL character, a name too long for the system, a symbolic link
loop, a folder, a named pipe (which would block an ``open`` forever) or a device is one
clear error naming what the path really is. Only regular files are ever opened.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
import sys
import threading
from pathlib import Path

from ._values import format_size, show

__all__ = ["show_path", "file_kind", "path_problem", "check_input_file", "read_bounded", "absolute", "quiet_stderr", "clear_peak_time"]

def show_path(path) -> str:
    """A path as messages quote it: ``'folder/name.npz'``, cut when very long."""
    return show(str(path), 80)


def file_kind(mode: int) -> str | None:
    """What a non-regular file is (``"a named pipe (FIFO)"``...), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def path_problem(path) -> tuple[str, os.stat_result | None]:
    """Examine ``path`` without opening it.

    Returns
    -------
    problem : str
        ``""`` for an existing regular file, ``"missing"`` when nothing is there, else
        what is wrong, phrased to follow the quoted path (``"is a named pipe (FIFO)"``).
    status : os.stat_result or None
    """
    text = os.fspath(path)
    if isinstance(text, bytes):  # pragma: no cover - the API takes str and Path
        text = os.fsdecode(text)
    if "\0" in text:
        return "contains a NUL character", None
    if not text:
        return "is empty", None
    try:
        status = os.stat(text)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "missing", None
        if exc.errno == errno.ENAMETOOLONG:
            return f"is too long ({len(text)} characters)", None
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop", None
        if exc.errno == errno.EACCES:
            return "cannot be read: no permission", None
        return f"cannot be examined ({exc.strerror or exc})", None
    kind = file_kind(status.st_mode)
    if kind is not None:
        return f"is {kind}", status
    return "", status


def check_input_file(path, error: type[Exception], *, what: str, missing: str | None = None) -> os.stat_result:
    """Raise ``error`` unless ``path`` is an existing regular file; return its ``os.stat`` result.

    Parameters
    ----------
    path : str or Path
    error : exception class
        Raised with one line: the path, what it is, and (for a missing file) ``missing``.
    what : str
        What the file should be, e.g. ``"a dictionary file"``.
    missing : str, optional
        Message for a missing file (default: ``"PATH does not exist"``).
    """
    problem, status = path_problem(path)
    if problem == "missing":
        raise error(missing or f"{show_path(path)} does not exist")
    if problem:
        suffix = f", not {what}" if problem.startswith("is a") or problem.startswith("is not") else ""
        raise error(f"{show_path(path)} {problem}{suffix}")
    return status


def read_bounded(path, limit: int, error: type[Exception], *, what: str) -> bytes:
    """Read a regular file of at most ``limit`` bytes whole (checked before reading, and while reading)."""
    status = check_input_file(path, error, what=what)
    if status.st_size > limit:
        raise error(f"{show_path(path)} is {format_size(status.st_size)}; {what} is at most {format_size(limit)}")
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {show_path(path)}: {exc.strerror or exc}") from None
    if len(data) > limit:  # it grew since it was examined
        raise error(f"{show_path(path)} is larger than {format_size(limit)}; {what} is at most {format_size(limit)}")
    return data


def absolute(path) -> Path:
    """``path`` made absolute without resolving symbolic links (for messages and comparisons)."""
    return Path(os.path.abspath(os.fspath(path)))


@contextlib.contextmanager
def quiet_stderr():
    """Keep what decoder libraries print on stderr themselves (libmpg123's warnings) off the terminal while a file opens.

    Only in the main thread, where nothing else writes to stderr meanwhile; the problems
    they warn about are found and reported by the checks here.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    try:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(null)
    finally:
        os.close(saved)


def clear_peak_time(path: Path) -> None:
    """Zero the time stamp in the PEAK chunk libsndfile writes into float WAV, RF64 and AIFF files.

    The chunk holds each channel's peak and the time of writing, so two runs of the same
    job would give files that differ in those four bytes; with them zero the same audio is
    the same file. Only the chunks before the audio are walked (``ds64``, ``fmt ``,
    ``fact``, ``PEAK``, ...); a file without a PEAK chunk is left as it is.
    """
    with open(path, "r+b") as handle:
        head = handle.read(12)
        if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
            order = "<"
        elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            order = ">"
        else:
            return
        position = 12
        for _ in range(32):  # the header's chunks: a handful
            handle.seek(position)
            chunk = handle.read(8)
            if len(chunk) < 8 or chunk[:4] in (b"data", b"SSND"):
                return
            size = struct.unpack(order + "I", chunk[4:])[0]
            if chunk[:4] == b"PEAK" and size >= 8:
                handle.seek(position + 12)  # after the chunk's id, size and version
                handle.write(b"\0\0\0\0")
                return
            position += 8 + size + (size & 1)
