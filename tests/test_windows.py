"""Window designs: the asymmetric low-latency pair, its reconstruction and its latency, through the streaming engine."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_nmf.errors import ParameterError
from realtime_nmf.evaluate import snr
from realtime_nmf.processors import NMFSeparator
from realtime_nmf.stft import StreamingSTFT, istft, stft, streaming_latency, validate_stft_settings
from realtime_nmf.windows import (ASYMMETRIC, analysis_window, base_window, hann, hop_for_latency, synthesis_length, synthesis_window,
                                  window_latency)

from .test_engine import feed

BLOCK_SIZES = [1, 64, 65, 128, 8192, 8193]


def naive_hann(n):
    return np.array([0.5 * (1 - np.cos(2 * np.pi * k / n)) for k in range(n)])


def test_hann_is_the_periodic_hann_scipy_gives():
    scipy_signal = pytest.importorskip("scipy.signal")
    for n in (2, 7, 64, 255, 256):
        np.testing.assert_allclose(hann(n), scipy_signal.get_window("hann", n, fftbins=True), atol=1e-15)
        np.testing.assert_allclose(base_window("hann", n), naive_hann(n), atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(n_fft=st.integers(4, 600), data=st.data())
def test_asymmetric_pair_multiplies_to_a_hann_of_two_hops(n_fft, data):
    hop = data.draw(st.integers(1, n_fft // 2))
    a = analysis_window(ASYMMETRIC, n_fft, hop)
    s = synthesis_window(ASYMMETRIC, n_fft, hop)
    L = synthesis_length(ASYMMETRIC, n_fft, hop)
    assert L == 2 * hop and window_latency(ASYMMETRIC, n_fft, hop) == 2 * hop - 1
    expected = np.zeros(n_fft)
    expected[n_fft - 2 * hop :] = naive_hann(2 * hop)
    np.testing.assert_allclose(a * s, expected, atol=1e-12)
    assert np.all(s[: n_fft - 2 * hop] == 0)
    assert np.all(a >= 0) and np.all(s >= 0) and a.max() <= 1 + 1e-12
    # the analysis window rises over the first K - M samples and falls over the last M
    assert np.all(np.diff(a[: n_fft - hop]) >= -1e-12) and np.all(np.diff(a[n_fft - hop :]) <= 1e-12)
    # the product overlap-adds to exactly one at hop M (every sample of a long stretch)
    ola = np.zeros(n_fft + 8 * hop)
    for start in range(0, ola.size - n_fft + 1, hop):
        ola[start : start + n_fft] += a * s
    np.testing.assert_allclose(ola[n_fft : n_fft + 4 * hop], 1.0, atol=1e-12)


def test_asymmetric_with_half_overlap_is_the_square_root_hann_pair():
    a = analysis_window(ASYMMETRIC, 256, 128)
    np.testing.assert_allclose(a, np.sqrt(naive_hann(256)), atol=1e-12)
    np.testing.assert_allclose(synthesis_window(ASYMMETRIC, 256, 128), np.sqrt(naive_hann(256)), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(n_fft=st.sampled_from([16, 100, 256, 1024, 2048]), hop_divisor=st.sampled_from([2, 3, 4, 8, 16, 23]))
def test_offline_asymmetric_stft_istft_is_identity(n_fft, hop_divisor):
    hop = max(1, n_fft // hop_divisor)
    x = np.random.default_rng(n_fft + hop).standard_normal((4000, 2)).astype(np.float32)
    y = istft(stft(x, n_fft, hop, ASYMMETRIC), n_fft, hop, ASYMMETRIC, length=x.shape[0])
    np.testing.assert_allclose(y, x, atol=3e-5)


@pytest.mark.parametrize("n_fft, hop", [(256, 16), (2048, 88), (2048, 96), (64, 32)])
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_streaming_asymmetric_stft_is_the_input_delayed_by_two_hops_less_one(rng, n_fft, hop, block_size):
    x = rng.standard_normal((12000, 2)).astype(np.float32)
    engine = StreamingSTFT(n_fft, hop, ASYMMETRIC, 2, lambda spectra, first: None, batch_frames=4)
    assert engine.latency == streaming_latency(n_fft, hop, ASYMMETRIC) == 2 * hop - 1
    padded = np.concatenate([x, np.zeros((engine.latency, 2), np.float32)])
    y = feed(engine, padded, [block_size])
    assert snr(x, y[engine.latency :]) > 100.0  # float32 round-off only
    np.testing.assert_allclose(y[: engine.latency], 0, atol=1e-6)


def test_an_impulse_comes_out_exactly_one_latency_later():
    engine = StreamingSTFT(2048, 88, ASYMMETRIC, 1, lambda spectra, first: None)
    x = np.zeros((6000, 1), np.float32)
    x[1234] = 1.0
    y = feed(engine, x, [64])
    assert int(np.argmax(np.abs(y[:, 0]))) == 1234 + 175
    assert abs(y[1234 + 175, 0] - 1.0) < 1e-5


def asymmetric_dictionary(stethoscope, hop=16):
    from realtime_nmf.training import learn_dictionary

    return learn_dictionary([stethoscope["mixture"][:40000]], 4000, n_components=10, iterations=40, n_fft=256, hop_length=hop,
                            window=ASYMMETRIC, beta=0.5)


@pytest.fixture(scope="module")
def low_latency_dictionary(stethoscope):
    return asymmetric_dictionary(stethoscope)


def test_keep_all_is_the_input_delayed_by_exactly_the_reported_latency(low_latency_dictionary, stethoscope):
    d = low_latency_dictionary
    assert d.latency_samples == 31  # 7.75 ms at 4 kHz instead of 63.75 ms
    x = stethoscope["mixture"][40000:60000]
    separator = NMFSeparator(d, keep="all")
    separator.prepare(4000, 1)
    assert separator.latency == 31
    y = feed(separator, x[:, None], [64])[:, 0]
    assert snr(x[: -31], y[31:]) > 60.0
    compensated = NMFSeparator(d, keep="all")(x, 4000, block_size=100)  # file mode: latency compensated, same length
    assert compensated.shape == x.shape and snr(x, compensated) > 60.0


@pytest.mark.parametrize("batch", [1, 8])
def test_asymmetric_output_does_not_depend_on_block_size(low_latency_dictionary, stethoscope, batch):
    x = np.stack([stethoscope["mixture"][40000:56000], stethoscope["mixture"][50000:66000]], axis=1)
    separator = NMFSeparator(low_latency_dictionary, keep=[0, 2, 5], batch_frames=batch)
    outputs = []
    for sizes in [[size] for size in BLOCK_SIZES] + [[1, 100, 7, 1000, 63]]:
        separator.prepare(4000, 2)
        outputs.append(feed(separator, x, sizes))
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], atol=2e-6)


def test_asymmetric_streaming_equals_offline(low_latency_dictionary, stethoscope):
    x = stethoscope["mixture"][40000:60000]
    separator = NMFSeparator(low_latency_dictionary, keep="0-3")
    np.testing.assert_allclose(separator(x, 4000, block_size=333), separator.separate_offline(x), atol=1e-5)


@pytest.mark.parametrize("ms, sr, n_fft, hop", [(4, 44100, 2048, 88), (4, 48000, 2048, 96), (8, 4000, 256, 16), (7.5, 4000, 256, 15),
                                                (1.5, 4000, 256, 3), (1000, 4000, 256, 64), (0.25, 4000, 256, 1), (0.5, 4000, 256, 1)])
def test_hop_for_latency(ms, sr, n_fft, hop):
    assert hop_for_latency(ms, sr, n_fft) == hop
    assert window_latency(ASYMMETRIC, n_fft, hop) <= ms * sr / 1000


def test_window_designs_are_validated():
    with pytest.raises(ParameterError, match="hop_length <= n_fft / 2"):
        validate_stft_settings(256, 129, ASYMMETRIC)
    with pytest.raises(ParameterError, match="shorter than one sample"):
        hop_for_latency(0.1, 4000, 256)
    with pytest.raises(ParameterError, match="positive number of milliseconds"):
        hop_for_latency(-2, 4000, 256)
    with pytest.raises(ParameterError, match="number of milliseconds"):
        hop_for_latency("soon", 4000, 256)
    with pytest.raises(ParameterError, match="asymmetric"):
        validate_stft_settings(64, 16, "no-such-window")
