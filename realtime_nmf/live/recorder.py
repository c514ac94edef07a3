"""Threads that keep file I/O out of the audio callback: a recorder and a file source.

The callback hands samples to :class:`Recorder` and takes samples from :class:`FileSource`
through preallocated :class:`~realtime_nmf.ringbuffer.SampleFifo` ring buffers; the file
work happens in the threads these classes start.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from ..audio import AudioWriter, audio_info, read_blocks
from ..errors import OutputError, ParameterError
from ..resample import StreamResampler
from ..ringbuffer import SampleFifo

__all__ = ["Recorder", "FileSource"]


class Recorder:
    """Write blocks handed over by the audio callback to a file, in a thread of its own.

    The file appears under its name only when :meth:`close` finalises it (also after
    Ctrl-C or a lost device); if the writer falls behind by more than ``seconds`` of
    audio, the blocks that do not fit are dropped and counted in :attr:`lost_blocks`,
    never waited for. A write that fails (disk full) stops the writing and is kept in
    :attr:`error`; the file is still finalised with what was written before.

    Parameters
    ----------
    path : str or Path
    sample_rate : int
    n_channels : int
    max_block : int
        Largest block the callback will hand over.
    seconds : float
        Audio the pool can hold while the writer is busy.
    subtype : str, optional
        soundfile subtype; default float (no clipping of a loud separation).
    max_samples : int, optional
        Stop writing after this many samples (a run of ``--duration`` seconds gives a
        file of exactly that length).
    """

    def __init__(self, path: str | Path, sample_rate: int, n_channels: int, max_block: int, *, seconds: float = 10.0,
                 subtype: str | None = "FLOAT", max_samples: int | None = None):
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self._fifo = SampleFifo(max(int(seconds * sample_rate), 4 * max_block), n_channels)
        self._chunk = np.zeros((max(max_block, 4096), n_channels), np.float32)
        self._writer = AudioWriter(self.path, sample_rate, n_channels, subtype=subtype, expected_samples=max_samples)
        self.lost_blocks = 0
        self.error: str | None = None
        self.max_samples = max_samples
        self._closed = self._finish_failed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"recorder {self.path.name}", daemon=True)
        self._thread.start()

    def push(self, block: np.ndarray) -> None:
        """Hand a block over (called from the audio callback: no allocation, no waiting)."""
        if block.shape[0] > self._fifo.space:
            self.lost_blocks += 1
            return
        self._fifo.write(block)

    @property
    def samples_written(self) -> int:
        return self._writer.samples_written

    @property
    def seconds(self) -> float:
        """Audio written so far, in seconds."""
        return self._writer.samples_written / self.sample_rate

    @property
    def failed(self) -> bool:
        """True once a write or the finalisation failed (see :attr:`error`)."""
        return self.error is not None

    def _drain(self) -> None:
        while self._fifo.available:
            n = self._fifo.read(self._chunk[: min(self._fifo.available, self._chunk.shape[0])])
            block = self._chunk[:n]
            if self.max_samples is not None:
                block = block[: max(0, self.max_samples - self._writer.samples_written)]
            if self.error is None and block.shape[0]:
                try:
                    self._writer.write(block)
                except Exception as exc:  # disk full: keep the stream going, report it (the file keeps what was written)
                    self.error = str(exc) if isinstance(exc, OutputError) else f"cannot write {str(self.path)!r}: {type(exc).__name__}: {exc}"

    def _run(self) -> None:
        while not self._stop.is_set():
            self._drain()
            time.sleep(0.01)
        self._drain()

    def close(self) -> Path | None:
        """Write what is pending, finalise the file and move it to its name; never raises.

        Returns the path, or None if the file could not be finalised (then :attr:`error`
        says why and nothing is left under the name). Calling it again does nothing.
        """
        if self._closed:
            return None if self._finish_failed else self.path
        self._closed = True
        self._stop.set()
        self._thread.join()
        try:
            self._writer.finish()
        except Exception as exc:
            self._finish_failed = True
            if self.error is None:
                self.error = str(exc)
            return None
        return self.path

    def abort(self) -> None:
        """Stop and delete the unfinished file (a run that never started); ``path`` is left as it was."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join()
        self._writer.abort()


class FileSource:
    """Read (and resample) a file ahead of the audio callback, in a thread of its own.

    Parameters
    ----------
    path : str or Path
    sample_rate : int
        Rate the callback runs at.
    n_channels : int
        Channels to deliver: the file's channels are mixed or repeated to fit.
    seconds : float
        How far ahead to read.
    channels : sequence of int, optional
        The file's channels (0-based) to deliver, one per delivered channel, instead of
        mixing or repeating them.
    """

    @staticmethod
    def channels_of(path: str | Path) -> int:
        """Channels of an audio file (raises a clear error for an unreadable file)."""
        return audio_info(path).n_channels

    def __init__(self, path: str | Path, sample_rate: int, n_channels: int, *, seconds: float = 2.0, channels=None):
        self.info = audio_info(path)
        self.sample_rate, self.n_channels = int(sample_rate), int(n_channels)
        self.channels = None if channels is None else np.asarray(channels, dtype=np.intp)
        if self.channels is not None and (len(self.channels) != self.n_channels or self.channels.max(initial=0) >= self.info.n_channels):
            raise ParameterError(f"channels={list(channels)!r}: {self.info.path} has {self.info.n_channels} channel(s); "
                                 f"give {self.n_channels} of them, counted from 0")
        self.fifo = SampleFifo(int(seconds * sample_rate) + 1, n_channels)
        self.finished = False  # every sample of the file is in the FIFO
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reader {Path(path).name}", daemon=True)
        self._thread.start()

    def _fit_channels(self, block: np.ndarray) -> np.ndarray:
        if self.channels is not None:
            return block[:, self.channels]
        if block.shape[1] == self.n_channels:
            return block
        if self.n_channels == 1:
            return block.mean(axis=1, keepdims=True)
        return block[:, np.arange(self.n_channels) % block.shape[1]]

    def _run(self) -> None:
        try:
            resampler = None
            if self.info.sample_rate != self.sample_rate:
                resampler = StreamResampler(self.info.sample_rate, self.sample_rate, self.info.n_channels)
            for block in read_blocks(self.info.path, 4096):
                if resampler is not None:
                    block = resampler.process(block)
                self._put(self._fit_channels(block))
                if self._stop.is_set():
                    return
            if resampler is not None:
                self._put(self._fit_channels(resampler.process(np.zeros((0, self.info.n_channels), np.float32), last=True)))
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.finished = True

    def _put(self, block: np.ndarray) -> None:
        position = 0
        while position < block.shape[0] and not self._stop.is_set():
            position += self.fifo.write(block[position:])
            if position < block.shape[0]:
                time.sleep(0.005)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
