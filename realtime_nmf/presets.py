"""Presets: a dictionary, the components to keep and the separator settings, in YAML.

A preset file looks like this (every key but ``dictionary`` and ``keep`` is optional)::

    description: Heartbeat from a stethoscope; breathing and hum removed
    dictionary: heartbeat.npz     # relative to this file
    made_for: {sample_rate: 4000, n_fft: 256, hop_length: 64, n_components: 16, latency_samples: 255, fingerprint: 9c0f3e2a51b7d864}
                                  # written when saved; a dictionary that no longer matches is refused
    keep: 0-3,5                   # indices, ranges, labels or all
    mask: ratio                   # ratio | binary
    mask_exponent: 1.0            # 1 = ratio mask, 2 = Wiener
    iterations: 20                # multiplicative updates per frame at most
    tolerance: 0.01               # stop a frame's updates earlier when converged
    sparsity: 0.0                 # L1 penalty on the activations
    chain:                        # optional: processors around the separator
      - highpass: {cutoff: 20}
      - nmf                       # the separator described above
      - gain: {db: 6}

Presets are validated when loaded: unknown keys, wrong types, indices out of range,
unknown labels and unknown processors are errors that name the key and the fix. A preset
file is a regular file of at most 64 KiB (:data:`MAX_PRESET_BYTES`) of UTF-8 text, read
with YAML's safe loader restricted further (:mod:`realtime_nmf._safe_yaml`): no anchors
or aliases, no duplicate keys, nesting at most 32 levels deep, integers of at most 30
digits; a chain holds at most 64 processors. Presets are written atomically. A preset is
found by path, or by name in the user preset folder (``$RTNMF_PRESET_DIR``, else the
per-user config folder, e.g. ``~/.config/realtime_nmf/presets`` on Linux), then in the
bundled presets. A name is 1 to 64 letters, digits, ``_``, ``-`` and ``.``, starting
with a letter or digit, not ending in ``.`` or a file extension (``.yaml``, ``.npz``).

``rtnmf preset new NAME`` (:func:`new_preset`) writes, under a lock on the user folder,
first the copy of the dictionary under a content-addressed name (``NAME.<16 hex digits of
its SHA-256>.npz``), then the preset: a failing or concurrent ``preset new`` can never
leave a preset pointing at another dictionary. Copies no preset refers to any more are
then removed (only such copies: never a file the user put there).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._atomic import atomic_write, check_new_file, check_writable_folder
from ._preset_checks import check_made_for, is_zip, loads_as_dictionary
from ._files import absolute, check_input_file, path_problem, show_path
from ._preset_store import bundled_preset_dir, store_copy, user_preset_dir
from ._safe_yaml import read_yaml_file
from ._values import show
from .dictionary import MAX_FILE_BYTES, Dictionary
from .errors import DictionaryError, ParameterError, PresetError, ProcessorError
from .processors.base import validate_parameters
from .processors.chain import Chain
from .processors.registry import get_processor_class
from .processors.separator import SEPARATOR_PARAMETERS, NMFSeparator

__all__ = [
    "Preset",
    "PRESET_VERSION",
    "load_preset",
    "find_preset",
    "list_presets",
    "user_preset_dir",
    "bundled_preset_dir",
    "PresetEntry",
]

PRESET_VERSION = 1
#: Largest preset file.
MAX_PRESET_BYTES = 64 * 1024
#: Most processors in a chain.
MAX_CHAIN = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_TOP_KEYS = ("version", "description", "dictionary", "made_for", "keep", *SEPARATOR_PARAMETERS, "chain")
#: Dictionary settings a preset records when saved and checks when loaded (a replaced
#: dictionary file with other settings would make the kept indices meaningless), and the
#: dictionary's content fingerprint (:attr:`Dictionary.fingerprint`: a dictionary retrained
#: with the same settings has other templates, so the same indices would be other sounds).
_MADE_FOR = ("sample_rate", "n_fft", "hop_length", "n_components", "latency_samples", "fingerprint")  # latency_samples tells the window designs apart
_MADE_FOR_TEXT = ("fingerprint",)


def _validate_name(name: str) -> str:
    if (not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith(".")
            or name.lower().endswith((".yaml", ".yml", ".npz"))):
        raise PresetError(f"preset name {show(name)} may use only letters, digits, '_', '-' and '.' (1 to 64 of them, starting with "
                          "a letter or digit, not ending in '.' or '.yaml'), e.g. 'heartbeat'")
    return name


def _validate_description(description, where: str) -> str:
    if not isinstance(description, str):
        raise PresetError(f"{where}: description must be a text, not {show(description)}")
    bad = next((c for c in description if not c.isprintable() and c not in "\n\t"), None)
    if bad is not None:
        raise PresetError(f"{where}: description must be printable text (no control characters such as {bad!r})")
    return description


@dataclass
class Preset:
    """A validated preset.

    Attributes
    ----------
    name : str
    dictionary_path : Path
        Absolute path of the dictionary file.
    keep : str, int or list
        The selection as written (resolved by :meth:`Dictionary.resolve_components`).
    settings : dict
        Separator settings (see :data:`realtime_nmf.processors.separator.SEPARATOR_PARAMETERS`).
    chain : list of (str, dict), optional
        Processors in order, ``("nmf", {})`` standing for the separator; None for the
        separator alone.
    description : str
    path : Path, optional
        File the preset was loaded from or saved to.
    """

    name: str
    dictionary_path: Path
    keep: Any
    settings: dict = field(default_factory=dict)
    chain: list | None = None
    description: str = ""
    path: Path | None = None
    _dictionary: Dictionary | None = field(default=None, repr=False)

    def __post_init__(self):
        self.description = _validate_description(self.description, f"preset {self.name!r}")
        self.settings = validate_parameters(SEPARATOR_PARAMETERS, self.settings, f"preset {self.name!r}")
        self.dictionary_path = Path(self.dictionary_path)
        if self.chain is not None:
            self.chain = _validate_chain(self.chain, f"preset {self.name!r}")

    @property
    def dictionary(self) -> Dictionary:
        """The preset's dictionary (loaded once)."""
        if self._dictionary is None:
            self._dictionary = Dictionary.load(self.dictionary_path)
        return self._dictionary

    @property
    def keep_indices(self) -> list[int]:
        """Resolved indices of the kept components."""
        return self.dictionary.resolve_components(self.keep, what=f"preset {self.name!r}: keep")

    @property
    def sample_rate(self) -> int:
        """Rate the preset's processors run at (the dictionary's)."""
        return self.dictionary.sample_rate

    def build(self) -> Chain:
        """The processors this preset describes, as a :class:`Chain` (not yet prepared)."""
        separator = NMFSeparator(self.dictionary, keep=self.keep, **self.settings)
        if self.chain is None:
            return Chain([separator])
        processors = []
        for name, params in self.chain:
            processors.append(separator if name == "nmf" else get_processor_class(name)(**params))
        return Chain(processors)

    @property
    def latency(self) -> int:
        """Algorithmic latency of the whole chain in samples at :attr:`sample_rate`."""
        return self.build().latency

    def to_dict(self, relative_to: Path | None = None) -> dict[str, Any]:
        """The preset as YAML-ready data; the dictionary path relative to ``relative_to`` if given."""
        dictionary = self.dictionary_path
        if relative_to is not None:
            try:
                dictionary = Path(os.path.relpath(self.dictionary_path.resolve(), relative_to.resolve()))
            except ValueError:  # another drive on Windows
                dictionary = self.dictionary_path.resolve()
        data: dict[str, Any] = {"version": PRESET_VERSION}
        if self.description:
            data["description"] = self.description
        data["dictionary"] = dictionary.as_posix()
        d = self.dictionary
        data["made_for"] = {key: getattr(d, key) for key in _MADE_FOR}
        data["keep"] = self.keep
        data.update(self.settings)
        if self.chain is not None:
            data["chain"] = [name if not params else {name: dict(params)} for name, params in self.chain]
        return data

    def to_yaml(self, relative_to: Path | None = None) -> str:
        """The preset as YAML text."""
        header = f"# realtime_nmf preset '{self.name}'\n"
        return header + yaml.dump(self.to_dict(relative_to), Dumper=_PresetDumper, sort_keys=False, default_flow_style=False, width=100)

    def save(self, path: str | Path) -> Path:
        """Write the preset to ``path`` atomically (the dictionary path stored relative to it)."""
        path = Path(path)
        if path.suffix not in (".yaml", ".yml"):
            raise PresetError(f"preset file {str(path)!r} must end in .yaml")
        text = self.to_yaml(relative_to=path.parent)
        with atomic_write(path, "w") as handle:
            handle.write(text)
        self.path = path
        return path

    def summary(self) -> str:
        """Human-readable description (for ``rtnmf info``)."""
        d = self.dictionary
        keep = self.keep_indices
        names = ", ".join(f"{i}" + (f":{d.labels[i]}" if d.labels[i] else "") for i in keep)
        chain = " -> ".join(name + (f"({', '.join(f'{k}={v}' for k, v in p.items())})" if p else "") for name, p in (self.chain or [("nmf", {})]))
        latency = self.latency
        lines = [
            f"preset         {self.name}" + (f" ({self.path})" if self.path else ""),
            f"description    {self.description or '-'}",
            f"dictionary     {self.dictionary_path}",
            f"keep           {len(keep)} of {d.n_components} components: {names}",
            "separator      " + ", ".join(f"{k} {v}" for k, v in self.settings.items()),
            f"chain          {chain}",
            f"latency        {latency} samples = {1000 * latency / d.sample_rate:.1f} ms at {d.sample_rate} Hz (algorithmic)",
        ]
        return "\n".join(lines) + "\n\ndictionary:\n" + "\n".join("  " + line for line in d.summary().splitlines())


