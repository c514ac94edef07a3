"""Atomic file writing: write to a temporary file beside the target, then rename it into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import OutputError

__all__ = ["atomic_write", "check_writable_folder", "set_default_permissions"]


def set_default_permissions(path: str | Path) -> None:
    """Give a file made by :func:`tempfile.mkstemp` (mode 0600) the usual ``0666 & ~umask``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def check_writable_folder(path: str | Path) -> Path:
    """Raise :class:`OutputError` unless the folder that will hold ``path`` exists and is writable."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"{str(path)!r} is a folder; give a file name")
    if not folder.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: the folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {str(path)!r}: no permission to write in {str(folder)!r}")
    return path


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb"):
    """Context manager yielding a file object whose content replaces ``path`` only on success.

    The data is flushed and synced before the rename; on any exception (including
    KeyboardInterrupt) the temporary file is removed and ``path`` is left untouched.
    """
    path = check_writable_folder(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    try:
        set_default_permissions(tmp_name)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
        raise
