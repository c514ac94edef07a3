"""Magnitude spectrogram frames of audio files, read a run of frames at a time: never the whole file.

:class:`FrameReader` gives the frames of one clip (an audio file, or a mono signal in
memory) with the framing of :mod:`realtime_nmf.stft`: frame ``m`` holds the ``n_fft``
samples that end at sample ``(m + 1) * hop_length - 1``, zeros before the start and
after the end, so ``n_frames = n_frames_for(n_samples, n_fft, hop_length)`` and the
frames equal those of :func:`realtime_nmf.stft.magnitude_spectrogram` of the whole clip
(as :func:`realtime_nmf.audio.load` reads it: mixed to mono, resampled to the training
rate). Two ways to read them:

- :meth:`FrameReader.read` (random access, what shuffled mini-batches need): the file is
  opened, sought and only the samples of the requested frames are read. A file at
  another rate is resampled piece by piece (soxr, as :func:`realtime_nmf.audio.resample`)
  with 0.1 s of context on both sides, starting on a sample where the two rates' sample
  grids meet, so a piece equals the same stretch of the whole resampled file up to
  float32 rounding (about 1e-6 of full scale; exactly at the file's start and end).
- :meth:`FrameReader.chunks` (sequential, one pass): the file streamed block by block
  (:func:`realtime_nmf.audio.read_blocks`, :class:`realtime_nmf.audio.StreamResampler`),
  frames handed out in runs of ``chunk_frames``; resampled files give exactly the frames
  of the whole resampled file.

Memory holds one run of frames and its samples, whatever the length of the file.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import soundfile as sf

from .audio import BlockReader, audio_info, frames_between, segment_frames
from .resample import StreamResampler, resample
from .errors import AudioFileError, ParameterError
from .stft import analysis_window, n_frames_for, validate_stft_settings

__all__ = ["FrameReader", "ArrayFrames", "OpenFiles", "read_runs", "resampled_length"]

#: Seconds of context read on each side of a piece that is resampled on its own.
RESAMPLE_CONTEXT = 0.1
#: Source samples per block when a file is streamed.
STREAM_BLOCK = 1 << 16
#: Samples transformed by one FFT call (about 1 MB of frames).
FFT_SAMPLES = 1 << 18


def resampled_length(n_samples: int, sr_in: int, sr_out: int) -> int:
    """Length of ``n_samples`` resampled from ``sr_in`` to ``sr_out`` by soxr (``n * sr_out / sr_in``, halves rounded up)."""
    return (2 * int(n_samples) * int(sr_out) + int(sr_in)) // (2 * int(sr_in))


@functools.lru_cache(maxsize=8)
def _window(window: str, n_fft: int, hop_length: int) -> np.ndarray:
    w = analysis_window(window, n_fft, hop_length).astype(np.float32)
    w.flags.writeable = False
    return w


def _mono(block: np.ndarray) -> np.ndarray:
    # as audio.load(mono=True): the first column of a mono file, the mean of several
    return block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)


class FrameReader:
    """The magnitude (or power) spectrogram frames of one clip, read a run at a time.

    Parameters
    ----------
    source : str, Path or np.ndarray [shape=(n_samples,)]
        An audio file (mixed to mono, resampled to ``sample_rate`` when its rate
        differs) or a mono float signal already at ``sample_rate``.
    sample_rate : int
        The rate the frames are computed at. For a signal, its rate.
    n_fft, hop_length : int
    window : str
    power : float
        1 for magnitudes, 2 for power.
    name : str, optional
        For messages; by default the file name.
    start, end : float, optional
        Seconds: use only this part of the clip (``--start``/``--end``, the rule of
        :func:`realtime_nmf.audio.frames_between`); by default all of it.

    Attributes
    ----------
    n_samples : int
        Length at ``sample_rate``.
    n_frames : int
    n_bins : int
    source_rate : int
        The file's own rate (``sample_rate`` for a signal).
    """

    def __init__(self, source, *, sample_rate: int, n_fft: int, hop_length: int, window: str = "hann", power: float = 1.0,
                 name: str | None = None, start: float | None = None, end: float | None = None):
        self.n_fft, self.hop_length, self.window = validate_stft_settings(n_fft, hop_length, window)
        self.sample_rate, self.power = int(sample_rate), float(power)
        self.n_bins = self.n_fft // 2 + 1
        self._offset = 0  # source samples before the part used
        if isinstance(source, (str, Path)):
            info = audio_info(source)
            self.path, self.signal = str(source), None
            first, stop = segment_frames(info, start, end)
            self._offset = first
            self.source_rate, self.source_samples = info.sample_rate, stop - first
            self.name = name or Path(source).name
            self.n_samples = resampled_length(self.source_samples, info.sample_rate, self.sample_rate)
        else:
            y = np.asarray(source, dtype=np.float32)
            self.name = name or "signal"
            if y.ndim != 1:
                raise ParameterError(f"{self.name}: training needs mono signals of shape (n_samples,), got {y.shape}")
            first, stop = frames_between(y.shape[0], self.sample_rate, start, end, what=self.name)
            self.path, self.signal = None, y[first:stop]
            self.source_rate, self.source_samples = self.sample_rate, stop - first
            self.n_samples = stop - first
        self.n_frames = n_frames_for(self.n_samples, self.n_fft, self.hop_length)
        # frames before the first requested one whose samples are read along (see _frames)
        self._context = -(-self.n_fft // self.hop_length) - 1
        g = math.gcd(self.source_rate, self.sample_rate)
        self._q, self._p = self.source_rate // g, self.sample_rate // g  # q source samples = p target samples

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.n_samples / self.sample_rate

    def __repr__(self) -> str:
        return f"FrameReader({self.name!r}, {self.n_frames} frames at {self.sample_rate} Hz)"

    # ----------------------------------------------------------------------------------
    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start`` to ``stop - 1``.

        Parameters
        ----------
        start, stop : int
            ``0 <= start < stop <= n_frames``.

        Returns
        -------
        V : np.ndarray [shape=(n_bins, stop - start), dtype=float32]
        """
        return read_runs([self], [(0, start, stop)])

    def chunks(self, chunk_frames: int) -> Iterator[tuple[int, np.ndarray]]:
        """Every frame in order, ``chunk_frames`` at a time (the last run may be shorter).

        A file is streamed from start to end once; nothing else is read.

        Yields
        ------
        start : int
            Index of the run's first frame.
        V : np.ndarray [shape=(n_bins, n), dtype=float32]
        """
        chunk_frames = int(chunk_frames)
        if chunk_frames < 1:
            raise ParameterError(f"chunk_frames={chunk_frames} must be at least 1")
        if self.signal is not None:
            for start in range(0, self.n_frames, chunk_frames):
                yield start, self.read(start, min(self.n_frames, start + chunk_frames))
            return
        hop, context = self.hop_length, self._context
        # buffer: the samples from index `origin` (at sample_rate) on; frames before `start` are done
        buffer, origin, start = np.zeros(context * hop, np.float32), -context * hop, 0
        for samples in self._stream():
            ended = samples is None
            if not ended:
                buffer = np.concatenate([buffer, samples])
            while start < self.n_frames:
                stop = min(self.n_frames, start + chunk_frames)
                first, end = (start - context) * hop, stop * hop
                if origin + buffer.shape[0] < end and not ended:
                    break  # wait for more samples; after the end of the file, the rest is zeros
                piece = buffer[first - origin : end - origin]
                if piece.shape[0] < end - first:
                    piece = np.concatenate([piece, np.zeros(end - first - piece.shape[0], np.float32)])
                self._check_finite(piece, start, stop)
                frames = np.empty((stop - start, self.n_fft), np.float32)
                self._window_frames(piece, stop - start, frames)
                yield start, self._spectrum(frames)
                keep = (stop - context) * hop - origin
                buffer, origin, start = buffer[keep:], origin + keep, stop

    # ----------------------------------------------------------------------------------
    def _check_finite(self, piece: np.ndarray, start: int, stop: int) -> None:
        if not np.isfinite(piece).all():
            seconds = self.hop_length / self.sample_rate
            raise ParameterError(f"{self.name} holds NaN or infinite samples between {max(0.0, (start + 1) * seconds - self.n_fft / self.sample_rate):.2f} "
                                 f"and {stop * seconds:.2f} s; repair or trim the recording")

    def _window_frames(self, piece: np.ndarray, n: int, out: np.ndarray) -> None:
        """``out (n, n_fft)`` <- the windowed frames of ``piece``, which holds the samples from ``context`` frames before the first."""
        hop = self.hop_length
        # frame j of piece ends at sample (j + 1) * hop - 1 of it; frames j >= context are whole
        first = (self._context + 1) * hop - self.n_fft
        piece = piece[first : first + (n - 1) * hop + self.n_fft]
        frames = np.lib.stride_tricks.as_strided(piece, shape=(n, self.n_fft), strides=(hop * piece.itemsize, piece.itemsize), writeable=False)
        np.multiply(frames, _window(self.window, self.n_fft, self.hop_length), out=out)

    def _spectrum(self, frames: np.ndarray) -> np.ndarray:
        """``|rfft(frames)|**power`` as ``(n_bins, n_frames)`` float32, the way :func:`realtime_nmf.stft.magnitude_spectrogram` computes it.

        The FFT runs on at most :data:`FFT_SAMPLES` samples at a time: its temporaries
        take about five times its input.
        """
        V = np.empty((self.n_bins, frames.shape[0]), np.float32)
        step = max(1, FFT_SAMPLES // self.n_fft)
        for start in range(0, frames.shape[0], step):
            magnitude = np.abs(np.fft.rfft(frames[start : start + step], axis=-1)).T
            V[:, start : start + step] = magnitude if self.power == 1.0 else magnitude**self.power
        return V

    def _samples(self, first: int, last: int, handle=None) -> np.ndarray:
        """Mono samples ``first`` to ``last - 1`` at ``sample_rate``, zeros outside the clip (``handle``: the open file)."""
        out = np.zeros(last - first, np.float32)
        lo, hi = max(first, 0), min(last, self.n_samples)
        if hi <= lo:
            return out
        if self.signal is not None:
            out[lo - first : hi - first] = self.signal[lo:hi]
        elif self.source_rate == self.sample_rate:
            out[lo - first : hi - first] = self._read_source(lo, hi, handle)
        else:
            p, q = self._p, self._q
            # resample from a target sample on both grids (a multiple of p), with context
            t0, t1 = lo // p * p, -(-hi // p) * p
            margin = math.ceil(RESAMPLE_CONTEXT * self.source_rate / q) * q
            s0, s1 = max(0, t0 // p * q - margin), min(self.source_samples, t1 // p * q + margin)
            resampled = resample(self._read_source(s0, s1, handle), self.source_rate, self.sample_rate)
            offset = s0 // q * p  # target index of resampled[0]
            out[lo - first : hi - first] = resampled[lo - offset : hi - offset]
        return out

    def open(self):
        """The file, opened for reading (a context manager), or None for a signal."""
        if self.path is None:
            return None
        try:
            return sf.SoundFile(self.path)
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            raise AudioFileError(f"cannot read {self.path!r}: {exc}") from None

    def _read_source(self, lo: int, hi: int, handle) -> np.ndarray:
        try:
            handle.seek(self._offset + lo)
            block = handle.read(hi - lo, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            raise AudioFileError(f"cannot read samples {lo} to {hi} of {self.path!r} ({exc}); "
                                 "was the file truncated or changed while training?") from None
        if block.shape[0] != hi - lo:
            raise AudioFileError(f"{self.path!r} ended after {lo + block.shape[0]} of the {self.source_samples} samples its header announces; "
                                 "the file is truncated or changed while training")
        return _mono(block)

    def _stream(self) -> Iterator[np.ndarray]:
        """The clip's mono samples at ``sample_rate``, block by block (some may be empty), then None."""
        resampler = StreamResampler(self.source_rate, self.sample_rate, 1) if self.source_rate != self.sample_rate else None
        reader = BlockReader(self.path, STREAM_BLOCK, start=self._offset, stop=self._offset + self.source_samples)
        for block in reader:
            mono = _mono(block)
            yield mono if resampler is None else resampler.process(mono[:, None])[:, 0]
        if reader.shortfall:  # a header that lies about the length: an error, as for full batch, never hours of silence
            raise AudioFileError(f"{reader.shortfall}; repair it, or re-save what is there with an audio editor or 'sox'")
        if resampler is not None:
            yield resampler.process(np.zeros((0, 1), np.float32), last=True)[:, 0]
        yield None


class ArrayFrames:
    """Frames that are already a matrix (a spectrogram in memory), read like a :class:`FrameReader`.

    Lets online training run on a given non-negative matrix, e.g. to compare it with
    batch NMF on the same data.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], non-negative
    name : str
    """

    path = None

    def __init__(self, V: np.ndarray, name: str = "matrix"):
        self.V = np.ascontiguousarray(V, dtype=np.float32)
        if self.V.ndim != 2 or not np.isfinite(self.V).all() or (self.V < 0).any():
            raise ParameterError(f"{name} must be a finite, non-negative (n_bins, n_frames) matrix")
        self.n_bins, self.n_frames = self.V.shape
        self.name = name

    def read(self, start: int, stop: int) -> np.ndarray:
        """Columns ``start`` to ``stop - 1``, ``(n_bins, stop - start)``."""
        return read_runs([self], [(0, start, stop)])

    def chunks(self, chunk_frames: int) -> Iterator[tuple[int, np.ndarray]]:
        """Every column in order, ``chunk_frames`` at a time: ``(start, V)``."""
        for start in range(0, self.n_frames, int(chunk_frames)):
            yield start, self.V[:, start : start + int(chunk_frames)]


class OpenFiles:
    """The last few files read, kept open: reading many short runs of a long file opens it once.

    A context manager; :func:`read_runs` takes one to reuse its handles.

    Parameters
    ----------
    size : int
        Files kept open at most (the least recently read one is closed first).
    """

    def __init__(self, size: int = 64):
        self.size = int(size)
        self._handles: dict = {}

    def get(self, reader: FrameReader):
        """The open file of ``reader`` (None for a signal)."""
        if reader.path is None:
            return None
        handle = self._handles.pop(reader.path, None)
        if handle is None:
            handle = reader.open()
            while len(self._handles) >= self.size:
                self._handles.pop(next(iter(self._handles))).close()
        self._handles[reader.path] = handle  # the most recent last
        return handle

    def close(self) -> None:
        """Close every file."""
        while self._handles:
            self._handles.popitem()[1].close()

    def __enter__(self) -> "OpenFiles":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_runs(readers: Sequence[FrameReader], runs, files: OpenFiles | None = None) -> np.ndarray:
    """The frames of several runs, side by side in the order given: one mini-batch.

    Parameters
    ----------
    readers : sequence of FrameReader or ArrayFrames
        With the same STFT settings.
    runs : sequence of (clip, start, stop)
        ``readers[clip]``'s frames ``start`` to ``stop - 1`` (``0 <= start < stop <= n_frames``).
    files : OpenFiles, optional
        Open files to reuse (and keep open); without it each file is opened and closed here.

    Returns
    -------
    V : np.ndarray [shape=(n_bins, total_frames), dtype=float32]

    Notes
    -----
    Each file is opened once (or taken from ``files``), its runs read in file order; the
    frames of all runs are windowed into one array and transformed by one FFT call.
    """
    runs = [(int(clip), int(start), int(stop)) for clip, start, stop in runs]
    offsets = np.cumsum([0] + [stop - start for _, start, stop in runs])
    first = readers[runs[0][0]]
    if isinstance(first, ArrayFrames):
        for clip, start, stop in runs:
            if not isinstance(readers[clip], ArrayFrames) or readers[clip].n_bins != first.n_bins or not 0 <= start < stop <= readers[clip].n_frames:
                raise ParameterError(f"{readers[clip].name}: frames {start}..{stop} cannot be read along with {first.name}")
        parts = [readers[clip].V[:, start:stop] for clip, start, stop in runs]
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts, axis=1)
    frames = np.empty((int(offsets[-1]), first.n_fft), np.float32)
    by_clip: dict[int, list[int]] = {}
    for index, (clip, start, stop) in enumerate(runs):
        reader = readers[clip]
        if not isinstance(reader, FrameReader):
            raise ParameterError(f"{reader.name} holds frames in memory; it cannot be read along with the audio clip {first.name}")
        if not 0 <= start < stop <= reader.n_frames:
            raise ParameterError(f"{reader.name}: frames {start}..{stop} are outside 0..{reader.n_frames}")
        if (reader.n_fft, reader.hop_length, reader.window, reader.power, reader.sample_rate) != \
                (first.n_fft, first.hop_length, first.window, first.power, first.sample_rate):
            raise ParameterError(f"{reader.name} is read with other STFT settings than {first.name}; give every clip the same")
        by_clip.setdefault(clip, []).append(index)
    own = files is None
    files = OpenFiles(len(by_clip)) if own else files
    try:
        for clip, indices in by_clip.items():
            reader = readers[clip]
            handle = files.get(reader)
            for index in sorted(indices, key=lambda i: runs[i][1]):
                _, start, stop = runs[index]
                piece = reader._samples((start - reader._context) * reader.hop_length, stop * reader.hop_length, handle)
                reader._check_finite(piece, start, stop)
                reader._window_frames(piece, stop - start, frames[offsets[index] : offsets[index + 1]])
    finally:
        if own:
            files.close()
    return first._spectrum(frames)
