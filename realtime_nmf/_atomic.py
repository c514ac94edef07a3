"""Output files: written atomically (a temporary file beside the target, renamed into place), never onto an input."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import IncompleteOutputError, OutputError

__all__ = ["atomic_write", "check_distinct_paths", "check_writable_folder", "set_default_permissions"]


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


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # hard links, symbolic links, two spellings of one path
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b) or a.resolve() == b.resolve()


def check_distinct_paths(outputs: dict, inputs: dict | None = None) -> None:
    """Refuse an output that is one of the inputs, or two outputs on one file.

    Parameters
    ----------
    outputs, inputs : dict
        ``{what: path}``, e.g. ``{"--record": "rec.wav"}``, in the words the user gave
        them (an option name); None values are skipped.

    Raises
    ------
    OutputError
        Naming both and the fix.
    """
    outs = [(what, Path(path)) for what, path in outputs.items() if path is not None]
    ins = [(what, Path(path)) for what, path in (inputs or {}).items() if path is not None]
    for i, (what, path) in enumerate(outs):
        for source, source_path in ins:
            if _same_file(path, source_path):
                raise OutputError(f"{what} {str(path)!r} is the file {source} reads; writing it would destroy it: give another file name")
        for other, other_path in outs[:i]:
            if _same_file(path, other_path):
                raise OutputError(f"{other} and {what} both name {str(path)!r}; one would overwrite the other: give two file names")


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
            raise IncompleteOutputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
        raise
