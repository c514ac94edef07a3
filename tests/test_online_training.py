"""Online (out-of-core) training: the update against naive references, recovery, stability, memory, loss."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from scipy.optimize import linear_sum_assignment

from realtime_nmf.dictionary import Dictionary
from realtime_nmf.errors import ParameterError
from realtime_nmf.file_frames import ArrayFrames, FrameReader
from realtime_nmf.nmf import beta_divergence, fit, initialize, solve_activations, update_w
from realtime_nmf.online_data import initial_templates, plan_pass
from realtime_nmf.online_nmf import OnlineNMF, batch_statistics, online_fit, update_exponents
from realtime_nmf.online_training import (full_batch_memory, learn_dictionary_online, learn_labelled_dictionary_online, spectrogram_bytes,
                                          train_dictionary_online, train_labelled_dictionary_online)
from realtime_nmf.stft import magnitude_spectrogram

BETAS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]


def _synthetic(rng, n_bins=40, n_components=5, n_frames=6000, noise=0.0):
    """A non-negative V = W H with distinct, partly overlapping templates and sparse activations."""
    bins = np.arange(n_bins)[:, None]
    centres = np.linspace(4, n_bins - 5, n_components)[None, :]
    W = np.exp(-0.5 * ((bins - centres) / 2.5) ** 2) + 0.05 * rng.random((n_bins, n_components))
    W /= np.linalg.norm(W, axis=0)
    H = rng.gamma(0.4, 1.0, (n_components, n_frames)) * (rng.random((n_components, n_frames)) < 0.5)
    V = W @ H + noise * rng.random((n_bins, n_frames))
    return W.astype(np.float32), H.astype(np.float32), V.astype(np.float32)


def _naive_statistics(V, W, H, beta):
    V, W, H = (np.asarray(x, np.float64) for x in (V, W, H))
    Y = W @ H + (0.0 if beta == 2 else 1e-10)
    num = (V * Y ** (beta - 2)) @ H.T
    den = (Y ** (beta - 1)) @ H.T
    return num, den, beta_divergence(V, Y, beta)


@pytest.mark.parametrize("beta", BETAS)
def test_batch_statistics_match_the_naive_formulas(rng, beta):
    _, _, V = _synthetic(rng, n_frames=300, noise=0.01)
    V[:, :5] = 0.0  # silent frames
    W = np.maximum(initialize(V, 5)[0], 1e-3).astype(np.float32)
    H = solve_activations(V, W, beta=beta, iterations=30)
    num, den, value = batch_statistics(V, W, H, beta)
    num_ref, den_ref, value_ref = _naive_statistics(V, W, H, beta)
    np.testing.assert_allclose(num, num_ref, rtol=2e-4, atol=1e-6 * np.abs(num_ref).max())
    np.testing.assert_allclose(den, den_ref, rtol=2e-4, atol=1e-6 * np.abs(den_ref).max())
    assert value == pytest.approx(value_ref, rel=2e-4, abs=1e-6)


def _naive_online(W0, batches, forgets, beta, solver_iterations):
    """The update as the module doc writes it, one line per step, in float64."""
    gamma, a, b = update_exponents(beta)
    W = np.asarray(W0, np.float64)
    W = np.maximum(W, 1e-10)
    W = np.maximum(W / np.linalg.norm(W, axis=0), 1e-10)
    A = np.zeros_like(W)
    B = np.zeros_like(W)
    for V, rho in zip(batches, forgets):
        H = solve_activations(V, W.astype(np.float32), beta=beta, iterations=solver_iterations, tolerance=1e-4)
        num, den, _ = _naive_statistics(V, W.astype(np.float32), H, beta)
        A = rho * A + num * W.astype(np.float32).astype(np.float64) ** a
        B = rho * B + den * W.astype(np.float32).astype(np.float64) ** b
        W = (A / np.maximum(B, 1e-10)) ** gamma
        W = np.maximum(W / np.linalg.norm(W, axis=0), 1e-10)
    return W


@pytest.mark.parametrize("beta", BETAS)
def test_partial_fit_follows_the_naive_reference(rng, beta):
    _, _, V = _synthetic(rng, n_frames=900, noise=0.01)
    W0 = initialize(V, 5)[0]
    batches = [V[:, i : i + 150] for i in range(0, 900, 150)]
    forgets = [0.0, 0.5, 0.2, 1.0, 0.7, 0.3]
    model = OnlineNMF(W0, beta=beta, solver_iterations=15, solver_tolerance=1e-4)
    for batch, rho in zip(batches, forgets):
        model.partial_fit(batch, forget=rho)
    reference = _naive_online(W0, batches, forgets, beta, 15)
    np.testing.assert_allclose(model.W, reference, rtol=5e-3, atol=1e-5)
    assert model.n_updates == 6 and model.n_frames == 900
    np.testing.assert_allclose(np.linalg.norm(model.W, axis=0), 1.0, atol=1e-5)


@pytest.mark.parametrize("beta", [0.0, 1.0, 1.5, 2.0, 3.0])
def test_one_mini_batch_without_history_is_the_batch_multiplicative_update(rng, beta):
    # for these beta the online step is the majorisation-minimisation update of realtime_nmf.nmf.update_w
    _, _, V = _synthetic(rng, n_frames=400, noise=0.01)
    model = OnlineNMF(initialize(V, 5)[0], beta=beta, solver_iterations=25)
    W, H = model.W.copy(), model.transform(V)
    model.partial_fit(V, forget=0.0)
    expected = update_w(V, W.copy(), H, beta)
    expected /= np.linalg.norm(expected, axis=0)
    np.testing.assert_allclose(model.W, expected, rtol=2e-3, atol=1e-6)


@pytest.mark.parametrize("beta", [0.5, 1.0])
def test_online_training_recovers_a_synthetic_dictionary(rng, beta):
    W_true, _, V = _synthetic(rng, n_frames=20000)
    result = online_fit([ArrayFrames(V[:, :12000]), ArrayFrames(V[:, 12000:])], 5, beta=beta, batch_frames=512, run_frames=32,
                        passes=3, seed=0)
    W = result["W"]
    cosine = (W_true / np.linalg.norm(W_true, axis=0)).T @ (W / np.linalg.norm(W, axis=0))
    rows, cols = linear_sum_assignment(-cosine)
    assert cosine[rows, cols].min() > 0.99, np.round(cosine[rows, cols], 4)
    assert result["n_frames"] == 20000 and 3 * 40 <= result["n_updates"] <= 3 * 42  # 20000 frames in mini-batches of up to 512


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.0])
def test_a_thousand_mini_batches_stay_finite(rng, beta):
    """Long runs with silence, very loud and very quiet stretches: no overflow, no NaN, no decay to zero."""
    _, _, V = _synthetic(rng, n_frames=2400, noise=1e-4)
    V[:, 100:400] = 0.0  # silence
    V[:, 800:1000] *= 1e4  # loud
    V[:, 1500:1700] *= 1e-6  # nearly silent
    model = OnlineNMF(initialize(V, 5)[0], beta=beta, solver_iterations=5, solver_tolerance=0.0)
    order = np.random.default_rng(3)
    for step in range(1200):
        start = int(order.integers(0, V.shape[1] - 24))
        value = model.partial_fit(V[:, start : start + 24], forget=0.9)
        assert np.isfinite(value)
    assert model.n_updates == 1200
    assert np.isfinite(model.W).all() and np.isfinite(model.A).all() and np.isfinite(model.B).all()
    assert np.abs(model.A).max() < 1e30 and np.abs(model.B).max() < 1e30
    np.testing.assert_allclose(np.linalg.norm(model.W, axis=0), 1.0, atol=1e-5)


def test_plan_pass_visits_every_frame_once_in_bounded_shuffled_mini_batches():
    counts = [1000, 37, 5, 4096]
    rng = np.random.default_rng(0)
    first, second = plan_pass(counts, 256, 64, rng), plan_pass(counts, 256, 64, rng)
    for plan in (first, second):
        seen = [np.zeros(n, int) for n in counts]
        for runs in plan:
            assert 0 < (runs[:, 2] - runs[:, 1]).sum() <= 256
            assert ((runs[:, 2] - runs[:, 1]) <= 64).all()
            for clip, start, stop in runs:
                seen[clip][start:stop] += 1
        assert all((s == 1).all() for s in seen)
    assert [r.tolist() for r in first] != [r.tolist() for r in second]  # a new order every pass
    again = plan_pass(counts, 256, 64, np.random.default_rng(0))
    assert [r.tolist() for r in again] == [r.tolist() for r in first]  # seeded


def _nndsvda(V, k):
    """NNDSVDA's templates from the exact SVD of the whole matrix (Boutsidis and Gallopoulos 2008, zeros filled with the mean)."""
    U, S, Vt = np.linalg.svd(V.astype(np.float64), full_matrices=False)
    W = np.zeros((V.shape[0], k))
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    for j in range(1, k):
        x, y = U[:, j], Vt[j]
        xp, xn, yp, yn = np.maximum(x, 0), np.maximum(-x, 0), np.maximum(y, 0), np.maximum(-y, 0)
        mp, mn = np.linalg.norm(xp) * np.linalg.norm(yp), np.linalg.norm(xn) * np.linalg.norm(yn)
        u, sigma = (xp / np.linalg.norm(xp), mp) if mp > mn else (xn / np.linalg.norm(xn), mn)
        W[:, j] = np.sqrt(S[j] * sigma) * u
    W[W < 1e-10] = V.mean()
    return W


