"""Reading and writing audio files.

Audio arrays are float32 with shape ``(n_samples, n_channels)``. Files are read with
soundfile (WAV, FLAC, OGG, MP3 and everything libsndfile reads); output files are
written to a temporary file beside the target and renamed into place when complete,
so a file at the target name is always a valid, finalised audio file.

What a file's header claims is checked before anything is allocated, and never trusted
for what is read:

- only regular files are opened (a named pipe or a device is refused as what it is);
- a sample rate outside 1000 to 768000 Hz (:data:`realtime_nmf.defaults.MIN_SAMPLE_RATE`,
  ``MAX_SAMPLE_RATE``) or more than :data:`MAX_CHANNELS` channels is refused;
- :func:`load` holds at most :data:`MAX_LOAD_SAMPLES` samples (frames times channels,
  after mixing and resampling; 4 GiB of float32): a longer claim is refused at once,
  and decoding stops with an error if the data turns out longer than claimed;
- reads go block by block over what the decoder really delivers (:class:`BlockReader`):
  a file that decodes to fewer samples than its header announces (a truncated MP3 or
  FLAC, a lying Xing or STREAMINFO header) is an error for :func:`load` and is reported
  by :attr:`BlockReader.shortfall` to streaming readers, never padded with silence;
- outputs: a WAV past 4 GiB is written as RF64 (libsndfile's auto-downgrade keeps a
  smaller file plain WAV when its length is not known in advance); formats that cannot
  hold more than 4 GiB (AIFF) are refused before writing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from . import defaults
from ._atomic import StagedFile, check_writable_folder, partial_path
from ._files import check_input_file, clear_peak_time, quiet_stderr, show_path
from ._values import duration_text, format_size
from .errors import AudioFileError, IncompleteOutputError, OutputError, ParameterError
from .resample import resample

__all__ = ["AudioInfo", "audio_info", "frames_between", "segment_frames", "load", "read_blocks", "BlockReader", "AudioWriter", "write",
           "check_finite", "MAX_LOAD_SAMPLES",
           "MAX_CHANNELS"]

#: Most samples (frames times channels) :func:`load` holds in memory: 2**30, 4 GiB of float32.
MAX_LOAD_SAMPLES = 1 << 30
#: Most channels a file may have (libsndfile's own limit).
MAX_CHANNELS = 1024
#: libsndfile's length of a file whose length it does not know (a FLAC whose encoder left it out).
_UNKNOWN_LENGTH = 1 << 62
#: How many sample frames a lossy decoder may deliver short of the header (encoder delay and padding).
_LOSSY_SLACK = 4 * 1152
_LOSSY = ("MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III", "VORBIS", "OPUS")


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says it holds: sample rate, channels, length, format and subtype.

    ``n_samples`` is the length the header announces (0 when ``length_known`` is False);
    what a damaged file really decodes to can be less (see :class:`BlockReader`).
    """

    path: str
    sample_rate: int
    n_channels: int
    n_samples: int
    format: str
    subtype: str
    length_known: bool = True

    @property
    def duration(self) -> float:
        """Announced length in seconds."""
        return self.n_samples / self.sample_rate if self.sample_rate else 0.0

    @property
    def slack(self) -> int:
        """How many frames short of ``n_samples`` a healthy file of this kind may decode to."""
        return _LOSSY_SLACK if self.subtype in _LOSSY else 0


def audio_info(path: str | Path) -> AudioInfo:
    """Describe an audio file, or raise :class:`AudioFileError` saying why it cannot be read."""
    status = check_input_file(path, AudioFileError, what="an audio file", missing=f"audio file {show_path(path)} does not exist")
    name = show_path(path)
    if status.st_size == 0:
        raise AudioFileError(f"audio file {name} is empty (0 bytes)")
    try:
        with quiet_stderr():
            info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise AudioFileError(f"cannot read {name} as audio ({reason}); use a WAV, FLAC, OGG or MP3 file") from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioFileError(f"audio file {name} declares {info.samplerate} Hz and {info.channels} channels; it is corrupt")
    if not defaults.MIN_SAMPLE_RATE <= info.samplerate <= defaults.MAX_SAMPLE_RATE:
        raise AudioFileError(f"audio file {name} declares a sample rate of {info.samplerate} Hz; realtime_nmf reads "
                             f"{defaults.MIN_SAMPLE_RATE} to {defaults.MAX_SAMPLE_RATE} Hz (a corrupt header?)")
    if info.channels > MAX_CHANNELS:
        raise AudioFileError(f"audio file {name} declares {info.channels} channels; realtime_nmf reads at most {MAX_CHANNELS}")
    missing = _wav_missing_bytes(Path(path))
    if missing > 0:
        raise AudioFileError(
            f"audio file {name} is truncated: its header announces {missing} more bytes of audio than the file holds "
            "(an interrupted copy or recording?); copy it again, or re-save what is there with an audio editor or 'sox'"
        )
    known = 0 <= info.frames < _UNKNOWN_LENGTH
    return AudioInfo(str(path), int(info.samplerate), int(info.channels), int(info.frames) if known else 0, info.format, info.subtype,
                     length_known=known)


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


