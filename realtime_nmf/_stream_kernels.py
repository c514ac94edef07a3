"""Compiled kernels of the streaming STFT: one call checks, frames, windows and transforms a batch of frames, one call inverse-transforms, windows and overlap-adds it.

Imported only by :func:`realtime_nmf.kernels.load_stream` (never when the package is
imported): it needs numba and rocket-fft, whose ``r2c`` and ``c2r`` call DUCC0's FFTs
(the successor of the pocketfft that numpy uses) from compiled code. What they replace
is a dozen numpy calls per frame in :meth:`realtime_nmf.stft.StreamingSTFT._run_frames`,
among them two FFT calls that cost a live stream, which transforms one frame at a time,
5 to 8 us each at 1024 points float32 (a generalised ufunc's dispatch, then, for a single
row, a copy and pocketfft's scalar transform in place: only several rows take its vectorised
path) where DUCC0's, called from compiled code, takes 2.4. The arithmetic is that of the numpy path,
float32 throughout; the tests check the streaming output of both against each other and
against the offline STFT.
"""

from __future__ import annotations

import numba
from rocket_fft import c2r, r2c

# No fastmath in analyse: it must see NaN (fastmath lets the compiler assume there is none).
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
_fast = numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")


@_jit
def analyse(samples, checked, end, loudest, window, hop, n_frames, frames, spectra, axes, keep):
    """Check ``samples[checked:end]``, window and transform ``n_frames`` frames of every channel, then shift the buffer.

    Parameters
    ----------
    samples : float32 [shape=(n_samples, n_channels)]
        The analysis buffer: frame ``j`` of channel ``c`` is ``samples[j * hop : j * hop + n_fft, c]``.
    checked, end : int
        The samples not yet checked.
    loudest : float32
        Samples beyond ``±loudest``, NaN and Inf fail the check.
    window : float32 [shape=(n_fft,)]
    hop, n_frames : int
    frames : float32 [shape=(>= n_frames * n_channels, n_fft)]
        Workspace: the windowed frames, row ``j * n_channels + c``.
    spectra : complex64 [shape=(>= n_frames * n_channels, n_bins)], written
    axes : int64 [shape=(1,)]
        ``[1]``: transform along the rows.
    keep : int
        Samples kept for the next frames: ``samples[n_frames * hop :][:keep]`` moves to the front.

    Returns
    -------
    bool
        False when a checked sample failed (nothing else done: the caller silences the
        bad samples and calls again), else True.
    """
    C = samples.shape[1]
    flat = samples.reshape(-1)  # sample i of channel c at i * C + c (contiguous loops vectorise)
    ok = True
    for i in range(checked * C, end * C):
        x = flat[i]
        ok &= (x >= -loudest) & (x <= loudest)  # NaN fails both
    if not ok:
        return False
    n_fft = window.shape[0]
    for j in range(n_frames):
        for c in range(C):
            row = frames[j * C + c]
            first = j * hop * C + c
            if C == 1:
                for t in range(n_fft):
                    row[t] = flat[first + t] * window[t]
            else:
                for t in range(n_fft):
                    row[t] = flat[first + t * C] * window[t]
    rows = n_frames * C
    if rows > 0:
        r2c(frames[:rows], spectra[:rows], axes, True, 1.0, 1)
    done = n_frames * hop * C
    for i in range(keep * C):  # forwards: the source is never overwritten before it is read
        flat[i] = flat[done + i]
    return True


@_fast
def synthesise(spectra, frames, n_frames, synthesis, accumulator, hop, scale, axes, fifo, fifo_start):
    """Inverse-transform ``n_frames`` frames, window and overlap-add them, and move the finished hops to a FIFO.

    Parameters
    ----------
    spectra : complex64 [shape=(>= n_frames * n_channels, n_bins)]
    frames : float32 [shape=(>= n_frames * n_channels, n_fft)]
        Workspace.
    n_frames : int
    synthesis : float32 [shape=(L,)]
        The synthesis window's last ``L`` samples (it is zero before them).
    accumulator : float32 [shape=(n_channels, L + batch * hop)]
        The overlap-add, zero from sample ``L - hop`` on; its first ``n_frames * hop``
        samples are finished here, moved out, and the rest shifted to the front.
    hop : int
    scale : float32
        ``1 / n_fft``.
    axes : int64 [shape=(1,)]
    fifo : float32 [shape=(capacity, n_channels)]
        The FIFO's storage (:class:`realtime_nmf.ringbuffer.SampleFifo`), written from
        row ``fifo_start`` on, wrapping around; it has room for them.
    fifo_start : int
    """
    C = accumulator.shape[0]
    rows = n_frames * C
    if rows > 0:
        c2r(spectra[:rows], frames[:rows], axes, False, scale, 1)
    n_fft = frames.shape[1]
    L = synthesis.shape[0]
    lead = n_fft - L
    for j in range(n_frames):
        for c in range(C):
            row = frames[j * C + c]
            target = accumulator[c]
            base = j * hop
            for t in range(L):
                target[base + t] += row[lead + t] * synthesis[t]
    done = n_frames * hop
    capacity = fifo.shape[0]
    first = min(done, capacity - fifo_start)  # then wrap around to the start of the ring
    keep = L - hop  # what the last frame adds beyond its finished hop; the accumulator is zero after it
    for c in range(C):
        source = accumulator[c]
        for i in range(first):
            fifo[fifo_start + i, c] = source[i]
        for i in range(first, done):
            fifo[i - first, c] = source[i]
        for i in range(keep):
            source[i] = source[i + done]
        for i in range(keep, keep + done):
            source[i] = 0.0
