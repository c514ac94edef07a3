"""The preset folders, and the user folder's dictionary copies: content-addressed, written before the preset, under a lock.

:func:`store_copy` is the transaction behind ``rtnmf preset new NAME``: with the folder
locked (:func:`realtime_nmf._atomic.folder_lock`), it writes the dictionary's bytes as
``NAME.<16 hex digits of their SHA-256>.npz`` (unless that exact copy is there already),
lets the caller write the preset that points at it, and only then removes the copies of
``NAME`` that no preset in the folder mentions. If the caller fails, the copy it wrote
is removed and the folder is as it was; two writers of one name take turns, so each
preset points at its own dictionary.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Callable

from ._atomic import atomic_write, folder_lock
from ._files import absolute, path_problem, read_bounded, show_path
from ._values import show
from .errors import DictionaryError, PresetError

__all__ = ["store_copy", "copy_name", "user_preset_dir", "bundled_preset_dir"]


def user_preset_dir() -> Path:
    """The user's preset folder: ``$RTNMF_PRESET_DIR`` or the platform's per-user config folder.

    Raises
    ------
    PresetError
        When ``$RTNMF_PRESET_DIR`` cannot be used (``~user`` of an unknown user, a file,
        a named pipe...) or no home folder can be found: one clear error, never a folder
        made in an unexpected place.
    """
    override = os.environ.get("RTNMF_PRESET_DIR")
    if override:
        expanded = os.path.expanduser(override)
        if expanded.startswith("~"):
            user = override[1:].split("/", 1)[0].split(os.sep, 1)[0]
            reason = f"there is no user {user!r}" if user else "the home folder is unknown (HOME is not set)"
            raise PresetError(f"RTNMF_PRESET_DIR={show(override)} cannot be used: {reason}; set it to a folder such as /home/me/presets")
        folder = absolute(expanded)
        problem, _ = path_problem(folder)
        if problem == "":
            raise PresetError(f"RTNMF_PRESET_DIR={show(override)} is a file, not a folder; set it to a folder")
        if problem not in ("missing", "is a folder"):
            suffix = ", not a folder" if problem.startswith("is a") else ""
            raise PresetError(f"RTNMF_PRESET_DIR={show(override)} {problem}{suffix}; set it to a folder")
        return folder
    import platformdirs

    folder = Path(platformdirs.user_config_dir("realtime_nmf")) / "presets"
    if not folder.is_absolute():
        raise PresetError(f"cannot find your home folder to keep presets in ({show_path(folder)}); set RTNMF_PRESET_DIR to a folder")
    return folder


def bundled_preset_dir() -> Path:
    """The presets shipped with realtime_nmf (installed as package data)."""
    from importlib import resources

    try:
        installed = Path(str(resources.files("realtime_nmf.bundled_presets")))
        if installed.is_dir():
            return installed
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "presets"  # running from a source checkout


def copy_name(name: str, data: bytes) -> str:
    """The content-addressed name of a preset's dictionary copy: ``NAME.<16 hex digits of SHA-256>.npz``."""
    import hashlib  # here, not at import: only preset new needs it

    return f"{name}.{hashlib.sha256(data).hexdigest()[:16]}.npz"


def store_copy(folder: Path, name: str, source, write_preset: Callable[[Path], None], *, max_bytes: int, preset_bytes: int) -> Path:
    """Copy ``source`` into ``folder`` under its content-addressed name, then call ``write_preset(copy)``; return the copy."""
    data = read_bounded(source, max_bytes, DictionaryError, what="a dictionary file")
    copy = folder / copy_name(name, data)
    with folder_lock(folder):
        wrote = False
        problem, _ = path_problem(copy)
        if problem != "" or copy.read_bytes() != data:
            with atomic_write(copy) as handle:
                handle.write(data)
            wrote = True
        try:
            write_preset(copy)
        except BaseException:
            if wrote:
                with contextlib.suppress(OSError):
                    copy.unlink()
            raise
        _remove_unused_copies(folder, name, copy, preset_bytes)
    return copy


def _remove_unused_copies(folder: Path, name: str, keep: Path, preset_bytes: int) -> None:
    """Remove ``NAME.<hash>.npz`` copies no preset in ``folder`` mentions (with the folder locked)."""
    pattern = re.compile(re.escape(name) + r"\.[0-9a-f]{16}\.npz")
    copies = [path for path in folder.iterdir() if pattern.fullmatch(path.name) and path.name != keep.name]
    if not copies:
        return
    texts = []
    for preset in list(folder.glob("*.yaml")) + list(folder.glob("*.yml")):
        try:
            texts.append(read_bounded(preset, preset_bytes, PresetError, what="a preset file").decode("utf-8", "replace"))
        except PresetError:
            return  # a preset that cannot be read might mention any copy: keep them all
    for copy in copies:
        if not any(copy.name in text for text in texts):
            with contextlib.suppress(OSError):
                copy.unlink()