class BlockReader:
    """Iterate over a file's float32 blocks ``(n, n_channels)``, streaming; trust what is decoded, not the header.

    After the iteration, :attr:`samples_read` is how many frames the file really held,
    and :attr:`shortfall` says (one line) when that is fewer than its header announced:
    a truncated or damaged file, or a header that lies. Nothing is padded.

    Parameters
    ----------
    path : str or Path
    block_size : int
        Frames per block (the last may be shorter).
    info : AudioInfo, optional
        The file's :func:`audio_info`, if already known.
    max_samples : int, optional
        Raise :class:`AudioFileError` as soon as more frames than this are decoded.
    start, stop : int, optional
        Frames: yield only ``[start, stop)`` (:func:`segment_frames` gives them). The frames
        before ``start`` are decoded and dropped (no seek: a header that lies about the
        length breaks seeking); reading ends at ``stop``.
    """

    def __init__(self, path: str | Path, block_size: int, *, info: AudioInfo | None = None, max_samples: int | None = None,
                 start: int = 0, stop: int | None = None):
        self.info = info if info is not None else audio_info(path)
        self.path, self.block_size, self.max_samples = Path(path), int(block_size), max_samples
        self.start, self.stop = int(start), None if stop is None else int(stop)
        self.samples_read = 0
        self.samples_yielded = 0  # frames given out: samples_read less those before ``start`` and after ``stop``
        self.error: str | None = None  # what the decoder said when it stopped early
        self.done = False
        self.stopped = False  # reading ended at ``stop``, before the end of the file

    def __iter__(self) -> Iterator[np.ndarray]:
        channels = self.info.n_channels
        try:
            with quiet_stderr():
                handle = sf.SoundFile(str(self.path))
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            raise AudioFileError(f"cannot read {show_path(self.path)}: {exc}") from None
        with handle:
            while True:
                block = np.empty((self.block_size, channels), np.float32)
                count = _read_into(handle, block)
                if count <= 0:
                    self.error = _decoder_error(handle) or self.error
                    break
                first = self.samples_read
                self.samples_read += count
                if self.max_samples is not None and self.samples_read - self.start > self.max_samples:
                    raise AudioFileError(f"{show_path(self.path)} holds more than {self.max_samples} samples; "
                                         f"at most {self.max_samples} samples are loaded at once; use a shorter excerpt")
                lo = max(self.start - first, 0)
                hi = count if self.stop is None else min(count, self.stop - first)
                if hi > lo:
                    self.samples_yielded += hi - lo
                    yield block[lo:hi]
                if self.stop is not None and self.samples_read >= self.stop:
                    self.stopped = True
                    break
                if count < self.block_size and _decoder_error(handle):
                    self.error = _decoder_error(handle)
                    break
        self.done = True

    @property
    def shortfall(self) -> str | None:
        """One line when the file decoded to fewer frames than its header announces (after the iteration), else None."""
        info = self.info
        if not self.done or self.stopped or not info.length_known or self.samples_read >= info.n_samples - info.slack:
            return None
        return (f"{show_path(self.path)} announces {info.n_samples} samples ({duration_text(info.n_samples, info.sample_rate)}) "
                f"but holds only {self.samples_read} ({duration_text(self.samples_read, info.sample_rate)}): it is truncated or damaged")


def _read_into(handle: sf.SoundFile, out: np.ndarray) -> int:
    """Decode up to ``len(out)`` frames into ``out``; return how many.

    Calls libsndfile directly: :meth:`soundfile.SoundFile.read` seeks after every read,
    which fails (and loses the block) on a file whose header lies about its length.
    """
    snd, ffi = getattr(sf, "_snd", None), getattr(sf, "_ffi", None)
    if snd is None or ffi is None:  # pragma: no cover - another soundfile
        try:
            return handle.read(out.shape[0], dtype="float32", always_2d=True, out=out).shape[0]
        except (sf.SoundFileError, RuntimeError):
            return 0
    return int(snd.sf_readf_float(handle._file, ffi.cast("float *", ffi.from_buffer(out)), out.shape[0]))


