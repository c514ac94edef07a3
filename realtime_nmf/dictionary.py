"""Dictionary: the learned templates ``W`` with every setting needed to use them again.

A dictionary file is a NumPy ``.npz`` archive written without pickle. It holds two
arrays: ``W`` (float32, shape ``(n_bins, n_components)``) and ``metadata`` (a JSON text)
with the format name and version, the STFT settings (sample rate, ``n_fft``, hop length,
window design, spectrogram power), the streaming latency they give, ``beta``, the
component labels, the training provenance and the dictionary's fingerprint
(:attr:`Dictionary.fingerprint`, checked when the file is read).

Format versions: 2 (written since the asymmetric low-latency windows,
:mod:`realtime_nmf.windows`) adds ``latency_samples`` and allows ``window:
"asymmetric"``; version 1 files (symmetric windows only) still load.
Files are written atomically: a crash or Ctrl-C never leaves a half-written dictionary.

Limits (checked when a file is read, before anything is inflated or allocated):

- at most 1024 components (:data:`MAX_COMPONENTS`) and ``n_fft`` from 16 to 65536
  (:data:`MAX_N_FFT`), so ``W`` is at most 32769 x 1024 values (128 MiB as float32,
  256 MiB as the float64 a file may store);
- a sample rate from 1000 to 768000 Hz (:data:`MIN_SAMPLE_RATE`, :data:`MAX_SAMPLE_RATE`);
  ``beta`` from 0 to 4 and a spectrogram ``power`` above 0 and at most 2 (beyond them,
  the updates of loud spectra overflow float32);
- metadata of at most 1 MiB of JSON text (:data:`MAX_METADATA_CHARS`), nested at most
  16 levels deep (:data:`MAX_METADATA_DEPTH`);
- labels empty or selectable names: a letter, then letters, digits, ``_`` or ``-``, at
  most 64 characters, not ``all``;
- the file itself a regular file (not a folder, named pipe or device) of at most
  :data:`MAX_FILE_BYTES`, a zip archive of at most 16 members.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import defaults
from ._atomic import atomic_write, check_writable_folder
from ._files import check_input_file, show_path
from ._dictionary_text import json_default
from ._npz import NpzReader, why_not_a_dictionary
from ._values import format_size, nesting_depth, real_number, show, whole_number
from .errors import DictionaryError, ParameterError
from .nmf import validate_beta
from .stft import streaming_latency, validate_stft_settings
from .windows import is_asymmetric, synthesis_length

__all__ = ["Dictionary", "check_dictionary_output", "FORMAT_NAME", "FORMAT_VERSION", "READABLE_VERSIONS", "MAX_COMPONENTS", "MAX_N_FFT",
           "MIN_SAMPLE_RATE", "MAX_SAMPLE_RATE", "MAX_METADATA_CHARS", "MAX_METADATA_DEPTH", "MAX_FILE_BYTES", "validate_label",
           "FINGERPRINT_DIGITS"]

FORMAT_NAME = "realtime_nmf.dictionary"
FORMAT_VERSION = 2
#: Versions :meth:`Dictionary.load` reads.
READABLE_VERSIONS = (1, 2)
#: Hexadecimal digits of :attr:`Dictionary.fingerprint` (64 bits of a SHA-256).
FINGERPRINT_DIGITS = 16

#: Most templates a dictionary holds.
MAX_COMPONENTS = 1024
#: Largest FFT size (the STFT's own limit); the smallest is 16.
MAX_N_FFT = 1 << 16
#: Sample rates a dictionary (and an audio file) may have, in Hz.
MIN_SAMPLE_RATE = defaults.MIN_SAMPLE_RATE
MAX_SAMPLE_RATE = defaults.MAX_SAMPLE_RATE
#: Longest metadata text, in characters, and its deepest nesting of lists and mappings.
MAX_METADATA_CHARS = 1 << 20
MAX_METADATA_DEPTH = 16
#: Longest label.
MAX_LABEL_LENGTH = 64
_MAX_BINS = MAX_N_FFT // 2 + 1
_MAX_W_BYTES = _MAX_BINS * MAX_COMPONENTS * 8 + 4096  # float64 on disk at most, and the .npy header
_MAX_METADATA_BYTES = MAX_METADATA_CHARS * 4 + 4096  # numpy stores text as UTF-32, plus the .npy header
#: Largest dictionary file.
MAX_FILE_BYTES = _MAX_W_BYTES + _MAX_METADATA_BYTES + (1 << 16)
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
#: A component index and a range in a selection: ASCII digits only (``'²'.isdigit()`` is true, but ``int('²')`` fails).
_INDEX = re.compile(r"-?[0-9]+")
_RANGE = re.compile(r"[0-9]+ *- *[0-9]+")


def validate_label(label, what: str = "label") -> str:
    """Return ``label`` if it can name components in a selection (``--keep heart``), else raise :class:`ParameterError`.

    A label starts with a letter and holds letters, digits, ``_`` and ``-``, at most 64
    characters; ``all`` is reserved (it keeps every component).
    """
    if not isinstance(label, str) or not _LABEL.fullmatch(label) or label == "all":
        raise ParameterError(f"{what}={show(label)} must start with a letter and hold only letters, digits, '_' and '-' "
                             "(at most 64, and not 'all'), e.g. heart")
    return label


@dataclass
class Dictionary:
    """Spectral templates and the analysis settings they were learned with.

    Attributes
    ----------
    W : np.ndarray [shape=(n_bins, n_components), dtype=float32]
        Non-negative templates, one per column, ``n_bins = n_fft // 2 + 1``.
    sample_rate : int
    n_fft : int
    hop_length : int
    window : str
        Window design (:mod:`realtime_nmf.windows`): a window name such as ``"hann"``, or
        ``"asymmetric"`` for the low-latency pair (latency ``2 * hop_length - 1``).
    beta : float
        Beta divergence the templates were learned with (and are solved with).
    power : float
        Exponent of the spectrogram (1 = magnitude, 2 = power).
    labels : list of str
        One label per component; ``""`` for an unlabelled component.
    provenance : dict
        How the dictionary was made: source files, duration, iterations, final divergence...
    """

    W: np.ndarray
    sample_rate: int
    n_fft: int
    hop_length: int
    window: str = defaults.WINDOW
    beta: float = defaults.BETA
    power: float = defaults.POWER
    labels: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        self.W = np.ascontiguousarray(self.W, dtype=np.float32)
        rate = whole_number(self.sample_rate)
        if rate is None or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise ParameterError(f"sample_rate={show(self.sample_rate)} must be a whole number of Hz from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE}")
        self.sample_rate = rate
        for name in ("n_fft", "hop_length"):
            if whole_number(getattr(self, name)) is None:
                raise ParameterError(f"{name}={show(getattr(self, name))} must be a whole number")
        if not isinstance(self.window, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,32}", self.window):
            raise ParameterError(f"window={show(self.window)} must be a window name such as 'hann'")
        self.n_fft, self.hop_length, self.window = validate_stft_settings(whole_number(self.n_fft), whole_number(self.hop_length), self.window)
        if real_number(self.beta) is None:
            raise ParameterError(f"beta={show(self.beta)} must be a number >= 0 (2 = Euclidean, 1 = Kullback-Leibler, 0 = Itakura-Saito)")
        self.beta = validate_beta(self.beta)
        power = real_number(self.power)
        if power is None or not 0 < power <= 2:
            raise ParameterError(f"power={show(self.power)} must be a number > 0 and at most 2 (1 = magnitude, 2 = power spectrogram)")
        self.power = power
        if self.labels is None:
            self.labels = []
        if not isinstance(self.labels, (list, tuple)):
            raise ParameterError(f"labels={show(self.labels)} must be a list of texts, one per component")
        if not self.labels:
            self.labels = [""] * self.n_components
        self.labels = list(self.labels)
        for index, label in enumerate(self.labels):
            if not isinstance(label, str):
                raise ParameterError(f"label {show(label)} of component {index} must be a text")
            if label and (not _LABEL.fullmatch(label) or label == "all"):
                raise ParameterError(f"label {show(label)} of component {index} must start with a letter and hold only letters, "
                                     "digits, '_' and '-' (at most 64, and not 'all'), or be empty")
        if self.provenance is None:
            self.provenance = {}
        if not isinstance(self.provenance, dict):
            raise ParameterError(f"provenance={show(self.provenance)} must be a mapping (source files, iterations, ...)")
        self.validate()

    # ----------------------------------------------------------------------------------
    @property
    def n_components(self) -> int:
        """Number of templates ``K``."""
        return int(self.W.shape[1]) if self.W.ndim == 2 else 0

    @property
    def n_bins(self) -> int:
        """Number of frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def validate(self) -> None:
        """Raise :class:`DictionaryError` unless the templates and settings are consistent."""
        if self.W.ndim != 2:
            raise DictionaryError(f"W must be 2-D (n_bins, n_components), got shape {self.W.shape}")
        if self.W.shape[0] != self.n_bins:
            raise DictionaryError(f"W has {self.W.shape[0]} rows but n_fft={self.n_fft} gives {self.n_bins} frequency bins")
        if self.n_components < 1:
            raise DictionaryError("W has no components")
        if self.n_components > MAX_COMPONENTS:
            raise DictionaryError(f"W has {self.n_components} components; a dictionary holds at most {MAX_COMPONENTS}")
        if not np.isfinite(self.W).all():
            raise DictionaryError("W holds NaN or infinite values; retrain the dictionary")
        if (self.W < 0).any():
            raise DictionaryError("W holds negative values; NMF templates must be non-negative; retrain the dictionary")
        if not MIN_SAMPLE_RATE <= self.sample_rate <= MAX_SAMPLE_RATE:
            raise DictionaryError(f"sample_rate={self.sample_rate} must be from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz")
        if self.power <= 0 or not np.isfinite(self.power):
            raise DictionaryError(f"power={self.power} must be > 0 (1 = magnitude, 2 = power spectrogram)")
        if len(self.labels) != self.n_components:
            raise DictionaryError(f"{len(self.labels)} labels for {self.n_components} components; give one label per component")

    def component_name(self, index: int) -> str:
        """Human-readable name of component ``index``: its label, or ``c03`` style."""
        label = self.labels[index]
        return label if label else f"c{index:02d}"

    def resolve_components(self, spec, *, what: str = "keep") -> list[int]:
        """Turn a component selection into sorted, unique component indices.

        Parameters
        ----------
        spec : str, int or list
            ``"all"``; an index (``3``); a range (``"0-3"``, inclusive); a label
            (``"heart"``, every component with that label); or a comma-separated text or
            a list mixing these (``"0-3,5,heart"``, ``[0, "2-4", "heart"]``).
        what : str
            Name of the setting, used in error messages.

        Returns
        -------
        list of int

        Raises
        ------
        ParameterError
            For an empty selection, an index out of range, a reversed range or an unknown
            label, naming the value and what is allowed.
        """
        K = self.n_components
        if isinstance(spec, str):
            items = [item.strip() for item in spec.split(",")]
        elif isinstance(spec, (list, tuple)):
            items = list(spec)
        else:
            items = [spec]
        chosen: set[int] = set()
        for item in items:
            if isinstance(item, bool):
                raise ParameterError(f"{what}: {item!r} is not a component index, range or label")
            if isinstance(item, (int, np.integer)):
                chosen.add(self._check_index(int(item), what))
                continue
            if not isinstance(item, str) or not item:
                raise ParameterError(f"{what}: {item!r} is not a component index, range (e.g. 0-3) or label")
            if item == "all":
                chosen.update(range(K))
            elif _INDEX.fullmatch(item):
                chosen.add(self._check_index(self._parse_index(item, what), what))
            elif _RANGE.fullmatch(item):
                lo, hi = (self._parse_index(part, what) for part in item.split("-", 1))
                if lo > hi:
                    raise ParameterError(f"{what}: range {item!r} runs backwards; write it as {hi}-{lo}")
                self._check_index(lo, what)
                self._check_index(hi, what)
                chosen.update(range(lo, hi + 1))
            else:
                matches = [i for i, label in enumerate(self.labels) if label == item]
                if not matches:
                    known = sorted({label for label in self.labels if label})
                    hint = f"labels in this dictionary: {', '.join(known)}" if known else "this dictionary has no labels; use indices such as 0,3,5 or ranges such as 0-3"
                    raise ParameterError(f"{what}: {item!r} is not a component index, range or label ({hint})")
                chosen.update(matches)
        if not chosen:
            raise ParameterError(f"{what}: the selection is empty; name at least one component (e.g. 0,3,5 or 0-3 or all)")
        return sorted(chosen)

    def _parse_index(self, text: str, what: str) -> int:
        """An index as written in a selection; one of more than 18 digits is out of range, and never converted."""
        digits = text.strip()
        if len(digits.lstrip("-")) > 18:
            self._out_of_range(digits[:20] + "...", what)
        return int(digits)

    def _check_index(self, index: int, what: str) -> int:
        if not 0 <= index < self.n_components:
            self._out_of_range(str(index) if len(str(index)) <= 30 else str(index)[:20] + "...", what)
        return index

    def _out_of_range(self, shown: str, what: str):
        raise ParameterError(f"{what}: component index {shown} is out of range; this dictionary has {self.n_components} components, "
                             f"numbered 0 to {self.n_components - 1}")

    @property
    def fingerprint(self) -> str:
        """A content hash of the templates and the STFT settings they belong to.

        The first :data:`FINGERPRINT_DIGITS` hexadecimal digits of the SHA-256 of the
        settings that give an index its meaning (sample rate, ``n_fft``, hop length,
        window, spectrogram power, the shape of ``W``) and of ``W`` itself (float32,
        little-endian, row-major). Two dictionaries share a fingerprint only when every
        component is the same template: a preset stores it and refuses a dictionary
        file that was retrained or replaced since (:func:`realtime_nmf.presets.load_preset`).
        Labels, ``beta`` and the provenance do not enter it.
        """
        settings = {"sample_rate": self.sample_rate, "n_fft": self.n_fft, "hop_length": self.hop_length, "window": self.window,
                    "power": self.power, "shape": list(self.W.shape)}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8"))
        digest.update(np.ascontiguousarray(self.W, dtype="<f4").tobytes())
        return digest.hexdigest()[:FINGERPRINT_DIGITS]

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency of the streaming engine with these STFT settings, in samples."""
        return streaming_latency(self.n_fft, self.hop_length, self.window)

    @property
    def latency_reason(self) -> str:
        """What sets the latency, in words: the whole window, or the asymmetric synthesis window."""
        if is_asymmetric(self.window):
            return f"asymmetric windows, synthesis over the last {synthesis_length(self.window, self.n_fft, self.hop_length)} samples"
        return "the STFT window"

    # ----------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """Everything but ``W``, as JSON-serialisable data."""
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "sample_rate": self.sample_rate,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "window": self.window,
            "latency_samples": self.latency_samples,
            "beta": self.beta,
            "power": self.power,
            "labels": list(self.labels),
            "provenance": self.provenance,
            "fingerprint": self.fingerprint,
        }

    def save(self, path: str | Path) -> Path:
        """Write the dictionary to ``path`` (``.npz``) atomically, without pickle.

        Returns
        -------
        Path
            The path written.
        """
        path = check_dictionary_output(path)
        text = json.dumps(self.metadata(), indent=1, sort_keys=True, default=json_default)
        with atomic_write(path) as handle:
            np.savez(handle, W=self.W, metadata=np.array(text))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Dictionary":
        """Read a dictionary written by :meth:`save`.

        The file is examined before it is read: it must be a regular file (a folder, a
        named pipe or a device is refused as what it is) of at most :data:`MAX_FILE_BYTES`,
        a zip archive of at most 16 members. ``W`` is refused from its ``.npy`` header
        (before any allocation) unless it is float16/32/64 and 2-D with at most 32769
        rows (``n_fft`` 65536) and 1024 components, and the size the archive declares for
        it matches; the metadata must be a JSON text of at most 1 MiB (1048576
        characters) nested at most 16 levels deep, whose fields have the right types and
        ranges (sample rate 1000 to 768000 Hz, ``n_fft`` 16 to 65536). No member is
        inflated beyond the size it declares, and each member's checksum is verified.

        Raises
        ------
        DictionaryError
            If the file is missing, not a regular file, too large, truncated, corrupt,
            not a realtime_nmf dictionary, of an unknown format version, or holds
            invalid templates or settings: one line naming the file and the problem.
            Object arrays (pickle payloads) are refused without being read.
        """
        status = check_input_file(path, DictionaryError, what="a dictionary file",
                                  missing=f"dictionary file {show_path(path)} does not exist; "
                                          f"train one with 'rtnmf train CLIP -o {_file_name(path)}'")
        name = show_path(path)
        if status.st_size == 0:
            raise DictionaryError(f"{name} is empty (0 bytes); it is not a dictionary")
        if status.st_size > MAX_FILE_BYTES:
            raise DictionaryError(f"{name} is {format_size(status.st_size)}; a dictionary file is at most {format_size(MAX_FILE_BYTES)}")
        what = f"{name} is not a realtime_nmf dictionary"
        foreign = why_not_a_dictionary(Path(path))
        if foreign:
            raise DictionaryError(f"{what}: {foreign}")
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise DictionaryError(f"cannot read {name}: {exc.strerror or exc}") from None
        with handle, NpzReader(handle, status.st_size, name, DictionaryError) as archive:
            if not {"W.npy", "metadata.npy"} <= set(archive.names):
                arrays = sorted(member[:-4] if member.endswith(".npy") else member for member in archive.names)
                raise DictionaryError(f"{what}: it lacks the arrays 'W' and 'metadata' (it has {show(arrays)})")
            W = archive.read_array("W.npy", max_bytes=_MAX_W_BYTES, check=_check_w_header)
            text = archive.read_array("metadata.npy", max_bytes=_MAX_METADATA_BYTES, check=_check_metadata_header)
        meta = _parse_metadata(str(text[()] if text.ndim == 0 else text[0]), what)
        if meta.get("format") != FORMAT_NAME:
            raise DictionaryError(f"{what}: its metadata does not name the format {FORMAT_NAME!r}")
        version = meta.get("format_version")
        if isinstance(version, bool) or version not in READABLE_VERSIONS:
            raise DictionaryError(
                f"{name} has dictionary format version {show(version)}, but this realtime_nmf reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}; retrain it with this version or upgrade realtime_nmf"
            )
        if version == 1 and isinstance(meta.get("window"), str) and is_asymmetric(meta["window"]):
            raise DictionaryError(f"{what}: format version 1 has no asymmetric windows (it is damaged or was edited)")
        missing = [key for key in ("sample_rate", "n_fft", "hop_length") if key not in meta]
        if missing:
            raise DictionaryError(f"{what}: its metadata lacks {missing[0]!r}")
        try:
            dictionary = cls(
                W=W,
                sample_rate=meta["sample_rate"],
                n_fft=meta["n_fft"],
                hop_length=meta["hop_length"],
                window=meta.get("window", defaults.WINDOW),
                beta=meta.get("beta", defaults.BETA),
                power=meta.get("power", defaults.POWER),
                labels=meta.get("labels"),
                provenance=meta.get("provenance"),
            )
        except (DictionaryError, ParameterError) as exc:
            raise DictionaryError(f"dictionary {name} is invalid: {exc}") from None
        stored = meta.get("latency_samples")
        if stored is not None and (isinstance(stored, bool) or stored != dictionary.latency_samples):
            raise DictionaryError(f"dictionary {name} is invalid: it says its latency is {show(stored)} samples, but its window "
                                  f"{dictionary.window!r} with n_fft {dictionary.n_fft} and hop {dictionary.hop_length} gives "
                                  f"{dictionary.latency_samples}; retrain it")
        stored = meta.get("fingerprint")
        if stored is not None and stored != dictionary.fingerprint:
            raise DictionaryError(
                f"dictionary {name} does not match the fingerprint saved with it ({show(stored)}, its content gives "
                f"{dictionary.fingerprint!r}): the file was altered after it was written; restore it or train it again"
            )
        return dictionary

    def summary(self) -> str:
        """A few human-readable lines describing the dictionary (for ``rtnmf info``).

        Provenance is shown as plain text whatever it holds (it is informative, never
        trusted): values of unexpected types are printed as they are, control characters
        escaped.
        """
        from ._dictionary_text import summary_text

        return summary_text(self)


def check_dictionary_output(path: str | Path) -> Path:
    """Raise unless ``path`` can be a new dictionary file: ends in ``.npz``, a new or regular file in an existing, writable folder.

    ``rtnmf train`` calls it before training, so a bad ``-o`` fails at once, not after the work.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ParameterError(f"dictionary file {show_path(path)} must end in .npz")
    return check_writable_folder(path)


