"""The offline host: run a processor (or chain) over an array or a file, latency compensated.

The same processors run in the live audio callback (:mod:`realtime_nmf.live`); here they
run block by block over data, and the output is shifted back by the processor's
latency and flushed at the end, so it is time-aligned with the input and has exactly its
length. Files are streamed (read, resampled, processed and written block by block), so
memory does not grow with the file's length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from . import defaults
from .audio import AudioWriter, StreamResampler, audio_info, read_blocks
from .errors import ParameterError
from .processors.base import Processor

__all__ = ["compensated_blocks", "process_array", "process_file", "FileRunStats", "validate_block_size"]


def validate_block_size(block_size) -> int:
    """Return ``block_size`` as an int, or raise :class:`ParameterError` unless it is 1 to 1,048,576."""
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or not 1 <= int(block_size) <= 1 << 20:
        raise ParameterError(f"block_size={block_size!r} must be a whole number from 1 to 1048576 (e.g. {defaults.BLOCK_SIZE})")
    return int(block_size)


def _split(blocks: Iterable[np.ndarray], block_size: int) -> Iterator[np.ndarray]:
    for block in blocks:
        for start in range(0, block.shape[0], block_size):
            yield block[start : start + block_size]


def compensated_blocks(processor: Processor, blocks: Iterable[np.ndarray], block_size: int) -> Iterator[np.ndarray]:
    """Run ``blocks`` through a prepared ``processor``; yield its output without the latency.

    The first ``processor.latency`` output samples are dropped and the same number of
    zeros is fed after the last block, so the concatenated output has exactly the input's
    length and timing. The yielded arrays are views of one buffer: use each before
    asking for the next.

    Parameters
    ----------
    processor : Processor
        Already prepared (:meth:`Processor.prepare`).
    blocks : iterable of np.ndarray [shape=(n, n_channels), dtype=float32]
    block_size : int
        Largest block handed to the processor (longer input blocks are split).
    """
    n_channels = processor.n_channels
    buffer = np.empty((block_size, n_channels), np.float32)
    to_skip = processor.latency
    n_in = n_out = 0
    for block in _split(blocks, block_size):
        n = block.shape[0]
        out = buffer[:n]
        processor.process(np.ascontiguousarray(block, dtype=np.float32), out)
        n_in += n
        skip = min(to_skip, n)
        to_skip -= skip
        if skip < n:
            n_out += n - skip
            yield out[skip:]
    zeros = np.zeros((block_size, n_channels), np.float32)
    while n_out < n_in:
        n = min(block_size, n_in - n_out + to_skip)
        out = buffer[:n]
        processor.process(zeros[:n], out)
        skip = min(to_skip, n)
        to_skip -= skip
        n_out += n - skip
        yield out[skip:]


def process_array(processor: Processor, audio: np.ndarray, sample_rate: float, *, block_size: int | None = None) -> np.ndarray:
    """Process a whole signal with ``processor``, latency compensated.

    Parameters
    ----------
    processor : Processor
    audio : np.ndarray [shape=(n_samples,) or (n_samples, n_channels)]
    sample_rate : float
    block_size : int, optional
        Default :data:`realtime_nmf.defaults.BLOCK_SIZE`; the result does not depend on it.

    Returns
    -------
    np.ndarray [shape=audio.shape, dtype=float32]
    """
    block_size = validate_block_size(block_size if block_size is not None else defaults.BLOCK_SIZE)
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim not in (1, 2):
        raise ParameterError(f"audio must have shape (n_samples,) or (n_samples, n_channels), got {x.shape}")
    x2 = x[:, None] if x.ndim == 1 else x
    processor.prepare(sample_rate, x2.shape[1])
    y = np.empty_like(x2)
    position = 0
    for out in compensated_blocks(processor, (x2[i : i + block_size] for i in range(0, x2.shape[0], block_size)), block_size):
        y[position : position + out.shape[0]] = out
        position += out.shape[0]
    return y[:, 0] if x.ndim == 1 else y


def _resampled(blocks: Iterable[np.ndarray], resampler: StreamResampler) -> Iterator[np.ndarray]:
    for block in blocks:
        out = resampler.process(block)
        if out.shape[0]:
            yield out
    tail = resampler.process(np.zeros((0, resampler.n_channels), np.float32), last=True)
    if tail.shape[0]:
        yield tail


@dataclass
class FileRunStats:
    """What :func:`process_file` did."""

    input_path: str
    output_path: str
    input_rate: int
    processing_rate: int
    n_channels: int
    n_samples: int
    samples_written: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    clipped_samples: int = 0

    @property
    def audio_seconds(self) -> float:
        return self.samples_written / self.input_rate

    @property
    def realtime_factor(self) -> float:
        """Audio seconds processed per second of wall time."""
        return self.audio_seconds / self.seconds if self.seconds > 0 else float("inf")


def process_file(
    processor: Processor,
    input_path: str | Path,
    output_path: str | Path,
    *,
    processing_rate: int,
    block_size: int = defaults.BLOCK_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> FileRunStats:
    """Stream a file through ``processor`` into another file, time-aligned and of the same length.

    The input is resampled to ``processing_rate`` when its rate differs, and the output
    is resampled back and written at the input's rate, with the input's channels and
    (where the output format allows) its sample format. Every channel is processed
    independently. The output file appears only when complete; on Ctrl-C
    (KeyboardInterrupt) it is finalised with everything processed so far and the
    returned ``stats.interrupted`` is True.

    Parameters
    ----------
    processor : Processor
    input_path, output_path : str or Path
    processing_rate : int
        Rate the processor runs at (a separator's dictionary rate).
    block_size : int
    progress : callable(samples_done, samples_total), optional

    Returns
    -------
    FileRunStats
    """
    block_size = validate_block_size(block_size)
    info = audio_info(input_path)
    out_path = Path(output_path)
    if out_path.exists() and Path(input_path).resolve() == out_path.resolve():
        raise ParameterError(f"the output {str(out_path)!r} is the input file; choose another output name")
    stats = FileRunStats(str(input_path), str(out_path), info.sample_rate, int(processing_rate), info.n_channels, info.n_samples)
    processor.prepare(processing_rate, info.n_channels)
    subtype = info.subtype if Path(input_path).suffix.lower() == out_path.suffix.lower() else None
    if subtype in (None, "VORBIS", "MPEG_LAYER_III", "OPUS"):
        subtype = None
    started = time.perf_counter()
    writer = AudioWriter(out_path, info.sample_rate, info.n_channels, subtype=subtype)
    try:
        with writer:
            blocks: Iterable[np.ndarray] = read_blocks(input_path, block_size)
            resample = info.sample_rate != int(processing_rate)
            if resample:
                blocks = _resampled(blocks, StreamResampler(info.sample_rate, processing_rate, info.n_channels))
            outputs: Iterable[np.ndarray] = compensated_blocks(processor, blocks, block_size)
            if resample:
                outputs = _resampled(outputs, StreamResampler(processing_rate, info.sample_rate, info.n_channels))
            remaining = info.n_samples
            for out in outputs:
                out = out[:remaining]
                if out.shape[0]:
                    writer.write(out)
                    remaining -= out.shape[0]
                    if progress is not None:
                        progress(info.n_samples - remaining, info.n_samples)
            if remaining > 0:  # resampling can come out a sample short
                writer.write(np.zeros((remaining, info.n_channels), np.float32))
    except KeyboardInterrupt:
        stats.interrupted = True  # the writer kept everything processed so far
    finally:
        stats.seconds = time.perf_counter() - started
        stats.samples_written = writer.samples_written
        stats.clipped_samples = writer.clipped_samples
    return stats
