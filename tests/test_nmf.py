"""The NMF kernels against naive references, monotonicity, and scikit-learn parity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from realtime_nmf import defaults, nmf
from realtime_nmf.nmf.fit import _Objective
from realtime_nmf.nmf.updates import SWEEP_BLOCK_BYTES
from realtime_nmf.errors import ParameterError

BETAS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
EPS = defaults.EPS


# ---------------------------------------------------------------------------------------
# naive references: textbook formulas, float64, one entry at a time where it matters


def naive_divergence(X, Y, beta):
    total = 0.0
    for x, y in zip(np.ravel(X).astype(float), np.ravel(Y).astype(float)):
        y = max(y, EPS)
        if beta == 2:
            total += 0.5 * (x - y) ** 2
        elif beta == 1:
            total += (x * np.log(x / y) if x > 0 else 0.0) - x + y
        elif beta == 0:
            x = max(x, EPS)
            total += x / y - np.log(x / y) - 1
        else:
            total += (x**beta + (beta - 1) * y**beta - beta * x * y ** (beta - 1)) / (beta * (beta - 1))
    return total


def naive_gamma(beta):
    if beta < 1:
        return 1 / (2 - beta)
    if beta > 2:
        return 1 / (beta - 1)
    return 1.0


def naive_model(W, H, beta):
    """W @ H with the documented guard: plus EPS for every beta but 1 and 2."""
    return W @ H + EPS if beta not in (1.0, 2.0) else np.maximum(W @ H, EPS)


def naive_update_h(V, W, H, beta, sparsity=0.0, gamma=None):
    WH = naive_model(W, H, beta)
    num = W.T @ (V * WH ** (beta - 2))
    den = np.maximum(W.T @ WH ** (beta - 1) + sparsity, EPS)
    return np.maximum(H * (num / den) ** (naive_gamma(beta) if gamma is None else gamma), EPS)


def naive_update_w(V, W, H, beta):
    WH = naive_model(W, H, beta)
    num = (V * WH ** (beta - 2)) @ H.T
    den = np.maximum(WH ** (beta - 1) @ H.T, EPS)
    return np.maximum(W * (num / den) ** naive_gamma(beta), EPS)


def random_problem(rng, n_bins=17, n_frames=23, k=4):
    W = rng.random((n_bins, k)) + 0.05
    H = rng.random((k, n_frames)) + 0.05
    V = W @ H * rng.uniform(0.5, 1.5, (n_bins, n_frames))
    V[rng.random(V.shape) < 0.1] = 0.0  # some exact zeros, as in real spectrograms
    return V, rng.random((n_bins, k)) + 0.1, rng.random((k, n_frames)) + 0.1


# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", BETAS)
def test_divergence_matches_naive(rng, beta):
    V, W, H = random_problem(rng)
    assert nmf.beta_divergence(V, W @ H, beta) == pytest.approx(naive_divergence(V, W @ H, beta), rel=1e-10)


@pytest.mark.parametrize("beta", BETAS)
def test_mu_exponent(beta):
    assert nmf.mu_exponent(beta) == naive_gamma(beta)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, (6, 5), elements=st.floats(0.0, 1e3)),
    st.sampled_from(BETAS),
)
def test_divergence_is_nonnegative_and_zero_on_equality(X, beta):
    Y = X + 1.0
    assert nmf.beta_divergence(X, Y, beta) >= -1e-9
    Z = np.maximum(X, 1e-3)
    assert nmf.beta_divergence(Z, Z, beta) == pytest.approx(0.0, abs=1e-6 * max(1.0, float(Z.sum())))


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("sparsity", [0.0, 0.3])
def test_update_h_matches_naive(rng, beta, sparsity):
    V, W, H = random_problem(rng)
    expected = naive_update_h(V, W, H, beta, sparsity)
    got = nmf.update_h(V, W, H.copy(), beta, sparsity=sparsity)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("beta", BETAS)
def test_update_w_matches_naive(rng, beta):
    V, W, H = random_problem(rng)
    np.testing.assert_allclose(nmf.update_w(V, W.copy(), H, beta), naive_update_w(V, W, H, beta), rtol=1e-10)


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("sparsity", [0.0, 0.3])
@pytest.mark.parametrize("block", [1, 5, 23, 64])
def test_update_hw_matches_naive_h_then_w(rng, beta, sparsity, block):
    """The training sweep, block by block, equals the naive H update followed by the naive W update."""
    V, W, H = random_problem(rng)
    expected_h = naive_update_h(V, W, H, beta, sparsity)
    expected_w = naive_update_w(V, W, expected_h, beta)
    workspace = (np.empty((V.shape[0], block)), np.empty((V.shape[0], block)))
    got_w, got_h = nmf.update_hw(V, W.copy(), H.copy(), beta, sparsity=sparsity, workspace=workspace)
    np.testing.assert_allclose(got_h, expected_h, rtol=1e-10)
    np.testing.assert_allclose(got_w, expected_w, rtol=1e-10)


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-9), (np.float32, 1e-6)])
def test_training_objective_equals_the_divergence(rng, beta, dtype, rtol):
    """fit's objective (V-only sums precomputed, the model summed from W and H) equals beta_divergence plus the penalty."""
    V, W, H = (x.astype(dtype) for x in random_problem(rng, n_bins=40, n_frames=57, k=5))
    objective = _Objective(V, beta, (np.empty((40, 16), dtype), np.empty((40, 16), dtype)))
    expected = naive_divergence(V, W.astype(float) @ H.astype(float), beta)
    assert objective(W, H) == pytest.approx(expected, rel=rtol)
    assert objective(W, H, 0.3) == pytest.approx(expected + 0.3 * H.astype(float).sum(), rel=rtol)


