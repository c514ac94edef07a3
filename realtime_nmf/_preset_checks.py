"""Checks a preset makes when it is read: that its dictionary is the one it was made for, and that it is a preset at all."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import PresetError

if TYPE_CHECKING:  # pragma: no cover
    from .presets import Preset

__all__ = ["check_made_for", "is_zip", "loads_as_dictionary"]


def check_made_for(preset: Preset, made_for: dict, where: str, keys: tuple) -> None:
    """Raise :class:`PresetError` unless the preset's dictionary is the one its ``made_for`` records.

    The settings are compared first (a dictionary of another rate or size), then the
    fingerprint (the same settings, other templates: retrained or replaced). The message
    says how to pick the components again.
    """
    d, path = preset.dictionary, preset.dictionary_path
    repick = (f"listen again and pick the components: rtnmf audition {shlex.quote(str(path))} CLIP -o audition/ "
              + (f"(it was trained on {', '.join(d.provenance['sources'])}) " if d.provenance.get("sources") else "")
              + f"then rtnmf preset new {preset.name} --dictionary {shlex.quote(str(path))} --keep ... --force")
    for key in keys:
        if key not in made_for or key == "fingerprint":
            continue
        actual = getattr(d, key)
        if actual != made_for[key]:
            raise PresetError(f"{where} was made for a dictionary with {key} {made_for[key]}, but {str(path)!r} has {key} {actual} "
                              f"(was the dictionary file replaced?); {repick}")
    expected = made_for.get("fingerprint")
    if expected is not None and expected != d.fingerprint:
        raise PresetError(f"{where} was made for another dictionary: {str(path)!r} changed since the preset was saved (fingerprint "
                          f"{d.fingerprint}, the preset's is {expected}: retrained or replaced), so its kept components "
                          f"({preset.keep}) may now be other sounds; {repick}")


def is_zip(path: Path) -> bool:
    """Whether ``path`` starts like a zip archive (a dictionary ``.npz``)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"PK"
    except OSError:
        return False


def loads_as_dictionary(path: Path) -> bool:
    """Whether ``path`` is a dictionary file that loads (a preset's path given one names it so)."""
    from .dictionary import Dictionary
    from .errors import DictionaryError

    try:
        Dictionary.load(path)
    except DictionaryError:
        return False
    return True
