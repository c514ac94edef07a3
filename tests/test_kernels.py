"""The compiled per-frame kernels and the numpy path they replace, both against naive references."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from realtime_nmf import kernels, nmf
from realtime_nmf.processors import Masker
from realtime_nmf.stft import StreamingSTFT

from .test_nmf import BETAS, EPS, naive_gamma, naive_update_h, random_problem

needs_numba = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")
needs_stream = pytest.mark.skipif(kernels.load_stream() is None, reason="numba or rocket-fft is not installed")
PATHS = [pytest.param(True, marks=needs_numba, id="compiled"), pytest.param(False, id="numpy")]


def naive_start(v, W, h, warm, flat_share):
    """The documented starts, one row at a time in float64."""
    h = np.array(h, dtype=np.float64)
    for r in range(v.shape[0]):
        energy = float(v[r].sum())
        flat = energy / W.sum()
        if warm:
            scale = energy / max(float(W.sum(axis=0) @ h[r]), EPS)
            h[r] = (1 - flat_share) * scale * h[r] + flat_share * flat
        else:
            h[r] = flat
    return np.maximum(h, EPS)


def naive_mask(W, h, keep, kind, exponent):
    kept = np.zeros(W.shape[1], bool)
    kept[keep] = True
    target, rest = h[:, kept] @ W[:, kept].T, h[:, ~kept] @ W[:, ~kept].T
    if kind == "binary":
        return (target >= rest).astype(float)
    target, rest = target**exponent, rest**exponent
    return 1 - rest / (target + rest + EPS)


@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize("beta", BETAS + [0.7])
@pytest.mark.parametrize("sparsity", [0.0, 0.2])
@pytest.mark.parametrize("rows", [1, 3])
def test_solve_matches_naive_updates(rng, compiled, beta, sparsity, rows):
    V, W, _ = random_problem(rng, n_bins=65, n_frames=rows, k=6)
    W = W / np.linalg.norm(W, axis=0)
    h0 = rng.random((6, rows)) + 0.1
    solver = nmf.FrameSolver(W, beta=beta, iterations=9, sparsity=sparsity, max_rows=4, compiled=compiled)
    assert solver.compiled is compiled
    h = np.ascontiguousarray(h0.T, dtype=np.float32)
    assert solver.solve(np.ascontiguousarray(V.T, dtype=np.float32), h) == 9
    expected = h0.copy()
    gamma = 1.0 if 0 < beta <= 2 else naive_gamma(beta)
    for _ in range(9):
        expected = naive_update_h(V, W, expected, beta, sparsity, gamma)
    np.testing.assert_allclose(h.T, expected, rtol=3e-4)


@pytest.mark.parametrize("compiled", PATHS)
def test_tolerance_stops_each_row_as_if_alone(rng, compiled):
    V, W, _ = random_problem(rng, n_bins=40, n_frames=3, k=5)
    Vt = np.ascontiguousarray(V.T, dtype=np.float32)
    solver = nmf.FrameSolver(W, beta=0.5, iterations=400, tolerance=1e-3, max_rows=3, compiled=compiled)
    counts, alone = [], np.ones((3, 5), np.float32)
    for r in range(3):
        counts.append(solver.solve(Vt[r : r + 1], alone[r : r + 1]))
    batch = np.ones((3, 5), np.float32)
    assert solver.solve(Vt, batch) == max(counts) and 1 < max(counts) < 400
    np.testing.assert_allclose(batch, alone, rtol=1e-5)
    # the reference: naive updates until the documented criterion holds
    h = np.ones((5, 3))
    for r in range(3):
        for it in range(400):
            previous = h[:, r].copy()
            h[:, r : r + 1] = naive_update_h(V[:, r : r + 1], W, h[:, r : r + 1], 0.5, 0.0, 1.0)
            ratio = h[:, r] / previous
            if np.sum(np.abs(ratio - 1) * previous) <= 1e-3 * previous.sum():
                assert it + 1 == counts[r]
                break
    np.testing.assert_allclose(alone.T, h, rtol=2e-3)


@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize("warm", [False, True])
@pytest.mark.parametrize("power", [1.0, 2.0])
def test_begin_matches_naive_starts(rng, compiled, warm, power):
    W = rng.random((33, 4)) + 0.05
    spectra = (rng.standard_normal((3, 33)) + 1j * rng.standard_normal((3, 33))).astype(np.complex64)
    h0 = (rng.random((3, 4)) + 0.1).astype(np.float32)
    solver = nmf.FrameSolver(W, beta=1.0, iterations=1, max_rows=3, compiled=compiled)
    v, h = np.empty((3, 33), np.float32), h0.copy()
    solver.begin(spectra, v, h, power=power, warm=warm, flat_share=0.3)
    np.testing.assert_allclose(v, np.abs(spectra.astype(np.complex128)) ** power, rtol=1e-5)
    np.testing.assert_allclose(h, naive_start(np.abs(spectra.astype(np.complex128)) ** power, W, h0, warm, 0.3), rtol=1e-5)


@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize("kind, exponent", [("ratio", 1.0), ("ratio", 2.0), ("ratio", 0.5), ("binary", 1.0)])
def test_mask_matches_naive(rng, compiled, kind, exponent):
    W = (rng.random((40, 6)) + 0.01).astype(np.float32)
    h = (rng.random((3, 6)) + 0.01).astype(np.float32)
    spectra = (rng.standard_normal((3, 40)) + 1j * rng.standard_normal((3, 40))).astype(np.complex64)
    masked = spectra.copy()
    Masker(W, [0, 4], kind, exponent, 3, compiled=compiled).apply(masked, h)
    np.testing.assert_allclose(masked, spectra * naive_mask(W.astype(float), h.astype(float), [0, 4], kind, exponent), rtol=2e-5, atol=1e-6)
    every = spectra.copy()
    Masker(W, list(range(6)), kind, exponent, 3, compiled=compiled).apply(every, h)
    np.testing.assert_array_equal(every, spectra)  # everything kept: the spectra stay as they are


@needs_numba
def test_batches_above_the_kernel_size_take_the_blas_path_with_the_same_result(rng):
    """Rows solved by the kernels one at a time equal the same rows solved as one large (numpy, BLAS) batch."""
    V, W, _ = random_problem(rng, n_bins=513, n_frames=12, k=32)
    Vt = np.ascontiguousarray(V.T, dtype=np.float32)
    solver = nmf.FrameSolver(W, beta=0.5, iterations=10, max_rows=12, compiled=True)
    assert solver.compiled and 12 * 513 * 32 > kernels.MAX_CELLS >= 513 * 32
    one_by_one = np.full((12, 32), 0.2, np.float32)
    for r in range(12):
        solver.solve(Vt[r : r + 1], one_by_one[r : r + 1])
    batch = np.full((12, 32), 0.2, np.float32)
    solver.solve(Vt, batch)
    np.testing.assert_allclose(batch, one_by_one, rtol=2e-5)


def test_kernels_can_be_turned_off():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, RTNMF_NO_NUMBA="1", PYTHONPATH=root)
    code = "from realtime_nmf import kernels, nmf; import numpy as np; print(kernels.available(), nmf.FrameSolver(np.ones((5, 2)), beta=1, iterations=1).compiled)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    code = "from realtime_nmf import nmf; import numpy as np; nmf.FrameSolver(np.ones((5, 2)), beta=1, iterations=1, compiled=True)"
    failed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert failed.returncode != 0 and "compiled=True needs numba" in failed.stderr


@needs_numba
def test_the_host_chooses_the_path_the_live_engine_prefers_the_kernels(small_dictionary):
    """compiled=None: the numpy path in file mode (no numba import for a short rtnmf run), the kernels once a live engine runs."""
    from realtime_nmf.live.engine import LiveEngine
    from realtime_nmf.processors import NMFSeparator

    assert not nmf.FrameSolver(small_dictionary.W, beta=1, iterations=1).compiled
    engine = LiveEngine(NMFSeparator(small_dictionary, keep=[0]), processing_rate=4000, device_rate=4000, n_channels=1)
    assert engine.chain._solver.compiled
    assert nmf.FrameSolver(small_dictionary.W, beta=1, iterations=1).compiled


def _ramp(spectra, first):
    """A spectral change that depends on the frame and the bin (so that framing mistakes show)."""
    spectra *= np.float32(0.5 + 0.01 * (first % 7)) * np.linspace(0.2, 1.5, spectra.shape[1], dtype=np.float32)


@needs_stream
@pytest.mark.parametrize("n_fft, hop, window, channels, batch", [(1024, 256, "hann", 1, 8), (256, 64, "hann", 2, 4), (101, 25, "hamming", 2, 3),
                                                                  (2048, 88, "asymmetric", 1, 8), (512, 48, "asymmetric", 2, 1)])
def test_stream_kernels_equal_the_numpy_stft(rng, n_fft, hop, window, channels, batch):
    """Framing, windows, FFTs, overlap-add, the input check and its counts: the compiled route equals the numpy calls."""
    x = rng.standard_normal((12000, channels)).astype(np.float32)
    x[3000:3010, 0] = np.nan
    x[7000, -1] = np.inf
    x[9000, 0] = 2e6  # beyond LOUDEST_SAMPLE
    blocks = rng.integers(1, 3 * hop, size=400)
    results = []
    for compiled in (False, True):
        engine = StreamingSTFT(n_fft, hop, window, channels, _ramp, batch_frames=batch, compiled=compiled)
        assert engine.compiled is compiled
        out, position = np.zeros_like(x), 0
        for n in blocks:
            engine.process(x[position : position + n].copy(), out[position : position + n])
            position += n
            if position >= x.shape[0]:
                break
        results.append((out, engine.nonfinite_samples, engine.nonfinite_frames, engine.frames_processed))
    (numpy_out, *numpy_counts), (compiled_out, *compiled_counts) = results
    assert numpy_counts == compiled_counts and numpy_counts[0] == 12
    np.testing.assert_allclose(compiled_out, numpy_out, atol=2e-6)


@needs_stream
def test_frame_separate_equals_start_solve_and_mask(rng):
    """The one-call kernel of a live frame is the three kernels it replaces, in order."""
    W = (rng.random((129, 8)) + 0.01).astype(np.float32)
    spectra = (rng.standard_normal((2, 129)) + 1j * rng.standard_normal((2, 129))).astype(np.complex64)
    h0 = (rng.random((2, 8)) + 0.1).astype(np.float32)
    solver = nmf.FrameSolver(W, beta=0.5, iterations=7, tolerance=1e-4, max_rows=2, compiled=True)
    masker = Masker(W, [1, 3, 6], "ratio", 1.5, 2, compiled=True)
    v, h, expected = np.empty((2, 129), np.float32), h0.copy(), spectra.copy()
    solver.begin(expected, v, h, power=1.0, warm=True, flat_share=0.2)
    updates = solver.solve(v, h)
    masker.apply(expected, h)
    fused_v, fused_h, fused = np.empty((2, 129), np.float32), h0.copy(), spectra.copy()
    assert kernels.load().frame_separate(fused, np.float32(1.0), fused_v, fused_h, True, np.float32(0.2), *solver.kernel_arguments,
                                         *masker.kernel_arguments) == updates
    np.testing.assert_array_equal(fused_h, h)
    np.testing.assert_array_equal(fused, expected)


def test_without_rocket_fft_the_numpy_ffts_run():
    """numba without rocket-fft: the per-frame kernels run, the streaming STFT keeps numpy's FFTs (and says so when asked for)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import sys; sys.modules['rocket_fft'] = None\n"
            "from realtime_nmf import kernels; from realtime_nmf.stft import StreamingSTFT\n"
            "print(kernels.load_stream() is None, StreamingSTFT(64, 16, 'hann', 1, print).compiled)\n"
            "StreamingSTFT(64, 16, 'hann', 1, print, compiled=True)")
    done = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=root), capture_output=True, text=True)
    assert done.stdout.split() == ["True", "False"]
    assert done.returncode != 0 and "compiled=True needs numba and rocket-fft" in done.stderr
