"""Atomic file writing: write to a temporary file beside the target, then rename it into place.

:class:`StagedFile` is the mechanism (a hidden temporary name in the target's folder,
committed by a rename); :func:`atomic_write` wraps it for files written in one go
(dictionaries, presets, pages) and :class:`realtime_nmf.audio.AudioWriter` for audio
written block by block.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import OutputError

__all__ = ["atomic_write", "StagedFile", "check_writable_folder", "check_new_file", "check_new_folder", "set_default_permissions"]


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


def check_new_file(path: str | Path, *, force: bool, flag: str = "--force") -> Path:
    """Raise :class:`OutputError` if ``path`` exists and ``force`` is false; check its folder can be written.

    The one check every writer of the command line makes before it starts (dictionaries,
    presets, separated files, recordings), so that nothing existing is replaced unless
    asked for; the message names the file and the flag that allows it.
    """
    path = check_writable_folder(path)
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputError(f"{str(path)!r} already exists; give {flag} to replace it, or choose another name")
    return path


def check_new_folder(path: str | Path, *, force: bool, flag: str = "--force") -> Path:
    """Raise :class:`OutputError` if the folder ``path`` exists with files in it and ``force`` is false."""
    path = Path(path)
    if path.is_dir() and not force:
        try:
            names = sorted(entry.name for entry in path.iterdir())
        except OSError as exc:
            raise OutputError(f"cannot read the folder {str(path)!r}: {exc.strerror or exc}") from None
        if names:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            raise OutputError(f"the folder {str(path)!r} already holds files ({shown}); give {flag} to replace them, "
                              "or choose another folder")
    return path


class StagedFile:
    """A hidden temporary file beside ``path`` that replaces ``path`` only when committed.

    Parameters
    ----------
    path : str or Path
        The target; its folder must exist and be writable.
    suffix : str
        Ending of the temporary name (``.tmp``, ``.part``).

    Attributes
    ----------
    path : Path
        The target.
    temporary : str
        The temporary file's path (created, empty, mode ``0600`` until committed).
    """

    def __init__(self, path: str | Path, *, suffix: str = ".tmp"):
        self.path = check_writable_folder(path)
        try:
            fd, self.temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=suffix, dir=self.path.parent)
        except OSError as exc:
            raise OutputError(f"cannot write {str(self.path)!r}: {exc.strerror or exc}") from None
        os.close(fd)

    def commit(self) -> Path:
        """Give the temporary file the usual permissions and rename it to :attr:`path`."""
        set_default_permissions(self.temporary)
        os.replace(self.temporary, self.path)
        return self.path

    def discard(self) -> None:
        """Delete the temporary file; :attr:`path` is left as it was."""
        with contextlib.suppress(OSError):
            os.unlink(self.temporary)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb"):
    """Context manager yielding a file object whose content replaces ``path`` only on success.

    The data is flushed and synced before the rename; on any exception (including
    KeyboardInterrupt) the temporary file is removed and ``path`` is left untouched.
    """
    staged = StagedFile(path)
    try:
        with open(staged.temporary, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        staged.commit()
    except BaseException as exc:
        staged.discard()
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"cannot write {str(staged.path)!r}: {exc.strerror or exc}") from None
        raise
