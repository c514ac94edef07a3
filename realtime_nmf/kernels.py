"""Compiled per-frame kernels: magnitude, start, H-only multiplicative updates and mask, row by row.

One STFT frame of one channel (a *row*) costs about 50 thousand multiply-adds per
update at 513 bins and 32 components: a few microseconds of arithmetic. Done with numpy
calls it costs ten to twenty calls per update, each with a microsecond of dispatch, so
a live stream that meets one frame per audio block (block <= hop) paid four to six times
the per-frame cost of a file whose frames are solved in batches. These kernels, compiled
by numba, run the per-frame computation (start, updates, mask: three kernels, or one
call of :func:`frame_separate`) on the preallocated buffers of
:class:`realtime_nmf.nmf.FrameSolver` and the separator's
:class:`~realtime_nmf.processors.Masker`, for batches up to :data:`MAX_CELLS`; larger
batches keep the numpy path, whose matrix products reuse each template across rows.
Their arithmetic is that of the numpy path (tests check both against naive references):
float32 throughout, ``eps`` added to the model and flooring every denominator and
activation. :func:`resample_block` is the live stream's resampler
(:mod:`realtime_nmf.lowdelay`). The streaming STFT's own kernels, which need rocket-fft
for their FFTs, load with :func:`load_stream`.

numba is imported only when a kernel is first needed (:func:`available`), never when the
package is imported; without it the numpy path runs. ``RTNMF_NO_NUMBA=1`` turns the
kernels off. Which path a solver or masker takes when not told (``compiled=None``) is the
host's choice (:func:`prefer_compiled`): the live engine prefers the kernels (one frame per
callback is where they pay: three to four times faster there); file mode and batch runs
keep the numpy path, whose batched matrix products are as fast per frame and which spares
every short ``rtnmf run`` numba's import (about 0.7 s of CPU) and first compilation. Compiled code is cached on disk (numba's ``cache=True``), so only the first
run on a machine pays the compilation (37 s on our shared 2-core machine at a load
average of 14; later runs load the cache in a few seconds at that load), and it happens
when a separator or the live resampler is prepared, never in the audio callback.
``error_model="numpy"``: no ZeroDivisionError checks (every denominator is floored), so
divisions and square roots vectorise.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["MAX_CELLS", "available", "choose", "load", "load_stream", "prefer_compiled", "default", "default_stream", "frame_start", "frame_solve",
           "frame_mask", "frame_separate", "resample_block"]

#: The kernels take a batch when ``n_rows * n_bins * n_components`` is at most this; larger
#: batches run faster as numpy calls around BLAS matrix products, which reuse each template
#: across the rows (measured on 513 bins and 32 components: the kernels are 3x faster for one
#: row, even at 4 rows, 1.35x slower at 8; at 129 bins still faster at 8 rows).
MAX_CELLS = 1 << 16

_module = None
_failed = False
_preferred = False
_stream = None
_stream_failed = False


def prefer_compiled(preferred: bool = True) -> None:
    """Whether solvers and maskers built with ``compiled=None`` from now on use the kernels (when available).

    Called by the live engine before it prepares a chain; the default (False) keeps the
    numpy path.
    """
    global _preferred
    _preferred = bool(preferred)


def default():
    """The kernels for ``compiled=None``: :func:`load` once :func:`prefer_compiled` was called, else None."""
    return load() if _preferred else None


def choose(compiled: bool | None, *, stream: bool = False):
    """The kernels a component built with ``compiled`` runs: None for False, the host's choice for None, the kernels for True.

    ``stream`` picks the streaming STFT's kernels (:func:`load_stream`) instead of the
    per-frame ones (:func:`load`).

    Raises
    ------
    ParameterError
        ``compiled=True`` when they cannot be loaded.
    """
    if compiled is False:
        return None
    if compiled is None:
        return default_stream() if stream else default()
    loaded = load_stream() if stream else load()
    if loaded is None:
        from .errors import ParameterError

        needs = "numba and rocket-fft (pip install numba rocket-fft)" if stream else "numba (pip install numba)"
        raise ParameterError(f"compiled=True needs {needs} and RTNMF_NO_NUMBA unset")
    return loaded


def default_stream():
    """The streaming-STFT kernels for ``compiled=None``: :func:`load_stream` once :func:`prefer_compiled` was called, else None."""
    return load_stream() if _preferred else None


def load_stream():
    """The compiled streaming-STFT kernels (:mod:`realtime_nmf._stream_kernels`), or None without numba or rocket-fft.

    They frame, window and transform a batch of frames in one call and inverse-transform,
    window and overlap-add it in another, with DUCC0's FFTs (through rocket-fft): 2.4 us
    for one 1024-point float32 frame from compiled code, where a numpy FFT call takes 5
    to 8 (ufunc dispatch, and for a single row a copy, then a scalar transform in place).
    """
    global _stream, _stream_failed
    if _stream is not None or _stream_failed:
        return _stream
    if load() is None:
        _stream_failed = True
        return None
    try:
        from . import _stream_kernels
    except ImportError:  # rocket-fft missing: the numpy FFTs run
        _stream_failed = True
        return None
    _stream = _stream_kernels
    return _stream


def available() -> bool:
    """True when numba can be imported and the kernels are not turned off (``RTNMF_NO_NUMBA=1``)."""
    return load() is not None


def load():
    """The compiled kernels (a namespace with :func:`frame_start`, :func:`frame_solve`, :func:`frame_mask`), or None."""
    global _module, _failed
    if _module is not None or _failed:
        return _module
    if os.environ.get("RTNMF_NO_NUMBA", "") not in ("", "0"):
        _failed = True
        return None
    try:
        import numba
    except ImportError:
        _failed = True
        return None
    # error_model="numpy": no ZeroDivisionError checks (the denominators are floored at eps), so divisions vectorise
    jit = numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")

    class Kernels:
        pass

    kernels = Kernels()
    kernels.frame_start = jit(frame_start)
    kernels.frame_solve = jit(frame_solve)
    global _accumulate
    _accumulate = jit(_accumulate)  # called by frame_mask: compiled first, so that numba finds it compiled
    kernels.frame_mask = jit(frame_mask)
    global _start, _solve, _mask
    _start, _solve, _mask = kernels.frame_start, kernels.frame_solve, kernels.frame_mask  # what frame_separate calls, compiled
    kernels.frame_separate = jit(frame_separate)
    kernels.resample_block = jit(resample_block)
    _module = kernels
    return _module


# --------------------------------------------------------------------------------------
# the kernels, written as plain Python over arrays (numba compiles them; the tests also run
# them uncompiled, the slow way, against the numpy path)


def frame_start(spectra, power, v, h, warm, flat_share, colsum_raw, w_total, eps):
    """Magnitudes of the spectra and each row's start, in place.

    Parameters
    ----------
    spectra : complex64 [shape=(n_rows, n_bins)]
    power : float32
        ``v = |spectra| ** power``.
    v : float32 [shape=(n_rows, n_bins)], written
    h : float32 [shape=(n_rows, n_components)]
        Earlier activations in (``warm``), the start out.
    warm : bool
        False: the flat start ``sum(v) / sum(W)`` for every component (a cold start).
        True: ``(1 - a) s h + a flat`` with ``s = sum(v) / sum(W h)`` and ``a = flat_share``.
    colsum_raw : float32 [shape=(n_components,)]
        ``W.sum(axis=0)``.
    w_total : float32
        ``W.sum()``, at least ``eps``.
    eps : float32
    """
    n, F = v.shape
    K = h.shape[1]
    one = np.float32(1.0)
    for r in range(n):
        x = spectra[r].view(np.float32)  # re, im interleaved: plain float loops vectorise, complex ones do not
        vr = v[r]
        for f in range(F):
            re = x[2 * f]
            im = x[2 * f + 1]
            vr[f] = np.sqrt(re * re + im * im)
        if power != one:
            for f in range(F):
                vr[f] = vr[f] ** power
        energy = np.float32(0.0)
        for f in range(F):
            energy += vr[f]
        if not warm:
            flat = max(energy / w_total, eps)
            for k in range(K):
                h[r, k] = flat
            continue
        model = np.float32(0.0)
        for k in range(K):
            model += h[r, k] * colsum_raw[k]
        scale = energy / max(model, eps) * (one - flat_share)
        flat = energy * (flat_share / w_total)
        for k in range(K):
            h[r, k] = max(h[r, k] * scale + flat, eps)


def frame_solve(v, h, Wt, W, gram, colsum, n_iter, beta, gamma, sparsity, tol, eps, wh, a, b, ratio):
    """H-only multiplicative updates of every row, in place; returns the most updates any row ran.

    Parameters
    ----------
    v : float32 [shape=(n_rows, n_bins)]
    h : float32 [shape=(n_rows, n_components)]
    Wt : float32 [shape=(n_components, n_bins)]
        The dictionary, transposed (contiguous rows per component).
    W : float32 [shape=(n_bins, n_components)]
    gram : float32 [shape=(n_components, n_components)]
        ``W.T @ W`` (read for beta 2 only).
    colsum : float32 [shape=(n_components,)]
        ``max(W.sum(axis=0) + sparsity, eps)``, the constant denominator for beta 1.
    n_iter : int
    beta, gamma, sparsity, tol, eps : float32
        ``gamma`` the update exponent (:func:`realtime_nmf.nmf.frame_exponent`); a row
        stops once ``sum(|ratio - 1| h) <= tol sum(h)`` (``tol`` 0: never).
    wh, a, b : float32 [shape=(n_bins,)]
        Workspaces.
    ratio : float32 [shape=(n_components,)]
        Workspace.
    """
    n, F = v.shape
    K = h.shape[1]
    K4, K2 = K - K % 4, K - K % 2
    one = np.float32(1.0)
    two = np.float32(2.0)
    zero = np.float32(0.0)
    most = 0
    for r in range(n):
        if beta == 2:
            for k in range(K):  # v @ W, once per row
                s = zero
                for f in range(F):
                    s += v[r, f] * W[f, k]
                b[k] = s
        runs = n_iter
        for it in range(n_iter):
            if beta == 2:
                for k in range(K):
                    den = zero
                    for j in range(K):
                        den += h[r, j] * gram[j, k]
                    ratio[k] = b[k] / max(den + sparsity, eps)
            else:
                # wh = W h + eps, four templates per pass over wh (fewer loads and stores per multiply-add)
                for f in range(F):
                    wh[f] = eps
                for k in range(0, K4, 4):
                    h0, h1, h2, h3 = h[r, k], h[r, k + 1], h[r, k + 2], h[r, k + 3]
                    for f in range(F):
                        wh[f] += h0 * Wt[k, f] + h1 * Wt[k + 1, f] + h2 * Wt[k + 2, f] + h3 * Wt[k + 3, f]
                for k in range(K4, K):
                    hk = h[r, k]
                    for f in range(F):
                        wh[f] += hk * Wt[k, f]
                if beta == 1:
                    for f in range(F):
                        b[f] = v[r, f] / wh[f]
                    for k in range(K):
                        num = zero
                        for f in range(F):
                            num += Wt[k, f] * b[f]
                        ratio[k] = num / colsum[k]
                else:
                    if beta == 0.5:
                        vr = v[r]
                        for f in range(F):
                            a[f] = one / np.sqrt(wh[f])  # wh^-0.5
                        for f in range(F):
                            q = a[f]
                            b[f] = vr[f] * (q * q * q)  # v wh^-1.5
                    elif beta == 0:
                        for f in range(F):
                            q = one / wh[f]
                            a[f] = q
                            b[f] = v[r, f] * q * q
                    elif beta == 1.5:
                        for f in range(F):
                            q = np.sqrt(wh[f])
                            a[f] = q
                            b[f] = v[r, f] / q
                    else:
                        for f in range(F):
                            a[f] = wh[f] ** (beta - one)
                            b[f] = v[r, f] * wh[f] ** (beta - two)
                    # numerator W.T b and denominator W.T a, two templates per pass over a and b
                    for k in range(0, K2, 2):
                        n0 = zero
                        d0 = zero
                        n1 = zero
                        d1 = zero
                        for f in range(F):
                            af = a[f]
                            bf = b[f]
                            w0 = Wt[k, f]
                            w1 = Wt[k + 1, f]
                            n0 += w0 * bf
                            d0 += w0 * af
                            n1 += w1 * bf
                            d1 += w1 * af
                        ratio[k] = n0 / max(d0 + sparsity, eps)
                        ratio[k + 1] = n1 / max(d1 + sparsity, eps)
                    for k in range(K2, K):
                        num = zero
                        den = zero
                        for f in range(F):
                            num += Wt[k, f] * b[f]
                            den += Wt[k, f] * a[f]
                        ratio[k] = num / max(den + sparsity, eps)
            if gamma != one:
                for k in range(K):
                    ratio[k] = ratio[k] ** gamma
            converged = False
            if tol > 0:
                change = zero
                total = zero
                for k in range(K):
                    change += abs(ratio[k] - one) * h[r, k]
                    total += h[r, k]
                converged = change <= tol * total
            for k in range(K):
                h[r, k] = max(h[r, k] * ratio[k], eps)
            if converged:
                runs = it + 1
                break
        most = max(most, runs)
    return most


def _accumulate(out, Wt, h, index):
    """``out += sum_i h[index[i]] * Wt[index[i]]``, four templates per pass over ``out``."""
    F = out.shape[0]
    n = index.size
    n4 = n - n % 4
    for i in range(0, n4, 4):
        k0, k1, k2, k3 = index[i], index[i + 1], index[i + 2], index[i + 3]
        h0, h1, h2, h3 = h[k0], h[k1], h[k2], h[k3]
        for f in range(F):
            out[f] += h0 * Wt[k0, f] + h1 * Wt[k1, f] + h2 * Wt[k2, f] + h3 * Wt[k3, f]
    for i in range(n4, n):
        k = index[i]
        hk = h[k]
        for f in range(F):
            out[f] += hk * Wt[k, f]


def frame_mask(spectra, h, keep_index, rest_index, Wt, binary, exponent, eps, target, rest):
    """Multiply every row of ``spectra`` in place by the mask of the kept components.

    ``Vt = W[:, keep] @ h[keep]``, ``Vr = W[:, rest] @ h[rest]``; ratio mask
    ``1 - Vr^a / (Vt^a + Vr^a + eps)`` or, ``binary``, ``Vt >= Vr``.

    Parameters
    ----------
    spectra : complex64 [shape=(n_rows, n_bins)]
    h : float32 [shape=(n_rows, n_components)]
    keep_index, rest_index : intp [shape=(n_keep,), (n_rest,)]
    Wt : float32 [shape=(n_components, n_bins)]
    binary : bool
    exponent, eps : float32
    target, rest : float32 [shape=(n_bins,)]
        Workspaces.
    """
    n, F = spectra.shape
    one = np.float32(1.0)
    zero = np.float32(0.0)
    if rest_index.size == 0:
        return  # every component kept: the mask is 1
    for r in range(n):
        for f in range(F):
            target[f] = zero
            rest[f] = zero
        _accumulate(target, Wt, h[r], keep_index)
        _accumulate(rest, Wt, h[r], rest_index)
        x = spectra[r].view(np.float32)  # re, im interleaved
        if binary:
            for f in range(F):
                target[f] = one if target[f] >= rest[f] else zero
        else:
            if exponent != one:
                for f in range(F):
                    target[f] = target[f] ** exponent
                    rest[f] = rest[f] ** exponent
            for f in range(F):
                target[f] = one - rest[f] / (target[f] + rest[f] + eps)
        for f in range(F):
            x[2 * f] *= target[f]
            x[2 * f + 1] *= target[f]


def frame_separate(spectra, power, v, h, warm, flat_share, colsum_raw, w_total, Wt, W, gram, colsum, n_iter, beta, gamma, sparsity, tol, eps,
                   wh, a, b, ratio, keep_index, rest_index, mask_Wt, binary, exponent, mask_eps, target, rest):
    """:func:`frame_start`, :func:`frame_solve` and :func:`frame_mask` in one call (one frame per call: each call costs a few us).

    The arguments are theirs, in order (``spectra, power, v, h, warm, flat_share`` and the
    start's, the solve's after ``v, h``, the mask's after ``spectra, h``); returns the
    solve's count of updates. A row whose activations overflow gets a mask of NaN: the
    caller silences such rows afterwards (as :class:`realtime_nmf.NMFSeparator` does).
    """
    _start(spectra, power, v, h, warm, flat_share, colsum_raw, w_total, eps)
    updates = _solve(v, h, Wt, W, gram, colsum, n_iter, beta, gamma, sparsity, tol, eps, wh, a, b, ratio)
    _mask(spectra, h, keep_index, rest_index, mask_Wt, binary, exponent, mask_eps, target, rest)
    return updates


_start, _solve, _mask = frame_start, frame_solve, frame_mask  # load() puts the compiled ones here


def resample_block(block, history, out, state, bank, sr_in, sr_out, unit):
    """Streaming polyphase resampling (see :mod:`realtime_nmf.lowdelay`); returns the outputs written to ``out``.

    Parameters
    ----------
    block : float32 [shape=(m, n_channels)]
    history : float32 [shape=(n_channels, taps + max_block)]
        The last ``taps`` inputs before this block, then room for it (channels as rows,
        so that every dot product runs over contiguous memory).
    out : float32 [shape=(n_out_max, n_channels)], written
    state : int64 [shape=(2,)]
        Outputs made and inputs consumed so far; updated.
    bank : float32 [shape=(n_phases, taps)]
        Row ``p``: the taps for an output at fractional input position ``p / n_phases``,
        oldest input first.
    sr_in, sr_out, unit : int
        The rates and their greatest common divisor.
    """
    m, C = block.shape
    taps = bank.shape[1]
    made, consumed = state[0], state[1]
    for c in range(C):
        for j in range(m):
            history[c, taps + j] = block[j, c]
    end = ((consumed + m) * sr_out + sr_in - 1) // sr_in  # outputs whose position falls within the input so far
    zero = np.float32(0.0)
    count = 0
    for n in range(made, end):
        position = n * sr_in
        j0 = position // sr_out  # the latest input this output reads
        phase = (position - j0 * sr_out) // unit
        first = j0 - (consumed - taps) - taps + 1  # row in history of the oldest input it reads
        for c in range(C):
            acc = zero
            for i in range(taps):
                acc += bank[phase, i] * history[c, first + i]
            out[count, c] = acc
        count += 1
    for c in range(C):  # keep the last taps inputs for the next block
        for j in range(taps):
            history[c, j] = history[c, m + j]
    state[0] = end
    state[1] = consumed + m
    return count
