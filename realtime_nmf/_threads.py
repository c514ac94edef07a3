"""Limits on the thread pools of BLAS and OpenMP (threadpoolctl).

OpenBLAS starts one busy-waiting thread per core for every matrix product. On a machine
whose cores are busy with other work, those threads fight each other: on two shared
cores ``rtnmf train`` ran many times slower with the default threads than with one
(README "Performance"), and in the audio callback a product that waits for a preempted
helper thread misses its deadline. ``rtnmf run`` and the live audio path therefore use
one thread; ``rtnmf train --threads N`` chooses.
"""

from __future__ import annotations

import contextlib

from .errors import ParameterError

__all__ = ["blas_threads", "check_threads"]


def check_threads(threads) -> int | None:
    """Return ``threads`` as an int (None or 0: the libraries' own default), or raise ParameterError."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ParameterError(f"threads={threads!r} must be a whole number: 1 or more, or 0 for the BLAS library's default (one per core)")
    return threads or None


def blas_threads(threads: int | None):
    """Context manager limiting BLAS and OpenMP to ``threads`` threads (None: leave them as they are).

    The limit is process-wide while the context lasts (it applies to the audio thread too).
    """
    threads = check_threads(threads)
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads)
