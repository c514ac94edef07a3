"""Output files: written atomically (a temporary file beside the target, renamed into place), never onto an input.

:class:`StagedFile` is the mechanism (a hidden temporary name in the target's folder,
committed by a rename); :func:`atomic_write` wraps it for files written in one go
(dictionaries, presets, pages) and :class:`realtime_nmf.audio.AudioWriter` for audio
written block by block. Every file realtime_nmf writes (dictionaries, presets, audio) goes through here, so that:

- the target name only ever holds a complete file: data goes to a hidden temporary
  file ``.NAME.PID.RANDOM.tmp`` (or ``.part``) in the same folder, renamed over the
  target when complete;
- an interrupted write that keeps what it did (an interrupted ``rtnmf run``) leaves it
  under :func:`partial_path` (``NAME.partial.EXT``), never over an earlier complete file;
- a temporary file left by a killed process (SIGKILL, power loss) is removed by the next
  write to the same target, once its process is gone; one of a live process is left alone;
- only regular files are replaced: a target that is a folder, a named pipe, a device or
  a socket is refused (replacing ``/dev/null`` by a file would break the system).
- an output that is one of the run's inputs, or another output, is refused before
  anything is written (:func:`check_distinct_paths`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from ._files import path_problem, show_path
from .errors import IncompleteOutputError, OutputError

__all__ = ["atomic_write", "StagedFile", "check_distinct_paths", "check_run_paths", "check_writable_folder", "check_new_file",
           "set_default_permissions", "temporary_file", "partial_path", "folder_lock", "remove_stale_temporaries"]


def set_default_permissions(path: str | Path) -> None:
    """Give a file made by :func:`tempfile.mkstemp` (mode 0600) the usual ``0666 & ~umask``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def check_writable_folder(path: str | Path) -> Path:
    """Raise :class:`OutputError` unless ``path`` can be written: a new or regular file in an existing, writable folder."""
    problem, _ = path_problem(path)
    if problem and problem != "missing":
        if problem.startswith(("is a ", "is not a")) and problem != "is a symbolic link loop":
            raise OutputError(f"{show_path(path)} {problem}; give a file name")  # a folder, a FIFO, a device: never replaced
        if not problem.startswith("cannot be read"):
            raise OutputError(f"cannot write {show_path(path)}: the name {problem}")
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {show_path(path)}: the folder {show_path(folder)} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {show_path(path)}: no permission to write in {show_path(folder)}")
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


def partial_path(path: str | Path) -> Path:
    """Where an interrupted write keeps what it did: ``out.wav`` -> ``out.partial.wav``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.(?:tmp|part)")


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or a platform without signal 0: assume alive
        return True
    return True


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove hidden temporary files for ``path`` whose writing process no longer exists; return them."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _TEMPORARY.fullmatch(entry.name)
            if match and match["name"] == path.name and entry.is_file(follow_symlinks=False) and not _process_alive(int(match["pid"])):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def temporary_file(path: str | Path, suffix: str = ".tmp") -> tuple[int, str]:
    """Create the hidden temporary file that will replace ``path``; return ``(fd, name)`` as :func:`tempfile.mkstemp` does."""
    path = Path(path)
    remove_stale_temporaries(path)
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=suffix, dir=path.parent if str(path.parent) else ".")
    except OSError as exc:
        raise OutputError(f"cannot write {show_path(path)}: {exc.strerror or exc}") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # hard links, symbolic links, two spellings of one path
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b) or a.resolve() == b.resolve()


def check_run_paths(presets, input_file, *, output=None, record=None, record_input=None) -> None:
    """:func:`check_distinct_paths` for a run: no output onto its input, a preset or a preset's dictionary, no two outputs on one file."""
    inputs = {"--input": input_file}
    for preset in presets:
        inputs[f"--preset {preset.name}"] = preset.path
        inputs[f"the dictionary of --preset {preset.name}"] = preset.dictionary_path
    check_distinct_paths({"--output": output, "--record": record, "--record-input": record_input}, inputs)


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
                raise OutputError(f"{what} {show_path(path)} is the input file ({source}) under this or another name; "
                                  "writing it would destroy it: choose another name")
        for other, other_path in outs[:i]:
            if _same_file(path, other_path):
                raise OutputError(f"{other} and {what} both name {show_path(path)}; one would overwrite the other: give two file names")


class StagedFile:
    """A hidden temporary file beside ``path`` that replaces ``path`` only when committed.

    Parameters
    ----------
    path : str or Path
        The target: a new or regular file in an existing, writable folder
        (:func:`check_writable_folder`).
    suffix : str
        Ending of the temporary name (``.tmp``, ``.part``).

    Attributes
    ----------
    path : Path
        The target.
    temporary : str
        The temporary file's path (created, empty, mode ``0600`` until committed), named
        ``.NAME.PID.RANDOM.SUFFIX`` so that a later write can tell a killed writer's
        leftover (removed) from a live writer's file (left alone).
    """

    def __init__(self, path: str | Path, *, suffix: str = ".tmp"):
        self.path = check_writable_folder(path)
        fd, self.temporary = temporary_file(self.path, suffix)
        os.close(fd)

    def commit(self, target: str | Path | None = None) -> Path:
        """Give the temporary file the usual permissions and rename it to :attr:`path` (or to ``target``)."""
        target = self.path if target is None else Path(target)
        set_default_permissions(self.temporary)
        os.replace(self.temporary, target)
        return target

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
            raise IncompleteOutputError(f"cannot write {show_path(staged.path)}: {exc.strerror or exc}") from None
        raise


@contextlib.contextmanager
def folder_lock(folder: str | Path):
    """Hold an exclusive lock on ``folder`` (its ``.lock`` file) for the duration: writers of one folder take turns.

    Uses ``fcntl.flock`` (POSIX; between processes and between threads, which each open
    the lock file). Where it is missing the block runs unlocked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock = Path(folder) / ".lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise OutputError(f"cannot lock the folder {show_path(folder)}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
