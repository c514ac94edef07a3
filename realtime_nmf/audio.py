"""Reading and writing audio files.

Audio arrays are float32 with shape ``(n_samples, n_channels)``. Files are read with
soundfile (WAV, FLAC, OGG, MP3 and everything libsndfile reads); output files are
written to a temporary file beside the target and renamed into place when complete,
so a file at the target name is always a valid, finalised audio file.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from ._atomic import StagedFile
from .errors import AudioFileError, OutputError, ParameterError
from .resample import resample

__all__ = ["AudioInfo", "audio_info", "frames_between", "segment_frames", "load", "read_blocks", "AudioWriter", "write", "check_finite"]


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds: sample rate, channels, length, format and subtype."""

    path: str
    sample_rate: int
    n_channels: int
    n_samples: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.sample_rate if self.sample_rate else 0.0


def audio_info(path: str | Path) -> AudioInfo:
    """Describe an audio file, or raise :class:`AudioFileError` saying why it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"audio file {str(path)!r} does not exist")
    if path.is_dir():
        raise AudioFileError(f"{str(path)!r} is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"audio file {str(path)!r} is empty (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise AudioFileError(
            f"cannot read {str(path)!r} as audio ({reason}); use a WAV, FLAC, OGG or MP3 file"
        ) from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioFileError(f"audio file {str(path)!r} declares {info.samplerate} Hz and {info.channels} channels; it is corrupt")
    missing = _wav_missing_bytes(path)
    if missing > 0:
        raise AudioFileError(
            f"audio file {str(path)!r} is truncated: its header announces {missing} more bytes of audio than the file holds "
            "(an interrupted copy or recording?); copy it again, or re-save what is there with an audio editor or 'sox'"
        )
    return AudioInfo(str(path), int(info.samplerate), int(info.channels), int(info.frames), info.format, info.subtype)


def _wav_missing_bytes(path: Path) -> int:
    """For a RIFF/WAVE file, how many bytes of the data chunk its header announces but the file lacks (0 if complete)."""
    import struct

    try:
        with open(path, "rb") as handle:
            header = handle.read(12)
            if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
                return 0
            size = path.stat().st_size
            position = 12
            while position + 8 <= size:
                handle.seek(position)
                chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
                if chunk_id == b"data":
                    if chunk_size in (0, 0xFFFFFFFF):  # size left open by a streaming writer
                        return 0
                    return max(0, position + 8 + chunk_size - size)
                position += 8 + chunk_size + (chunk_size & 1)
    except OSError:
        return 0
    return 0


def check_finite(y: np.ndarray, what: str) -> None:
    """Raise :class:`ParameterError` if ``y`` holds NaN or Inf samples."""
    if not np.isfinite(y).all():
        bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
        raise ParameterError(f"{what} holds {bad} NaN or infinite samples; repair or trim the recording")


def frames_between(n_samples: int, sample_rate: int, start: float | None = None, end: float | None = None, *,
                   what: str = "the file") -> tuple[int, int]:
    """The samples ``[first, stop)`` of a signal between ``start`` and ``end`` seconds (``--start``/``--end``).

    Parameters
    ----------
    n_samples, sample_rate : int
        Length and rate of the signal.
    start, end : float, optional
        Seconds from its beginning; None for its start and its end. An ``end`` past the
        end stops at the end.
    what : str
        Names the signal in messages.

    Returns
    -------
    first, stop : int

    Raises
    ------
    ParameterError
        For a negative or non-finite time, an ``end`` not after ``start``, or a ``start``
        at or past the end (the message gives the length).
    """
    if start is None and end is None:
        return 0, int(n_samples)
    for name, value in (("start", start), ("end", end)):
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise ParameterError(f"--{name} {value!r} must be a number of seconds from the beginning, 0 or more")
    if start is not None and end is not None and end <= start:
        raise ParameterError(f"--end {end:g} must be after --start {start:g}")
    first = 0 if start is None else int(round(start * sample_rate))
    stop = n_samples if end is None else min(n_samples, int(round(end * sample_rate)))
    if first >= n_samples:
        raise ParameterError(f"--start {start:g} is at or past the end of {what}, which lasts {n_samples / sample_rate:.2f} s")
    return first, max(stop, first + 1)


def segment_frames(info: AudioInfo, start: float | None = None, end: float | None = None) -> tuple[int, int]:
    """The frames ``[first, stop)`` of a file between ``start`` and ``end`` seconds (see :func:`frames_between`)."""
    return frames_between(info.n_samples, info.sample_rate, start, end, what=repr(info.path))


def load(path: str | Path, *, sample_rate: int | None = None, mono: bool = False, start: float | None = None,
         end: float | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file, or the part of it between ``start`` and ``end`` seconds, as float32.

    Parameters
    ----------
    path : str or Path
    sample_rate : int, optional
        Resample to this rate (:func:`realtime_nmf.resample.resample`); by default keep the file's rate.
    mono : bool
        Average the channels.
    start, end : float, optional
        Seconds: read only this part (see :func:`segment_frames`); by default the whole file.

    Returns
    -------
    y : np.ndarray [shape=(n_samples, n_channels) or (n_samples,) if mono]
    sample_rate : int
    """
    info = audio_info(path)
    first, stop = segment_frames(info, start, end) if (start is not None or end is not None) else (0, None)
    try:
        y, sr = sf.read(str(path), dtype="float32", always_2d=True, start=first, stop=stop)
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        raise AudioFileError(f"cannot read {str(path)!r}: {exc}") from None
    if mono:
        y = y[:, 0] if y.shape[1] == 1 else y.mean(axis=1, dtype=np.float32)  # no copy for a mono file
    if sample_rate is not None and int(sample_rate) != sr:
        y = resample(y, sr, int(sample_rate))
        sr = int(sample_rate)
    del info
    return np.ascontiguousarray(y, dtype=np.float32), int(sr)


