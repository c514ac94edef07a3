"""Output files: written atomically (a temporary file beside the target, renamed into place), never onto an input.

:class:`StagedFile` is the mechanism (a hidden temporary name in the target's folder,
committed by a rename); :func:`atomic_write` wraps it for files written in one go
(dictionaries, presets, pages) and :class:`realtime_nmf.audio.AudioWriter` for audio
written block by block. :func:`check_distinct_paths` refuses an output that
is one of the run's inputs or another output.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import IncompleteOutputError, OutputError

__all__ = ["atomic_write", "StagedFile", "check_distinct_paths", "check_writable_folder", "set_default_permissions"]


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
            raise IncompleteOutputError(f"cannot write {str(staged.path)!r}: {exc.strerror or exc}") from None
        raise