def _file_name(path) -> str:
    try:
        return Path(path).name[:80] or "DICT.npz"
    except (TypeError, ValueError):  # pragma: no cover
        return "DICT.npz"


def _check_w_header(dtype: np.dtype, shape: tuple, member: str) -> None:
    """Refuse a W the header describes wrongly, before its data is read."""
    if dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
        raise DictionaryError(f"W has dtype {dtype.name}; expected float32 or float64")
    if len(shape) != 2:
        raise DictionaryError(f"W must be 2-D (n_bins, n_components), got shape {shape}")
    if shape[1] == 0:
        raise DictionaryError("W has no components")
    if shape[1] > MAX_COMPONENTS:
        raise DictionaryError(f"W has {shape[1]} components; a dictionary holds at most {MAX_COMPONENTS}")
    if shape[0] > _MAX_BINS:
        raise DictionaryError(f"W has {shape[0]} rows; at most {_MAX_BINS} (n_fft {MAX_N_FFT})")


def _check_metadata_header(dtype: np.dtype, shape: tuple, member: str) -> None:
    if dtype.kind != "U" or shape not in ((), (1,)):
        raise DictionaryError(f"its metadata is not a text (it is an array of {dtype.name} with shape {shape})")
    if dtype.itemsize // 4 > MAX_METADATA_CHARS:
        raise DictionaryError(f"its metadata is {dtype.itemsize // 4} characters long; at most {MAX_METADATA_CHARS}")


def _parse_metadata(text: str, what: str) -> dict:
    try:
        meta = json.loads(text)
    except RecursionError:
        raise DictionaryError(f"{what}: its metadata is nested more than {MAX_METADATA_DEPTH} levels deep") from None
    except ValueError as exc:
        raise DictionaryError(f"{what}: its metadata is not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(meta, dict):
        raise DictionaryError(f"{what}: its metadata is not a JSON object (it is a {type(meta).__name__})")
    if nesting_depth(meta, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH:
        raise DictionaryError(f"{what}: its metadata is nested more than {MAX_METADATA_DEPTH} levels deep")
    return meta
