"""Offline processing of files: a processor (or chain) over a file, streamed, latency compensated.

The same processors run in the live audio callback (:mod:`realtime_nmf.live`); here they
run block by block over a file, and the output is shifted back by the processor's
latency and flushed at the end (:func:`realtime_nmf.processors.latency.compensated_blocks`),
so it is time-aligned with the input and has exactly its length. Files are streamed
(read, resampled, processed and written block by block), so memory does not grow with
the file's length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from . import defaults
from .audio import AudioWriter, audio_info, read_blocks, segment_frames
from .errors import ParameterError
from .processors.base import Processor
from .processors.latency import compensated_blocks, validate_block_size
from .resample import StreamResampler

__all__ = ["process_file", "FileRunStats"]


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
    start: float | None = None,
    end: float | None = None,
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
    start, end : float, optional
        Seconds: process only this part of the input (the output is as long as the
        part); see :func:`realtime_nmf.audio.segment_frames`.

    Returns
    -------
    FileRunStats
    """
    block_size = validate_block_size(block_size)
    info = audio_info(input_path)
    out_path = Path(output_path)
    if out_path.exists() and Path(input_path).resolve() == out_path.resolve():
        raise ParameterError(f"the output {str(out_path)!r} is the input file; choose another output name")
    first, stop = segment_frames(info, start, end)
    n_samples = stop - first
    stats = FileRunStats(str(input_path), str(out_path), info.sample_rate, int(processing_rate), info.n_channels, n_samples)
    processor.prepare(processing_rate, info.n_channels)
    subtype = info.subtype if Path(input_path).suffix.lower() == out_path.suffix.lower() else None
    if subtype in (None, "VORBIS", "MPEG_LAYER_III", "OPUS"):
        subtype = None
    started = time.perf_counter()
    writer = AudioWriter(out_path, info.sample_rate, info.n_channels, subtype=subtype)
    try:
        with writer:
            blocks: Iterable[np.ndarray] = read_blocks(input_path, block_size, start=first, stop=stop)
            resample = info.sample_rate != int(processing_rate)
            if resample:
                blocks = _resampled(blocks, StreamResampler(info.sample_rate, processing_rate, info.n_channels))
            outputs: Iterable[np.ndarray] = compensated_blocks(processor, blocks, block_size)
            if resample:
                outputs = _resampled(outputs, StreamResampler(processing_rate, info.sample_rate, info.n_channels))
            remaining = n_samples
            for out in outputs:
                out = out[:remaining]
                if out.shape[0]:
                    writer.write(out)
                    remaining -= out.shape[0]
                    if progress is not None:
                        progress(n_samples - remaining, n_samples)
            if remaining > 0:  # resampling can come out a sample short
                writer.write(np.zeros((remaining, info.n_channels), np.float32))
    except KeyboardInterrupt:
        stats.interrupted = True  # the writer kept everything processed so far
    finally:
        stats.seconds = time.perf_counter() - started
        stats.samples_written = writer.samples_written
        stats.clipped_samples = writer.clipped_samples
    return stats
