"""Dictionary: the learned templates ``W`` with every setting needed to use them again.

A dictionary file is a NumPy ``.npz`` archive written without pickle. It holds two
arrays: ``W`` (float32, shape ``(n_bins, n_components)``) and ``metadata`` (a JSON text)
with the format name and version, the STFT settings (sample rate, ``n_fft``, hop length,
window, spectrogram power), ``beta``, the component labels, the training provenance and
the dictionary's fingerprint (:attr:`Dictionary.fingerprint`, checked when the file is
read). Files are written atomically: a crash or Ctrl-C never leaves a half-written
dictionary.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import defaults
from ._atomic import atomic_write
from .errors import DictionaryError, ParameterError
from .nmf import validate_beta
from .stft import streaming_latency, validate_stft_settings

__all__ = ["Dictionary", "FORMAT_NAME", "FORMAT_VERSION", "FINGERPRINT_DIGITS"]

FORMAT_NAME = "realtime_nmf.dictionary"
FORMAT_VERSION = 1
#: Hexadecimal digits of :attr:`Dictionary.fingerprint` (64 bits of a SHA-256).
FINGERPRINT_DIGITS = 16


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
        scipy window name.
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
        self.sample_rate = int(self.sample_rate)
        self.n_fft, self.hop_length, self.window = validate_stft_settings(self.n_fft, self.hop_length, self.window)
        self.beta = validate_beta(self.beta)
        self.power = float(self.power)
        if not self.labels:
            self.labels = [""] * self.n_components
        self.labels = [str(label) for label in self.labels]
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
        if not np.isfinite(self.W).all():
            raise DictionaryError("W holds NaN or infinite values; retrain the dictionary")
        if (self.W < 0).any():
            raise DictionaryError("W holds negative values; NMF templates must be non-negative; retrain the dictionary")
        if not (1 <= self.sample_rate <= 768000):
            raise DictionaryError(f"sample_rate={self.sample_rate} is not a plausible audio rate")
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
            elif item.lstrip("-").isdigit():
                chosen.add(self._check_index(int(item), what))
            elif "-" in item and all(part.strip().isdigit() for part in item.split("-", 1)):
                lo, hi = (int(part) for part in item.split("-", 1))
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

    def _check_index(self, index: int, what: str) -> int:
        if not 0 <= index < self.n_components:
            raise ParameterError(
                f"{what}: component index {index} is out of range; this dictionary has {self.n_components} components, "
                f"numbered 0 to {self.n_components - 1}"
            )
        return index

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
        return streaming_latency(self.n_fft, self.hop_length)

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
        path = Path(path)
        if path.suffix != ".npz":
            raise ParameterError(f"dictionary file {str(path)!r} must end in .npz")
        text = json.dumps(self.metadata(), indent=1, sort_keys=True, default=_json_default)
        with atomic_write(path) as handle:
            np.savez(handle, W=self.W, metadata=np.array(text))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Dictionary":
        """Read a dictionary written by :meth:`save`.

        Raises
        ------
        DictionaryError
            If the file is missing, truncated, corrupt, not a realtime_nmf dictionary, of
            an unknown format version, or holds invalid templates. Object arrays (pickle
            payloads) are refused without being executed.
        """
        path = Path(path)
        if not path.exists():
            raise DictionaryError(f"dictionary file {str(path)!r} does not exist; train one with 'rtnmf train CLIP -o {path.name}'")
        if path.is_dir():
            raise DictionaryError(f"{str(path)!r} is a folder, not a dictionary file (.npz)")
        what = f"{str(path)!r} is not a realtime_nmf dictionary"
        foreign = _foreign_file(path)
        if foreign:
            raise DictionaryError(f"{what}: {foreign}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                names = set(archive.files)
                if not {"W", "metadata"} <= names:
                    raise DictionaryError(f"{what}: it lacks the arrays 'W' and 'metadata' (it has {sorted(names)})")
                W = archive["W"]
                text = archive["metadata"]
        except DictionaryError:
            raise
        except ValueError as exc:
            if "pickle" in str(exc).lower() or "object" in str(exc).lower():
                raise DictionaryError(f"{what}: it holds pickled objects, which are refused for safety") from None
            raise DictionaryError(f"{what} or is corrupt ({exc})") from None
        except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise DictionaryError(f"{what}, or it is truncated or corrupt ({type(exc).__name__}: {exc})") from None
        try:
            meta = json.loads(str(text[()]))
        except (ValueError, TypeError, IndexError) as exc:
            raise DictionaryError(f"{what}: its metadata is not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise DictionaryError(f"{what}: its metadata does not name the format {FORMAT_NAME!r}")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise DictionaryError(
                f"{str(path)!r} has dictionary format version {version!r}, but this realtime_nmf reads version {FORMAT_VERSION}; "
                "retrain it with this version or upgrade realtime_nmf"
            )
        if W.dtype.kind != "f":
            raise DictionaryError(f"{what}: W has dtype {W.dtype}, expected floating point")
        try:
            dictionary = cls(
                W=W,
                sample_rate=meta["sample_rate"],
                n_fft=meta["n_fft"],
                hop_length=meta["hop_length"],
                window=meta.get("window", defaults.WINDOW),
                beta=meta.get("beta", defaults.BETA),
                power=meta.get("power", defaults.POWER),
                labels=list(meta.get("labels") or []),
                provenance=dict(meta.get("provenance") or {}),
            )
        except KeyError as exc:
            raise DictionaryError(f"{what}: its metadata lacks {exc}") from None
        except (DictionaryError, ParameterError) as exc:
            raise DictionaryError(f"dictionary {str(path)!r} is invalid: {exc}") from None
        stored = meta.get("fingerprint")
        if stored is not None and stored != dictionary.fingerprint:
            raise DictionaryError(
                f"dictionary {str(path)!r} does not match the fingerprint saved with it ({stored!r}, its content gives "
                f"{dictionary.fingerprint!r}): the file was altered after it was written; restore it or train it again"
            )
        return dictionary

    def summary(self) -> str:
        """A few human-readable lines describing the dictionary (for ``rtnmf info``)."""
        p = self.provenance
        lines = [
            f"components     {self.n_components}",
            f"sample rate    {self.sample_rate} Hz",
            f"STFT           n_fft {self.n_fft} ({1000 * self.n_fft / self.sample_rate:.1f} ms), hop {self.hop_length} "
            f"({1000 * self.hop_length / self.sample_rate:.1f} ms), window {self.window}, power {self.power:g}",
            f"beta           {self.beta:g} ({_beta_name(self.beta)})",
            f"latency        {self.latency_samples} samples = {1000 * self.latency_samples / self.sample_rate:.1f} ms (algorithmic)",
            f"fingerprint    {self.fingerprint}",
        ]
        if any(self.labels):
            lines.append("labels         " + ", ".join(f"{i}:{self.component_name(i)}" for i in range(self.n_components)))
        if p:
            sources = ", ".join(p.get("sources", [])) or "?"
            lines.append(f"trained on     {sources} ({p.get('duration_seconds', 0):.1f} s)")
            if "iterations" in p:
                lines.append(f"training       {p['iterations']} iterations, init {p.get('init', '?')}, seed {p.get('seed', '?')}, "
                             f"final divergence {p.get('divergence', float('nan')):.6g}")
            if "created" in p:
                lines.append(f"created        {p['created']} by realtime_nmf {p.get('version', '?')}")
        return "\n".join(lines)


#: File signatures of audio formats a user may give where a dictionary belongs.
_AUDIO_SIGNATURES = ((b"RIFF", "a WAV file"), (b"RF64", "a WAV file"), (b"fLaC", "a FLAC file"), (b"OggS", "an OGG file"),
                     (b"ID3", "an MP3 file"), (b"\xff\xfb", "an MP3 file"), (b"\xff\xf3", "an MP3 file"), (b"FORM", "an AIFF file"))


def _foreign_file(path: Path) -> str:
    """Why ``path`` cannot be a dictionary (an ``.npz`` is a zip archive), or ``""`` when it may be one."""
    if not path.is_file():
        return "it is not a regular file"
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    if head.startswith(b"PK"):
        return ""
    for signature, kind in _AUDIO_SIGNATURES:
        if head.startswith(signature):
            return (f"it is {kind} (audio); a dictionary is learned from audio: "
                    f"rtnmf train {path} -o {path.with_suffix('.npz').name}")
    text = head.lstrip()
    if text.startswith((b"#", b"version:", b"dictionary:", b"description:")):
        return "it is a text file (a preset?); give presets with --preset and dictionaries (.npz files) with --dictionary"
    return "it is not a NumPy .npz archive (dictionaries are written by rtnmf train)"


def _beta_name(beta: float) -> str:
    return {2.0: "Euclidean", 1.0: "Kullback-Leibler", 0.0: "Itakura-Saito"}.get(float(beta), "beta divergence")


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in dictionary metadata")