def test_sweep_workspace_fits_the_cache_budget():
    V = np.zeros((1025, 5000), np.float32)
    ratio, model = nmf.sweep_workspace(V)
    assert ratio.shape == model.shape == (1025, SWEEP_BLOCK_BYTES // (4 * 1025))
    assert nmf.sweep_workspace(np.zeros((1025, 7), np.float32))[0].shape == (1025, 7)


@pytest.mark.parametrize("beta", BETAS)
def test_frame_solver_matches_naive_updates(rng, beta):
    """The real-time kernel (float32, preallocated, frames as rows) equals repeated naive updates."""
    V, W, _ = random_problem(rng, n_bins=33, n_frames=3, k=5)
    W = W / np.linalg.norm(W, axis=0)
    h0 = rng.random((5, 3)) + 0.1
    solver = nmf.FrameSolver(W, beta=beta, iterations=7, tolerance=0.0, sparsity=0.1, max_rows=4)
    h = np.ascontiguousarray(h0.T, dtype=np.float32)
    assert solver.solve(np.ascontiguousarray(V.T, dtype=np.float32), h) == 7
    expected = h0.copy()
    gamma = 1.0 if 0 < beta <= 2 else naive_gamma(beta)  # the heuristic exponent where it is monotone
    for _ in range(7):
        expected = naive_update_h(V, W, expected, beta, 0.1, gamma)
    np.testing.assert_allclose(h.T, expected, rtol=2e-4)


@pytest.mark.parametrize("beta", BETAS)
def test_frame_solver_never_increases_the_divergence(rng, beta):
    """Each real-time update lowers (or keeps) every frame's divergence, also with the heuristic exponent."""
    V, W, _ = random_problem(rng, n_bins=40, n_frames=6, k=5)
    Vt = np.ascontiguousarray(V.T, dtype=np.float32)
    solver = nmf.FrameSolver(W, beta=beta, iterations=1, max_rows=6)
    h = np.full((6, 5), 0.3, np.float32)
    previous = [nmf.beta_divergence(V[:, m].astype(np.float64), (W @ h[m]).astype(np.float64), beta) for m in range(6)]
    for _ in range(40):
        solver.solve(Vt, h)
        current = [nmf.beta_divergence(V[:, m].astype(np.float64), (W @ h[m]).astype(np.float64), beta) for m in range(6)]
        assert all(c <= p * (1 + 1e-5) + 1e-9 for c, p in zip(current, previous)), (current, previous)
        previous = current


def test_frame_solver_stops_early_on_tolerance_row_by_row(rng):
    V, W, _ = random_problem(rng, n_frames=3)
    Vt = np.ascontiguousarray(V.T, dtype=np.float32)
    solver = nmf.FrameSolver(W, beta=1.0, iterations=500, tolerance=1e-3, max_rows=3)
    h = np.ones((3, W.shape[1]), np.float32)
    used = solver.solve(Vt, h)
    assert 1 < used < 500
    again = solver.solve(Vt, h)  # warm start from the converged point
    assert again < used
    # a row solved in a batch gets exactly the updates it gets alone
    alone = np.ones((1, W.shape[1]), np.float32)
    solver.solve(Vt[1:2], alone)
    batch = np.ones((3, W.shape[1]), np.float32)
    solver.solve(Vt, batch)
    np.testing.assert_allclose(batch[1:2], alone, rtol=1e-5)


@pytest.mark.parametrize("beta", BETAS)
def test_loss_never_increases(rng, beta):
    V, _, _ = random_problem(rng, n_bins=30, n_frames=40, k=5)
    result = nmf.fit(V, 5, beta=beta, iterations=60, tolerance=0.0, init="random", seed=3, check_every=1, dtype=np.float64)
    values = np.array([value for _, value in result.history])
    assert np.all(np.diff(values) <= 1e-9 * values[:-1]), values
    assert values[-1] < values[0]
    # the reported divergence is the true divergence of the result
    assert result.divergence == pytest.approx(nmf.beta_divergence(V, result.W @ result.H, beta), rel=1e-6)


@pytest.mark.parametrize("init", ["nndsvda", "random"])
def test_fit_is_deterministic_and_normalised(rng, init):
    V, _, _ = random_problem(rng, n_bins=30, n_frames=40, k=5)
    a = nmf.fit(V, 4, init=init, seed=5, iterations=30)
    b = nmf.fit(V, 4, init=init, seed=5, iterations=30)
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_allclose(np.linalg.norm(a.W, axis=0), 1.0, rtol=1e-5)
    assert a.W.dtype == np.float32 and (a.W > 0).all() and (a.H > 0).all()


def test_fit_stops_on_tolerance(rng):
    V, _, _ = random_problem(rng, n_bins=30, n_frames=40, k=3)
    result = nmf.fit(V, 3, iterations=5000, tolerance=1e-3)
    assert result.converged and result.iterations < 5000


def test_fixed_components_stay_fixed(rng):
    V, W, _ = random_problem(rng, n_bins=30, n_frames=40, k=4)
    W0 = W / np.linalg.norm(W, axis=0)
    result = nmf.fit(V, 4, W_init=W0, H_init=np.ones((4, 40)), fixed_components=[0, 2], iterations=20, dtype=np.float64)
    np.testing.assert_allclose(result.W[:, [0, 2]], W0[:, [0, 2]], rtol=1e-12)
    assert not np.allclose(result.W[:, 1], W0[:, 1])


def test_sparsity_makes_activations_sparser(rng):
    V, _, _ = random_problem(rng, n_bins=30, n_frames=60, k=6)
    plain = nmf.fit(V, 6, iterations=100, tolerance=0, seed=1)
    sparse = nmf.fit(V, 6, iterations=100, tolerance=0, seed=1, sparsity=2.0)

    def l1_over_l2(H):
        return float(np.sum(H) / np.sqrt(np.sum(H**2)))

    assert l1_over_l2(sparse.H) < l1_over_l2(plain.H)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(beta=-1), "beta=-1"),
        (dict(n_components=0), "n_components=0"),
        (dict(iterations=0), "iterations=0"),
        (dict(init="svd"), "init='svd'"),
    ],
)
def test_fit_rejects_bad_parameters(rng, kwargs, message):
    V, _, _ = random_problem(rng)
    args = dict(n_components=3)
    args.update(kwargs)
    with pytest.raises(ParameterError, match=message):
        nmf.fit(V, **args)


