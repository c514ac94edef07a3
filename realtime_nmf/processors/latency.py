"""The latency contract: run a processor over data with its latency compensated.

Every processor reports its :attr:`~realtime_nmf.processors.Processor.latency` in samples.
Live, that delay is simply heard; over data, :func:`compensated_blocks` drops the first
``latency`` output samples and feeds as many zeros after the last block, so the output is
time-aligned with the input and has exactly its length. :func:`process_array` does this
for a whole array (it is what ``processor(audio, sample_rate)`` calls);
:func:`realtime_nmf.offline.process_file` streams a file through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from .. import defaults
from ..errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from .base import Processor

__all__ = ["validate_block_size", "compensated_blocks", "process_array"]


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