def read_blocks(path: str | Path, block_size: int, *, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
    """Yield float32 blocks ``(block_size, n_channels)`` of a file (the last may be shorter), streaming.

    ``start`` and ``stop`` (frames, as :func:`segment_frames` gives them) read only that part.
    """
    audio_info(path)
    try:
        with sf.SoundFile(str(path)) as handle:
            if start:
                handle.seek(start)
            remaining = None if stop is None else stop - start
            while True:
                size = block_size if remaining is None else min(block_size, remaining)
                if size <= 0:
                    return
                block = handle.read(size, dtype="float32", always_2d=True)
                if remaining is not None:
                    remaining -= block.shape[0]
                if block.shape[0] == 0:
                    return
                yield block
    except (sf.SoundFileError, RuntimeError) as exc:
        raise AudioFileError(f"cannot read {str(path)!r}: {exc}") from None


def _output_format(path: Path) -> str:
    extension = path.suffix.lower().lstrip(".")
    formats = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3", "aiff": "AIFF", "aif": "AIFF", "w64": "W64", "rf64": "RF64", "caf": "CAF"}
    if extension not in formats:
        raise ParameterError(f"cannot tell the audio format from {str(path)!r}; end the name in .wav, .flac, .ogg or .mp3 "
                             "(or .aiff, .w64, .rf64, .caf)")
    return formats[extension]


class AudioWriter:
    """Write an audio file block by block; it appears at its name only when finalised.

    Blocks go to a hidden temporary file in the same folder. :meth:`finish` closes it
    (writing the final header) and renames it to ``path``; :meth:`abort` deletes it.
    Used as a context manager, the file is finished on normal exit and on
    KeyboardInterrupt (so Ctrl-C keeps everything processed so far) and aborted on any
    other exception.

    Parameters
    ----------
    path : str or Path
        Target; the format follows the extension (.wav, .flac, .ogg, ...).
    sample_rate : int
    n_channels : int
    subtype : str, optional
        soundfile subtype (``"PCM_16"``, ``"FLOAT"``, ...); by default the format's default.
    """

    def __init__(self, path: str | Path, sample_rate: int, n_channels: int, *, subtype: str | None = None):
        fmt = _output_format(Path(path))
        if subtype is not None and not sf.check_format(fmt, subtype):
            subtype = None
        self.subtype = subtype or sf.default_subtype(fmt)
        self.sample_rate, self.n_channels = int(sample_rate), int(n_channels)
        self.samples_written = 0
        self.clipped_samples = 0
        self._integer = self.subtype.startswith("PCM") or self.subtype in ("ULAW", "ALAW")
        self._staged = StagedFile(path, suffix=".part")
        self.path = self._staged.path
        try:
            self._file = sf.SoundFile(self._staged.temporary, "w", self.sample_rate, self.n_channels, self.subtype, format=fmt)
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            self._staged.discard()
            raise OutputError(f"cannot write {str(self.path)!r}: {exc}") from None

    def write(self, block: np.ndarray) -> None:
        """Append a block ``(n_samples, n_channels)``."""
        if self._integer:
            self.clipped_samples += int(np.count_nonzero(np.abs(block) > 1.0))
        try:
            self._file.write(block)
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            raise OutputError(f"cannot write {str(self.path)!r} (disk full?): {exc}") from None
        self.samples_written += block.shape[0]

    def finish(self) -> Path:
        """Finalise the file and move it to its name. Returns the path."""
        try:
            self._file.close()
            self._staged.commit()
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            self.abort()
            raise OutputError(f"cannot finish {str(self.path)!r} (disk full?): {exc}") from None
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file; ``path`` is left as it was."""
        with contextlib.suppress(Exception):
            self._file.close()
        self._staged.discard()

    def __enter__(self) -> "AudioWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
            self.finish()
        else:
            self.abort()


def write(path: str | Path, y: np.ndarray, sample_rate: int, *, subtype: str | None = None) -> Path:
    """Write a whole signal ``(n_samples,)`` or ``(n_samples, n_channels)`` atomically."""
    y = np.asarray(y, dtype=np.float32)
    y2 = y[:, None] if y.ndim == 1 else y
    with AudioWriter(path, sample_rate, y2.shape[1], subtype=subtype) as writer:
        writer.write(y2)
    return writer.path