def _decoder_error(handle: sf.SoundFile) -> str | None:
    snd, ffi = getattr(sf, "_snd", None), getattr(sf, "_ffi", None)
    if snd is None or ffi is None or not snd.sf_error(handle._file):  # pragma: no branch
        return None
    return ffi.string(snd.sf_strerror(handle._file)).decode("utf-8", "replace")


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

    At most :data:`MAX_LOAD_SAMPLES` samples are held (frames times channels, after
    mixing to mono and resampling): a file whose header announces more is refused
    before anything is allocated, and one that turns out to hold more while it is
    decoded is refused then. A file that decodes to fewer samples than its header
    announces is refused as truncated or damaged.

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
    limit = MAX_LOAD_SAMPLES
    ratio = 1.0 if sample_rate is None else int(sample_rate) / info.sample_rate
    per_frame = (1 if mono else info.n_channels) * max(1.0, ratio)
    announced = info.n_samples if stop is None else stop - first
    if info.length_known and announced * per_frame > limit:
        raise AudioFileError(
            f"{show_path(path)} announces {info.n_samples} samples ({duration_text(info.n_samples, info.sample_rate)}); at most "
            f"{limit} samples are loaded at once (if the file is shorter, its header is damaged: re-save it with an audio editor "
            "or 'sox'; if not, use a shorter excerpt)")
    reader = BlockReader(path, 1 << 16, info=info, max_samples=int(limit // per_frame), start=first, stop=stop)
    blocks = []
    for block in reader:
        if mono:
            block = block[:, 0].copy() if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)
        blocks.append(block)
    if reader.shortfall:
        raise AudioFileError(f"{reader.shortfall}; repair it, or re-save what is there with an audio editor or 'sox'")
    empty = np.zeros((0,) if mono else (0, info.n_channels), np.float32)
    y = np.concatenate(blocks) if blocks else empty
    del blocks
    sr = info.sample_rate
    if sample_rate is not None and int(sample_rate) != sr:
        y = resample(y, sr, int(sample_rate))
        sr = int(sample_rate)
    return np.ascontiguousarray(y, dtype=np.float32), int(sr)


def read_blocks(path: str | Path, block_size: int, *, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
    """Yield float32 blocks ``(block_size, n_channels)`` of a file (the last may be shorter), streaming.

    What the decoder delivers, never padded to the header's length; use
    :class:`BlockReader` to learn afterwards whether the file was shorter than announced.
    ``start`` and ``stop`` (frames, as :func:`segment_frames` gives them) read only that part.
    """
    yield from BlockReader(path, block_size, start=start, stop=stop)


def _output_format(path: Path) -> str:
    extension = path.suffix.lower().lstrip(".")
    formats = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3", "aiff": "AIFF", "aif": "AIFF", "w64": "W64", "rf64": "RF64", "caf": "CAF"}
    if extension not in formats:
        raise ParameterError(f"cannot tell the audio format from {str(path)!r}; end the name in .wav, .flac, .ogg or .mp3 "
                             "(or .aiff, .w64, .rf64, .caf)")
    return formats[extension]


#: Bytes per sample of the subtypes realtime_nmf writes (others are counted as 8, to be safe).
_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8, "ULAW": 1, "ALAW": 1}
#: Formats whose chunk sizes are 32-bit: at most 4 GiB of audio (less room for the header).
_FOUR_GIB = (1 << 32) - (1 << 16)
_SFC_RF64_AUTO_DOWNGRADE = 0x1210


class AudioWriter:
    """Write an audio file block by block; it appears at its name only when finalised.

    Blocks go to a hidden temporary file in the same folder. :meth:`finish` closes it
    (writing the final header) and renames it to ``path``; :meth:`abort` deletes it;
    :meth:`finish_partial` keeps it, finalised, as :func:`~realtime_nmf._atomic.partial_path`
    (``out.partial.wav``), so an earlier complete file at ``path`` is never replaced by
    an incomplete one. Used as a context manager, the file is finished on normal exit,
    kept as a partial file on KeyboardInterrupt (Ctrl-C keeps everything processed so
    far) and aborted on any other exception; :attr:`final_path` says where it went.

    Past 4 GiB a WAV file becomes RF64: when ``expected_samples`` says it will be that
    large, or is not given (libsndfile then writes RF64 and turns a file that stays
    smaller back into a WAV, of the WAVE_FORMAT_EXTENSIBLE kind). A plain WAV whose
    stream turns out larger than announced, and an AIFF past 4 GiB, are refused before
    the block that would pass the limit is written.

    Parameters
    ----------
    path : str or Path
        Target; the format follows the extension (.wav, .flac, .ogg, ...). Must be a new
        or a regular file in an existing folder (a named pipe or a device is refused).
    sample_rate : int
    n_channels : int
    subtype : str, optional
        soundfile subtype (``"PCM_16"``, ``"FLOAT"``, ...); by default the format's default.
    expected_samples : int, optional
        How many frames will be written, if known (chooses WAV or RF64).
    """

    def __init__(self, path: str | Path, sample_rate: int, n_channels: int, *, subtype: str | None = None,
                 expected_samples: int | None = None):
        self.path = check_writable_folder(path)
        fmt = _output_format(self.path)
        if subtype is not None and not sf.check_format(fmt, subtype):
            subtype = None
        self.subtype = subtype or sf.default_subtype(fmt)
        self.sample_rate, self.n_channels = int(sample_rate), int(n_channels)
        self.samples_written = 0
        self.clipped_samples = 0
        self.final_path: Path | None = None
        self._integer = self.subtype.startswith("PCM") or self.subtype in ("ULAW", "ALAW")
        self._frame_bytes = _SAMPLE_BYTES.get(self.subtype, 8) * self.n_channels
        expected = None if expected_samples is None else int(expected_samples) * self._frame_bytes
        self._limit, self._format, rf64 = None, fmt, False
        if fmt == "WAV" and (expected is None or expected > _FOUR_GIB):
            self._format, rf64 = "RF64", True
        elif fmt in ("WAV", "AIFF"):
            if expected is not None and expected > _FOUR_GIB:
                raise OutputError(f"{show_path(self.path)} would hold {format_size(expected)} of audio; {fmt} holds at most 4 GiB: "
                                  "write .wav (RF64), .w64, .caf or .flac")
            self._limit = _FOUR_GIB
        self._staged = StagedFile(self.path, suffix=".part")
        try:
            self._file = sf.SoundFile(self._staged.temporary, "w", self.sample_rate, self.n_channels, self.subtype, format=self._format)
            if rf64 and getattr(sf, "_snd", None) is not None:
                sf._snd.sf_command(self._file._file, _SFC_RF64_AUTO_DOWNGRADE, sf._ffi.NULL, 1)
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            self._staged.discard()
            raise OutputError(f"cannot write {show_path(self.path)}: {exc}") from None

    def write(self, block: np.ndarray) -> None:
        """Append a block ``(n_samples, n_channels)``."""
        if self._limit is not None and (self.samples_written + block.shape[0]) * self._frame_bytes > self._limit:
            what = "the audio grew to more than announced and would pass 4 GiB" if self._format == "WAV" else "it would pass 4 GiB"
            raise OutputError(f"{show_path(self.path)}: {what}; {self._format} holds at most 4 GiB: write .wav (RF64), .w64, .caf or .flac")
        if self._integer:
            self.clipped_samples += int(np.count_nonzero(np.abs(block) > 1.0))
        try:
            self._file.write(block)
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            raise IncompleteOutputError(f"cannot write {show_path(self.path)} (disk full?): {exc}") from None
        self.samples_written += block.shape[0]

    def finish(self) -> Path:
        """Finalise the file and move it to its name. Returns the path."""
        return self._finalise(self.path)

    def finish_partial(self) -> Path | None:
        """Finalise what was written as ``NAME.partial.EXT`` (``path`` is left as it was); None if nothing was written."""
        if self.samples_written == 0:
            self.abort()
            return None
        return self._finalise(partial_path(self.path))

    def _finalise(self, target: Path) -> Path:
        if self.samples_written == 0 and self._format == "FLAC":  # libsndfile leaves an empty FLAC as 0 bytes, no valid file
            self.abort()
            raise OutputError(f"{show_path(target)}: there is no audio to write, and a FLAC file cannot be empty; write a .wav")
        try:
            self._file.close()
            if self.subtype in ("FLOAT", "DOUBLE"):
                clear_peak_time(self._staged.temporary)
            self._staged.commit(target)
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            self.abort()
            raise IncompleteOutputError(f"cannot finish {show_path(target)} (disk full?): {exc}") from None
        self.final_path = target
        return target

    def abort(self) -> None:
        """Close and delete the temporary file; ``path`` is left as it was."""
        with contextlib.suppress(Exception):
            self._file.close()
        self._staged.discard()

    def __enter__(self) -> "AudioWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish_partial()
        else:
            self.abort()


def write(path: str | Path, y: np.ndarray, sample_rate: int, *, subtype: str | None = None) -> Path:
    """Write a whole signal ``(n_samples,)`` or ``(n_samples, n_channels)`` atomically (all or nothing, even on Ctrl-C)."""
    y = np.asarray(y, dtype=np.float32)
    y2 = y[:, None] if y.ndim == 1 else y
    writer = AudioWriter(path, sample_rate, y2.shape[1], subtype=subtype, expected_samples=y2.shape[0])
    try:
        writer.write(y2)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()
