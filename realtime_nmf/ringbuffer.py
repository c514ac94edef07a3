"""Preallocated buffers that pass audio between threads without allocating or locking.

Both classes are single-producer, single-consumer: one thread writes, another reads.
They rely on CPython's atomic updates of integers and deques (no ``threading.Lock``), so
the audio callback never waits for another thread.
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["SampleFifo", "BlockPool"]


class SampleFifo:
    """Ring buffer of float32 samples ``(capacity, n_channels)``.

    Parameters
    ----------
    capacity : int
        Samples it can hold.
    n_channels : int
    """

    def __init__(self, capacity: int, n_channels: int):
        self._data = np.zeros((int(capacity), int(n_channels)), np.float32)
        self.capacity = int(capacity)
        self._written = 0  # total samples written (only the writer changes it)
        self._read = 0  # total samples read (only the reader changes it)

    @property
    def available(self) -> int:
        """Samples waiting to be read."""
        return self._written - self._read

    @property
    def space(self) -> int:
        """Samples that can be written without overwriting unread ones."""
        return self.capacity - self.available

    def write(self, samples: np.ndarray) -> int:
        """Append as many samples as fit; return how many were written."""
        n = min(samples.shape[0], self.space)
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._data[start : start + first] = samples[:first]
        if first < n:
            self._data[: n - first] = samples[first:n]
        self._written += n
        return n

    def write_zeros(self, n: int) -> int:
        """Append ``n`` zeros (as many as fit); return how many were written."""
        n = min(int(n), self.space)
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._data[start : start + first] = 0.0
        if first < n:
            self._data[: n - first] = 0.0
        self._written += n
        return n

    def read(self, out: np.ndarray) -> int:
        """Fill ``out`` with the oldest samples; zero-fill what is missing; return how many were real."""
        n = min(out.shape[0], self.available)
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self._data[start : start + first]
        if first < n:
            out[first:n] = self._data[: n - first]
        if n < out.shape[0]:
            out[n:] = 0.0
        self._read += n
        return n


class BlockPool:
    """A fixed set of block-sized slots handed from one thread to another.

    The producer takes a free slot, fills it and hands it over; the consumer takes the
    filled slots in order and gives them back. When no slot is free, :meth:`put` refuses
    the block (the caller counts it as lost) instead of waiting or allocating.

    Parameters
    ----------
    n_slots : int
    max_samples : int
        Largest block.
    n_channels : int
    """

    def __init__(self, n_slots: int, max_samples: int, n_channels: int):
        self.slots = np.zeros((int(n_slots), int(max_samples), int(n_channels)), np.float32)
        self.lengths = np.zeros(int(n_slots), np.int64)
        self._free = deque(range(int(n_slots)))
        self._filled: deque = deque()

    @property
    def max_samples(self) -> int:
        return self.slots.shape[1]

    def put(self, block: np.ndarray) -> bool:
        """Copy ``block`` (at most ``max_samples`` long) into a free slot and hand it over; False if none is free."""
        try:
            index = self._free.popleft()
        except IndexError:
            return False
        n = block.shape[0]
        self.slots[index, :n] = block
        self.lengths[index] = n
        self._filled.append(index)
        return True

    def take(self):
        """The oldest filled slot as ``(index, view)``, or None; give the index back with :meth:`release`."""
        try:
            index = self._filled.popleft()
        except IndexError:
            return None
        return index, self.slots[index, : self.lengths[index]]

    def release(self, index: int) -> None:
        """Return a slot taken with :meth:`take` to the free list."""
        self._free.append(index)

    @property
    def pending(self) -> int:
        """Filled slots not yet taken."""
        return len(self._filled)