class _PresetDumper(yaml.SafeDumper):
    """Safe YAML dumper that writes short lists inline (``keep: [0, 3, 5]``)."""


def _represent_list(dumper, data):
    inline = all(not isinstance(item, (dict, list)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline)


_PresetDumper.add_representer(list, _represent_list)


def _validate_chain(chain: Any, where: str) -> list[tuple[str, dict]]:
    if not isinstance(chain, list) or not chain:
        raise PresetError(f"{where}: chain must be a list of processors, e.g. [highpass, nmf, {{gain: {{db: 6}}}}]")
    if len(chain) > MAX_CHAIN:
        raise PresetError(f"{where}: the chain holds {len(chain)} processors; at most {MAX_CHAIN}")
    entries = []
    for position, item in enumerate(chain):
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
            name, params = item[0], item[1] or {}
        elif isinstance(item, dict) and len(item) == 1:
            name, params = next(iter(item.items()))
            params = {} if params is None else params
        else:
            raise PresetError(f"{where}: chain entry {position + 1} ({show(item)}) must be a processor name or 'name: {{parameters}}'")
        if not isinstance(params, dict):
            raise PresetError(f"{where}: chain entry {position + 1} ({show(name)}): parameters must be a mapping like {{cutoff: 20}}, "
                              f"not {show(params)}")
        try:
            cls = get_processor_class(name)
        except ProcessorError as exc:
            raise PresetError(f"{where}: chain entry {position + 1}: {exc}") from None
        if name == "nmf":
            if params:
                raise PresetError(f"{where}: the 'nmf' chain entry takes no parameters; set them at the top level of the preset (mask, iterations, ...)")
        else:
            try:
                params = validate_parameters(cls.parameters, params, f"{where}: chain entry {position + 1} ({name})")
            except ParameterError as exc:
                raise PresetError(str(exc)) from None
        entries.append((name, dict(params)))
    count = sum(name == "nmf" for name, _ in entries)
    if count != 1:
        raise PresetError(f"{where}: the chain must contain the separator 'nmf' exactly once (it has {count})")
    return entries


def read_preset_data(path: Path) -> Any:
    """The data of a preset file: a regular file of at most :data:`MAX_PRESET_BYTES` of UTF-8 YAML, read with the bounded loader.

    Raises
    ------
    PresetError
        With one line naming the file and the problem.
    """
    return read_yaml_file(path, MAX_PRESET_BYTES, PresetError, what="a preset file",
                          zip_hint="a dictionary .npz?), not a preset; make a preset of a dictionary with "
                                   "'rtnmf preset new NAME --dictionary D.npz --keep ...'")


def load_preset(name_or_path: str | Path) -> Preset:
    """Find (see :func:`find_preset`), read and validate a preset, dictionary included.

    Raises
    ------
    PresetError
        For a missing file, bad YAML (with the line number), an unknown key, a wrong
        type, a bad selection or chain; :class:`DictionaryError` if its dictionary is
        missing or invalid.
    """
    path = find_preset(name_or_path)
    if is_zip(path) and loads_as_dictionary(path):  # any other zip archive is refused by the reader, as what it is
        raise PresetError(f"{show_path(path)} is a dictionary, not a preset; hear a selection of it with "
                          f"rtnmf run --dictionary {shlex.quote(str(path))} --keep SPEC --input IN.wav --output OUT.wav, "
                          f"or save one as a preset with rtnmf preset new NAME --dictionary {shlex.quote(str(path))} --keep SPEC")
    return preset_from_dict(read_preset_data(path), name=path.stem, base=path.parent, path=path)


def _dictionary_path(text: str, base: Path, where: str) -> Path:
    """The absolute path a preset's ``dictionary`` names (relative to the preset's folder), checked as text first."""
    if "\0" in text:
        raise PresetError(f"{where}: dictionary {show(text)} contains a NUL character")
    expanded = os.path.expanduser(text)
    if expanded.startswith("~"):
        user = text[1:].split("/", 1)[0]
        raise PresetError(f"{where}: dictionary {show(text)}: there is no user {user!r}; write the path out in full")
    return absolute(os.path.normpath(os.path.join(absolute(base), expanded)))


def preset_from_dict(data: Any, *, name: str, base: Path, path: Path | None = None) -> Preset:
    """Validate preset data (as read from YAML); relative dictionary paths resolve against ``base``."""
    where = f"preset {str(path) if path else name!r}"
    if not isinstance(data, dict):
        raise PresetError(f"{where} must be a mapping of keys (dictionary, keep, ...), not {type(data).__name__}")
    unknown = [key for key in data if key not in _TOP_KEYS]
    if unknown:
        raise PresetError(f"{where}: unknown key {show(unknown[0])}; allowed keys: {', '.join(_TOP_KEYS)}")
    version = data.get("version", PRESET_VERSION)
    if version != PRESET_VERSION:
        raise PresetError(f"{where}: version {show(version)} is not supported; this realtime_nmf reads preset version {PRESET_VERSION}")
    for key in ("dictionary", "keep"):
        if key not in data:
            raise PresetError(f"{where}: the key {key!r} is missing; a preset needs 'dictionary' (a .npz file) and 'keep' (e.g. 0-3,5)")
    dictionary = data["dictionary"]
    if not isinstance(dictionary, str) or not dictionary:
        raise PresetError(f"{where}: dictionary must be a file name such as heartbeat.npz, not {show(dictionary)}")
    description = _validate_description(data.get("description", ""), where)
    keep = data["keep"]
    if not isinstance(keep, (str, int, list)) or isinstance(keep, bool):
        raise PresetError(f"{where}: keep must be indices, ranges or labels such as 0-3,5 or [0, 3] or all, not {show(keep)}")
    dictionary_path = _dictionary_path(dictionary, base, where)
    made_for = data.get("made_for", {})
    if not isinstance(made_for, dict) or set(made_for) - set(_MADE_FOR) or not all(
            (isinstance(v, str) if k in _MADE_FOR_TEXT else isinstance(v, int) and not isinstance(v, bool)) for k, v in made_for.items()):
        raise PresetError(f"{where}: made_for must map {', '.join(k for k in _MADE_FOR if k not in _MADE_FOR_TEXT)} to whole numbers "
                          f"and fingerprint to a text, not {show(made_for)}")
    settings = {key: data[key] for key in SEPARATOR_PARAMETERS if key in data}
    try:
        preset = Preset(name=name, dictionary_path=dictionary_path, keep=keep, settings=settings, chain=data.get("chain"),
                        description=description, path=path)
    except ParameterError as exc:
        raise PresetError(str(exc)) from None
    try:
        preset.dictionary  # loads the dictionary
    except DictionaryError as exc:
        raise DictionaryError(f"{where}: {exc}") from None
    check_made_for(preset, made_for, where, _MADE_FOR)  # before the selection: a replaced dictionary is the real problem
    try:
        preset.keep_indices  # checks the selection against the dictionary
    except ParameterError as exc:
        raise PresetError(str(exc)) from None
    return preset


def find_preset(name_or_path: str | Path) -> Path:
    """Locate a preset by file path or by name.

    A value with a folder separator or a ``.yaml``/``.yml`` ending is a path. A name is
    looked up as ``NAME.yaml`` in :func:`user_preset_dir` first (so a user preset can
    override a bundled one), then in :func:`bundled_preset_dir`. Only regular files
    are presets: a folder, a named pipe or a device is refused as what it is.
    """
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or os.sep in text or "/" in text or text.endswith((".yaml", ".yml", ".npz")):
        if "\0" in text:
            raise PresetError(f"preset file {show_path(text)} contains a NUL character")
        path = Path(os.path.expanduser(text))
        check_input_file(path, PresetError, what="a preset file", missing=f"preset file {show_path(text)} does not exist")
        return path
    _validate_name(text)
    for folder in (user_preset_dir(), bundled_preset_dir()):
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{text}{suffix}"
            problem, _ = path_problem(candidate)
            if problem == "":
                return candidate
            if problem != "missing":
                check_input_file(candidate, PresetError, what="a preset file")
    names = sorted({entry.name for entry in list_presets()})
    raise PresetError(f"no preset named {text!r}; available: {', '.join(names) or 'none'} (see 'rtnmf presets', or give a path to a .yaml file)")


@dataclass(frozen=True)
class PresetEntry:
    """One line of :func:`list_presets`."""

    name: str
    path: Path
    source: str  # "user" or "bundled"
    description: str
    shadowed: bool = False


def _describe(path: Path) -> str:
    try:
        data = read_preset_data(path)
    except PresetError:
        return "(unreadable)"
    text = data.get("description", "") if isinstance(data, dict) else ""
    if not isinstance(text, str):
        return "(unreadable)"
    line = text.strip().splitlines()[0] if text.strip() else ""
    return "".join(c if c.isprintable() else "?" for c in line)[:200]


def list_presets() -> list[PresetEntry]:
    """Every preset found by name: user presets first, then bundled ones (marked when a user preset shadows them)."""
    entries: list[PresetEntry] = []
    seen: set[str] = set()
    for source, folder in (("user", user_preset_dir()), ("bundled", bundled_preset_dir())):
        if not folder.is_dir():
            continue
        for path in sorted(list(folder.glob("*.yaml")) + list(folder.glob("*.yml"))):
            entries.append(PresetEntry(path.stem, path, source, _describe(path), shadowed=path.stem in seen))
            seen.add(path.stem)
    return entries


def new_preset(
    name: str,
    dictionary_path: str | Path,
    keep: Any,
    *,
    output: str | Path | None = None,
    description: str = "",
    settings: dict | None = None,
    chain: list | None = None,
    force: bool = True,
) -> Preset:
    """Create, validate and save a preset: everything is checked before anything is written.

    Without ``output`` the preset goes to the user preset folder as ``NAME.yaml``, and
    the dictionary is copied beside it so the preset keeps working when the original
    file moves. The copy is written first, under a content-addressed name
    (``NAME.<16 hex digits of its SHA-256>.npz``), and the preset last, with the folder
    locked: a ``preset new`` that fails leaves the folder as it was, and two at once
    take turns, so a preset never points at another's dictionary. Copies of ``NAME``
    that no preset mentions any more are then removed. With ``output`` the preset
    refers to the dictionary where it is (by a path relative to the preset file).
    With ``force=False`` an existing preset file is refused (:class:`OutputError`, naming
    ``--force``) before anything is written.

    Returns
    -------
    Preset
    """
    _validate_name(name)
    target = Path(output) if output is not None else user_preset_dir() / f"{name}.yaml"
    if not force and (target.exists() or target.is_symlink()):
        check_new_file(target, force=False)  # raises: the file exists
    dictionary = Dictionary.load(dictionary_path)
    try:
        preset = Preset(name=name, dictionary_path=absolute(dictionary_path), keep=keep, settings=settings or {},
                        chain=chain, description=description, _dictionary=dictionary)
        preset.keep_indices
    except ParameterError as exc:
        raise PresetError(str(exc)) from None
    if output is not None:
        target = Path(output)
        if target.suffix not in (".yaml", ".yml"):
            raise PresetError(f"preset file {show_path(target)} must end in .yaml")
        check_writable_folder(target)
        return _saved(preset, target)
    folder = user_preset_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PresetError(f"cannot create the user preset folder {show_path(folder)}: {exc.strerror or exc}") from None
    def save_pointing_at(copy: Path) -> None:
        copied = Dictionary.load(copy)
        if copied.metadata() != dictionary.metadata() or not (copied.W == dictionary.W).all():
            raise PresetError(f"the dictionary {show_path(dictionary_path)} changed while the preset was being made; try again")
        preset.dictionary_path, preset._dictionary = copy, copied
        preset.save(folder / f"{name}.yaml")

    store_copy(folder, name, dictionary_path, save_pointing_at, max_bytes=MAX_FILE_BYTES, preset_bytes=MAX_PRESET_BYTES)
    return preset


def _saved(preset: Preset, target: Path) -> Preset:
    preset.save(target)
    return preset