def test_fit_rejects_bad_data():
    with pytest.raises(ParameterError, match="not finite"):
        nmf.fit(np.full((5, 5), np.nan), 2)
    with pytest.raises(ParameterError, match="negative"):
        nmf.fit(-np.ones((5, 5)), 2)
    with pytest.raises(ParameterError, match="all zeros"):
        nmf.fit(np.zeros((5, 5)), 2)


# ---------------------------------------------------------------------------------------
# scikit-learn parity


def _sklearn_transform(V, W, beta, max_iter):
    from sklearn.decomposition import non_negative_factorization

    beta_loss = {2.0: "frobenius", 1.0: "kullback-leibler", 0.0: "itakura-saito"}.get(beta, beta)
    # what NMF.transform does: H-only solve with the components fixed (update_H=False)
    H_t, _, _ = non_negative_factorization(
        V.T.astype(np.float64), H=W.T.astype(np.float64), n_components=W.shape[1], update_H=False, solver="mu",
        beta_loss=beta_loss, max_iter=max_iter, tol=1e-4,
    )
    return H_t.T


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_h_solve_reaches_sklearn_divergence(small_dictionary, stethoscope, beta):
    pytest.importorskip("sklearn")
    from realtime_nmf.stft import magnitude_spectrogram

    d = small_dictionary
    V = magnitude_spectrogram(stethoscope["mixture"][40000:60000], d.n_fft, d.hop_length) + (1e-6 if beta == 0 else 0)
    W = d.W.astype(np.float64)
    H_sklearn = _sklearn_transform(V, W, beta, max_iter=500)
    reference = nmf.beta_divergence(V, W @ H_sklearn, beta)
    H_batch = nmf.solve_activations(V, d.W, beta=beta, iterations=500, tolerance=1e-6)
    assert nmf.beta_divergence(V, W @ H_batch, beta) <= 1.01 * reference
    # the per-frame real-time solver, warm-started frame to frame, given enough updates
    solver = nmf.FrameSolver(d.W, beta=beta, iterations=300, tolerance=1e-6)
    H_frames = np.empty_like(H_batch)
    h = np.zeros((1, d.n_components), np.float32)
    for m in range(V.shape[1]):
        v = np.ascontiguousarray(V[:, m : m + 1].T)
        if m == 0:
            solver.start(v, h)
        solver.solve(v, h)
        H_frames[:, m] = h[0]
    assert nmf.beta_divergence(V, W @ H_frames, beta) <= 1.01 * reference


def test_nndsvda_with_more_components_than_bins_is_a_clear_error(rng):
    V = rng.random((9, 50)).astype(np.float32)
    with pytest.raises(ParameterError, match="n_components=16 is more than the 9 frequency bins x 50 frames allow"):
        nmf.fit(V, 16, iterations=2)
    assert nmf.fit(V, 16, iterations=2, init="random").W.shape == (9, 16)
