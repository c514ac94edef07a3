"""Offline processing of files: a processor (or chain) over a file, streamed, latency compensated.

The same processors run in the live audio callback (:mod:`realtime_nmf.live`); here they
run block by block over a file, and the output is shifted back by the processor's
latency and flushed at the end (:func:`realtime_nmf.processors.latency.compensated_blocks`),
so it is time-aligned with the input and has exactly its length. Files are streamed
(read, resampled, processed and written block by block), so memory does not grow with
the file's length.

The input's length is what it really decodes to, never its header's claim: a file
shorter than it announces (truncated, damaged, a lying header) gives an output of the
length it has, and :attr:`FileRunStats.shortfall` says so; nothing is padded.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from . import defaults
from ._files import show_path
from .audio import AudioWriter, BlockReader, audio_info, segment_frames
from .errors import AudioFileError, ParameterError
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
    #: Frames the input really held (``n_samples`` is what its header announced, 0 if unknown).
    input_samples: int = 0
    #: One line when the input decoded to less than it announced (a truncated or damaged file), else None.
    shortfall: str | None = None
    #: The output asked for; ``output_path`` is where the audio went (``NAME.partial.EXT`` when interrupted, "" if nowhere).
    target_path: str = ""

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
    independently. The output file appears only when complete. On Ctrl-C
    (KeyboardInterrupt) what was processed is kept, finalised, as ``NAME.partial.EXT``
    (``stats.output_path``), an earlier file at ``output_path`` is left as it was, and
    ``stats.interrupted`` is True.

    Parameters
    ----------
    processor : Processor
    input_path, output_path : str or Path
        The output must not be the input under another name (a hard or symbolic link).
    processing_rate : int
        Rate the processor runs at (a separator's dictionary rate).
    block_size : int
    progress : callable(samples_done, samples_total), optional
        ``samples_total`` is the announced length (0 when the header does not say).
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
    if _same_file(input_path, out_path):
        raise ParameterError(f"the output {show_path(out_path)} is the input file (under this or another name); choose another output name")
    first, stop = segment_frames(info, start, end)
    part = start is not None or end is not None
    announced = stop - first if part else info.n_samples
    stats = FileRunStats(str(input_path), str(out_path), info.sample_rate, int(processing_rate), info.n_channels, announced,
                         target_path=str(out_path))
    processor.prepare(processing_rate, info.n_channels)
    subtype = info.subtype if Path(input_path).suffix.lower() == out_path.suffix.lower() else None
    if subtype in (None, "VORBIS", "MPEG_LAYER_III", "OPUS"):
        subtype = None
    started = time.perf_counter()
    writer = AudioWriter(out_path, info.sample_rate, info.n_channels, subtype=subtype,
                         expected_samples=announced if info.length_known else None)
    reader = BlockReader(input_path, block_size, info=info, start=first, stop=stop if part else None)
    try:
        with writer:
            blocks: Iterable[np.ndarray] = iter(reader)
            resample = info.sample_rate != int(processing_rate)
            if resample:
                blocks = _resampled(blocks, StreamResampler(info.sample_rate, processing_rate, info.n_channels))
            outputs: Iterable[np.ndarray] = compensated_blocks(processor, blocks, block_size)
            if resample:
                outputs = _resampled(outputs, StreamResampler(processing_rate, info.sample_rate, info.n_channels))
            written = 0
            for out in outputs:
                if reader.done:  # the input has ended: the output is exactly as long as what it held
                    out = out[: max(0, reader.samples_yielded - written)]
                if out.shape[0]:
                    writer.write(out)
                    written += out.shape[0]
                    if progress is not None:
                        progress(written, announced)
            if reader.samples_yielded > written:  # resampling can come out a sample or two short
                writer.write(np.zeros((reader.samples_yielded - written, info.n_channels), np.float32))
            if reader.samples_yielded == 0 and reader.shortfall:
                raise AudioFileError(f"{reader.shortfall}: not one sample could be decoded; nothing was written")
    except KeyboardInterrupt:
        stats.interrupted = True  # the writer kept everything processed so far, as NAME.partial.EXT
    finally:
        stats.seconds = time.perf_counter() - started
        stats.samples_written = writer.samples_written
        stats.clipped_samples = writer.clipped_samples
        stats.input_samples = reader.samples_yielded
        stats.shortfall = reader.shortfall
        stats.output_path = str(writer.final_path) if writer.final_path is not None else ""
    return stats


def _same_file(a, b) -> bool:
    """Whether ``a`` and ``b`` name one file (a hard or symbolic link included); False when either is missing."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False
