"""The folder an audition writes into: its own, never one holding the user's files.

:class:`AuditionFolder` accepts a folder that does not exist yet (it is made), an empty
one, or one an earlier audition wrote (it holds the manifest :data:`MANIFEST`, the list
of the files that audition wrote). Any other folder is refused before anything is
written: its files might be overwritten. When the audition is done, the manifest lists
what it wrote, and the files an earlier audition wrote that this one did not (component
files for indices the new dictionary lacks) are removed; a file the user put in the
folder is never touched.

The manifest is JSON: ``{"format": "realtime_nmf.audition", "files": ["component_00.wav", ...]}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from pathlib import Path

from .._atomic import atomic_write
from .._files import path_problem, read_bounded, show_path
from ..errors import OutputError

__all__ = ["AuditionFolder", "MANIFEST"]

MANIFEST = ".rtnmf-audition.json"
_FORMAT = "realtime_nmf.audition"
#: Names an audition writes; only such files, and only when its manifest lists them, are ever removed.
_OURS = re.compile(r"(component_\d+|mixture|residual|overview)\.(wav|png)|index\.html|selection\.js|dictionary\.npz")


class AuditionFolder:
    """An output folder for :func:`realtime_nmf.audition.audition`, checked and claimed.

    Parameters
    ----------
    folder : str or Path

    Raises
    ------
    OutputError
        If ``folder`` is a file, cannot be made or written, or holds files an audition
        did not write.
    """

    def __init__(self, folder: str | Path):
        self.path = Path(folder)
        self.previous: set[str] = self.check(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the folder {show_path(self.path)}: {exc.strerror or exc}") from None
        if not os.access(self.path, os.W_OK):
            raise OutputError(f"cannot write in {show_path(self.path)}: no permission")
        self.written: set[str] = set()
        self._write_manifest(self.previous)  # claimed now: a crash half-way leaves a folder the next audition recognises

    @staticmethod
    def check(folder: str | Path, *, replace: bool = True) -> set[str]:
        """Check ``folder`` before anything is computed; return the files an earlier audition wrote there.

        ``replace=False`` (``rtnmf audition`` without ``--force``) also refuses a folder an
        earlier audition wrote: nothing existing is replaced unless asked.
        """
        path = Path(folder)
        problem, _ = path_problem(path)
        if problem not in ("missing", "is a folder"):
            raise OutputError(f"{show_path(path)} {'is a file' if problem == '' else problem}; give a folder for the audition files")
        if problem == "missing":
            return set()
        names = sorted(entry.name for entry in os.scandir(path))
        if MANIFEST in names:
            if not replace:
                raise OutputError(f"{show_path(path)} holds an earlier audition; give --force to replace it (files you put "
                                  "there are kept), or choose another folder")
            return _read_manifest(path / MANIFEST)
        if names:
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            raise OutputError(f"{show_path(path)} holds files that rtnmf audition did not write ({shown}); "
                              f"give an empty or new folder, e.g. {show_path(path / 'audition')}")
        return set()

    def file(self, name: str) -> Path:
        """The path of an output file ``name`` in the folder, recorded as written by this audition."""
        self.written.add(name)
        return self.path / name

    def finish(self) -> None:
        """Record what this audition wrote and remove what only an earlier one had written."""
        self._write_manifest(self.written)
        for name in sorted(self.previous - self.written):
            target = self.path / name
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.lstat(target).st_mode):
                    target.unlink()

    def _write_manifest(self, names: set[str]) -> None:
        with atomic_write(self.path / MANIFEST, "w") as handle:
            json.dump({"format": _FORMAT, "files": sorted(names)}, handle, indent=1)


def _read_manifest(path: Path) -> set[str]:
    """The files an earlier audition listed: only plain names of the kinds it writes (a damaged manifest lists none)."""
    try:
        data = json.loads(read_bounded(path, 1 << 20, OutputError, what="an audition manifest"))
    except (OutputError, ValueError, RecursionError):
        return set()
    files = data.get("files") if isinstance(data, dict) and data.get("format") == _FORMAT else None
    if not isinstance(files, list):
        return set()
    return {name for name in files if isinstance(name, str) and _OURS.fullmatch(name)}
