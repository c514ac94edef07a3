"""Trying and keeping a selection of components: before a preset exists, on top of one, and back into it.

- :func:`preset_for_dictionary`: a preset held in memory for a dictionary file and a
  selection (``rtnmf run --dictionary D.npz --keep SPEC``);
- :func:`with_changes`: a preset with another selection or other separator settings
  (``rtnmf run --preset P --keep SPEC --iterations N``), not saved;
- :func:`save_selection`: the selection made while running live written back into the
  preset's file, atomically, after a backup of the file as it was.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any

from ._atomic import atomic_write
from .dictionary import Dictionary
from .errors import ParameterError, PresetError
from .presets import Preset, bundled_preset_dir

__all__ = ["preset_for_dictionary", "with_changes", "save_selection", "keep_text"]


def keep_text(indices) -> str:
    """Indices as ``rtnmf`` takes them after ``--keep``: ``1,2,5``."""
    return ",".join(str(int(i)) for i in indices)


def preset_for_dictionary(dictionary_path: str | Path, keep: Any, *, settings: dict | None = None) -> Preset:
    """A preset that exists only in memory: a dictionary file and a selection.

    Named after the dictionary's file; it has no file, so nothing reloads or saves it.

    Raises
    ------
    DictionaryError, PresetError
    """
    path = Path(dictionary_path).expanduser()
    dictionary = Dictionary.load(path)
    try:
        preset = Preset(name=path.stem, dictionary_path=path.resolve(), keep=keep, settings=settings or {}, _dictionary=dictionary)
        preset.keep_indices
    except ParameterError as exc:
        raise PresetError(str(exc)) from None
    return preset


def with_changes(preset: Preset, *, keep: Any = None, settings: dict | None = None) -> Preset:
    """A copy of ``preset`` with another selection and/or some separator settings changed, validated, not saved.

    Raises
    ------
    PresetError
        For a selection the dictionary refuses or a setting the schema refuses.
    """
    try:
        changed = dataclasses.replace(preset, keep=preset.keep if keep is None else keep, settings={**preset.settings, **(settings or {})})
        changed.keep_indices
    except ParameterError as exc:
        raise PresetError(str(exc)) from None
    return changed


def save_selection(preset: Preset, keep: Any) -> tuple[Preset, Path]:
    """Write a new selection into the preset's own file, atomically, after a backup of the file as it was.

    The backup is ``NAME.yaml.bak`` beside it (replaced by the next save). The preset is
    written again from its data, so comments in a hand-written file survive only in the
    backup.

    Returns
    -------
    preset : Preset
        The preset with the new selection, at its file.
    backup : Path

    Raises
    ------
    PresetError
        For a preset that has no file, a bundled preset (the package's own files are never
        changed: the message gives the command that saves the selection as a user preset),
        or a selection the dictionary refuses.
    """
    updated = with_changes(preset, keep=keep)
    command = f"rtnmf preset new {{name}} --dictionary {shlex.quote(str(preset.dictionary_path))} --keep {keep_text(updated.keep_indices)}"
    if preset.path is None:
        raise PresetError(f"{preset.name} has no preset file to save into; save the selection with: {command.format(name=preset.name)}")
    path = Path(preset.path)
    source_checkout = Path(__file__).resolve().parent.parent / "presets"  # the bundled presets when run from a checkout
    if path.resolve().parent in (bundled_preset_dir().resolve(), source_checkout):
        raise PresetError(f"{preset.name} is a bundled preset, which is never changed; save the selection as your own with: "
                          + command.format(name=f"{preset.name}-mine"))
    try:
        original = path.read_bytes()
    except OSError as exc:
        raise PresetError(f"cannot read {str(path)!r} to back it up: {exc.strerror or exc}") from None
    backup = path.with_name(path.name + ".bak")
    with atomic_write(backup) as handle:
        handle.write(original)
    updated.save(path)
    return updated, backup