def test_streaming_initialisation_equals_nndsvda_of_the_whole_spectrogram(stethoscope):
    y = stethoscope["mixture"]
    pieces = [y[:30000], y[30000:51000], y[51000:]]
    readers = [FrameReader(p, sample_rate=4000, n_fft=256, hop_length=64) for p in pieces]
    V = np.concatenate([magnitude_spectrogram(p, 256, 64) for p in pieces], axis=1)
    streamed = initial_templates(readers, 8, chunk_frames=100)
    np.testing.assert_allclose(streamed, _nndsvda(V, 8), rtol=1e-3, atol=1e-6 * V.mean())
    W = initialize(V, 8)[0]  # the batch initialisation (a randomised SVD) agrees closely
    cosine = np.sum((W / np.linalg.norm(W, axis=0)) * (streamed / np.linalg.norm(streamed, axis=0)), axis=0)
    assert cosine.min() > 0.99, np.round(cosine, 4)
    random = initial_templates(readers, 8, init="random", seed=3)
    assert random.shape == (129, 8) and (random >= 0).all()
    np.testing.assert_array_equal(random, initial_templates(readers, 8, init="random", seed=3))


def _held_out(W, V, beta):
    H = solve_activations(V, W, beta=beta, iterations=300, tolerance=1e-7)
    return beta_divergence(V, W @ H, beta) / V.shape[1]


