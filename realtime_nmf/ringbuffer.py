"""A preallocated ring buffer that passes audio between threads without allocating or locking.

It is single-producer, single-consumer: one thread writes, another reads. The writer
only advances the write count after copying, the reader only the read count, and
CPython updates each integer atomically (no ``threading.Lock``), so the audio callback
never waits for another thread.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SampleFifo"]


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

    @property
    def write_index(self) -> int:
        """Row of the storage the next written sample goes to (for a compiled writer, see :meth:`commit`)."""
        return self._written % self.capacity

    @property
    def storage(self) -> np.ndarray:
        """The ring's storage, ``(capacity, n_channels)``: a compiled writer fills it from :attr:`write_index` on, wrapping around."""
        return self._data

    def commit(self, n: int) -> None:
        """Make ``n`` samples a compiled writer put into :attr:`storage` readable (it checked the :attr:`space`)."""
        self._written += n

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

    def keep_last(self, n: int) -> None:
        """Drop or re-expose samples so that exactly the ``n`` most recently written ones are waiting (``n <= capacity``)."""
        self._read = self._written - int(n)

    def read(self, out: np.ndarray) -> int:
        """Fill ``out`` with the oldest samples; zero-fill what is missing; return how many were real."""
        n = out.shape[0]
        start = self._read % self.capacity
        if start + n <= self.capacity and n <= self._written - self._read:  # the usual case, in one copy
            out[:] = self._data[start : start + n]
            self._read += n
            return n
        n = min(n, self.available)
        first = min(n, self.capacity - start)
        out[:first] = self._data[start : start + first]
        if first < n:
            out[first:n] = self._data[: n - first]
        if n < out.shape[0]:
            out[n:] = 0.0
        self._read += n
        return n