def test_loss_falls_over_the_passes_and_held_out_divergence_reaches_the_batch_fit(stethoscope):
    y = stethoscope["mixture"]
    train, test = y[:60000], y[60000:]
    V_test = magnitude_spectrogram(test, 256, 64)
    readers = [FrameReader(train, sample_rate=4000, n_fft=256, hop_length=64)]
    # 15 s of training audio: small mini-batches, so that six passes make enough updates
    result = online_fit(readers, 8, beta=0.5, batch_frames=64, run_frames=8, passes=6, seed=0)
    history = result["history"]
    # the mini-batches' divergence, each measured before its update, falls pass after pass
    assert all(later < earlier for earlier, later in zip(history, history[1:])), history
    start = _held_out(initial_templates(readers, 8), V_test, 0.5)
    online = _held_out(result["W"], V_test, 0.5)
    batch = _held_out(fit(magnitude_spectrogram(train, 256, 64), 8, beta=0.5, iterations=200, tolerance=0).W, V_test, 0.5)
    assert online < 0.8 * start
    assert online < 1.03 * batch, (online, batch)


def test_learn_dictionary_online_from_signals_and_files(stethoscope, tmp_path):
    y = stethoscope["mixture"]
    sf.write(tmp_path / "a.wav", np.stack([y[:40000], y[:40000]], axis=1), 4000, subtype="FLOAT")  # stereo, mixed to mono
    sf.write(tmp_path / "b.wav", y[40000:], 4000, subtype="FLOAT")
    kwargs = dict(n_components=6, n_fft=256, hop_length=64, batch_frames=256, passes=2, seed=1)
    d = train_dictionary_online([tmp_path / "a.wav", tmp_path / "b.wav"], **kwargs)
    same = learn_dictionary_online([y[:40000], y[40000:]], 4000, **kwargs)
    np.testing.assert_allclose(d.W, same.W, atol=1e-6)  # files are read as the signals they hold
    assert isinstance(d, Dictionary) and d.W.shape == (129, 6) and d.sample_rate == 4000
    p = d.provenance
    assert p["method"] == "online" and p["sources"] == ["a.wav", "b.wav"] and p["n_frames"] == 2 * ((40000 + 255) // 64)
    assert p["online"]["passes"] == 2 and p["online"]["mini_batches"] >= 2 * (p["n_frames"] // 256)
    assert len(p["online"]["divergence_per_frame_by_pass"]) == 2 and p["duration_seconds"] == pytest.approx(20.0)
    np.testing.assert_allclose(np.linalg.norm(d.W, axis=0), 1.0, atol=1e-5)
    other = learn_dictionary_online([y], 4000, **dict(kwargs, seed=2))
    assert not np.allclose(other.W, same.W, atol=1e-3)
    again = learn_dictionary_online([y[:40000], y[40000:]], 4000, **kwargs)
    np.testing.assert_array_equal(again.W, same.W)  # seeded: the same run twice gives the same dictionary


def test_labelled_dictionaries_learned_online(stethoscope, tmp_path):
    heart, rest = stethoscope["heart"][:60000], (stethoscope["mixture"] - stethoscope["heart"])[:60000]
    options = dict(n_components=8, target_components=3, n_fft=256, hop_length=64, batch_frames=128, passes=2, seed=0)
    supervised = learn_labelled_dictionary_online([heart], 4000, background=[rest], target_label="heart", background_label="chest", **options)
    assert supervised.labels == ["heart"] * 3 + ["chest"] * 5 and supervised.provenance["method"] == "supervised"
    assert [stage["role"] for stage in supervised.provenance["stages"]] == ["target", "background"]
    alone = learn_dictionary_online([heart], 4000, **{k: v for k, v in options.items() if k != "target_components"} | {"n_components": 3})
    np.testing.assert_allclose(supervised.W[:, :3], alone.W, atol=1e-6)  # each part's templates: online NMF of that part alone
    semi = learn_labelled_dictionary_online([heart], 4000, mixtures=[heart + rest], **options)
    np.testing.assert_allclose(semi.W[:, :3], alone.W, atol=1e-6)  # held fixed while the mixtures are fitted
    assert semi.provenance["method"] == "semi-supervised" and semi.labels == ["target"] * 3 + ["background"] * 5
    np.testing.assert_allclose(np.linalg.norm(semi.W, axis=0), 1.0, atol=1e-5)
    sf.write(tmp_path / "heart.wav", heart, 4000, subtype="FLOAT")
    sf.write(tmp_path / "rest.wav", rest, 4000, subtype="FLOAT")
    from_files = train_labelled_dictionary_online([tmp_path / "heart.wav"], background=[tmp_path / "rest.wav"], target_label="heart",
                                                  background_label="chest", **options)
    np.testing.assert_allclose(from_files.W, supervised.W, atol=1e-6)
    assert from_files.provenance["sources"] == ["heart.wav", "rest.wav"]
    with pytest.raises(ParameterError, match="background-only audio or mixtures"):
        learn_labelled_dictionary_online([heart], 4000, **options)
    with pytest.raises(ParameterError, match="'passses' is not an option"):
        learn_labelled_dictionary_online([heart], 4000, background=[rest], passses=2)


def test_bad_settings_and_silent_audio_raise_clear_errors(stethoscope):
    y = stethoscope["mixture"][:8000]
    for option, value, match in (("batch_frames", 0, "batch_frames"), ("forget", 1.5, "forget"), ("passes", 0, "passes"),
                                 ("init", "svd", "init")):
        with pytest.raises(ParameterError, match=match):
            learn_dictionary_online([y], 4000, n_components=4, **{option: value})
    with pytest.raises(ParameterError, match="silent"):
        learn_dictionary_online([np.zeros(8000, np.float32)], 4000, n_components=4)
    with pytest.raises(ParameterError, match="fewer than n_components"):
        learn_dictionary_online([y[:300]], 4000, n_components=16)
    with pytest.raises(ParameterError, match="at least one audio file"):
        train_dictionary_online([])
    with pytest.raises(ParameterError, match="shorter than one analysis window"):
        learn_dictionary_online([y, y[:100]], 4000, n_components=4)
    broken = y.copy()
    broken[5000] = np.nan
    for init in ("random", "nndsvda"):  # found by the mini-batches, and by the initialisation's streaming passes
        with pytest.raises(ParameterError, match="NaN or infinite samples between"):
            learn_dictionary_online([broken], 4000, n_components=4, init=init)


def _write_long(path, minutes, sample_rate=4000, seed=0):
    """Minutes of a seeded tone-and-noise recording, written a second at a time."""
    rng = np.random.default_rng(seed)
    t = np.arange(sample_rate) / sample_rate
    with sf.SoundFile(path, "w", sample_rate, 1, "PCM_16") as handle:
        for second in range(int(minutes * 60)):
            tone = np.sin(2 * np.pi * (60 + 20 * (second % 7)) * t) * (second % 3 == 0)
            handle.write((0.3 * tone + 0.05 * rng.standard_normal(sample_rate)).astype(np.float32))


def _peak_bytes(path):
    tracemalloc.start()
    try:
        train_dictionary_online([path], n_components=8, passes=1, seed=0)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_does_not_grow_with_the_length_of_the_audio(tmp_path):
    _write_long(tmp_path / "one.wav", 1)
    _write_long(tmp_path / "sixty.wav", 60)
    one, sixty = _peak_bytes(tmp_path / "one.wav"), _peak_bytes(tmp_path / "sixty.wav")
    full = spectrogram_bytes([tmp_path / "sixty.wav"], 4000, 256, 64)[0]
    # the 60-minute spectrogram alone would take 116 MB; the peak stays that of one minute
    assert sixty < 1.25 * one + (1 << 20), (one, sixty)
    assert sixty < full / 10, (sixty, full)


def test_memory_estimates_of_full_batch_training(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros((8000 * 3, 2), np.float32), 8000)
    n_bytes, n_frames = spectrogram_bytes([tmp_path / "a.wav"], 4000, 256, 64)
    assert n_frames == (12000 + 255) // 64 and n_bytes == n_frames * 129 * 4
    assert full_batch_memory([tmp_path / "a.wav"], 4000, 256, 64) == int(1.85 * n_bytes) + 8 * 8000 * 3 * 2
