"""The streaming engine: perfect reconstruction, block-size invariance, streaming == offline, faults."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_nmf import kernels
from realtime_nmf.errors import ParameterError
from realtime_nmf.evaluate import snr
from realtime_nmf.processors import NMFSeparator
from realtime_nmf.stft import StreamingSTFT, istft, stft, streaming_latency, validate_stft_settings

BLOCK_SIZES = [1, 64, 65, 512, 8193]


@pytest.fixture(params=["numpy", pytest.param("compiled", marks=pytest.mark.skipif(kernels.load_stream() is None,
                                                                                     reason="numba or rocket-fft is not installed"))])
def path(request):
    """Both routes through the engine: numpy calls (file mode) and the compiled kernels a live engine prefers."""
    kernels.prefer_compiled(request.param == "compiled")  # conftest undoes it after the test
    return request.param


def feed(processor, x, block_sizes):
    """Run ``x`` through a prepared processor in blocks of the given sizes (cycled)."""
    out = np.empty_like(x)
    position, i = 0, 0
    while position < x.shape[0]:
        n = block_sizes[i % len(block_sizes)]
        processor.process(x[position : position + n], out[position : position + n])
        position += n
        i += 1
    return out


# ---------------------------------------------------------------------------------------
# STFT


@settings(max_examples=30, deadline=None)
@given(n_fft=st.sampled_from([16, 64, 100, 256, 512]), overlap=st.sampled_from([2, 3, 4, 8]), window=st.sampled_from(["hann", "hamming", "blackman"]))
def test_stft_istft_is_identity(n_fft, overlap, window):
    hop = max(1, n_fft // overlap)
    x = np.random.default_rng(n_fft + hop).standard_normal((3000, 2)).astype(np.float32)
    y = istft(stft(x, n_fft, hop, window), n_fft, hop, window, length=x.shape[0])
    np.testing.assert_allclose(y, x, atol=2e-5)


@pytest.mark.parametrize("n_fft, hop, window", [(256, 64, "hann"), (2048, 512, "hann"), (100, 30, "hamming")])
def test_stft_equals_librosa_on_the_same_framing(n_fft, hop, window):
    """librosa's STFT is the reference: with the signal zero-padded by n_fft - hop in front and
    center=False, its frames are ours."""
    librosa = pytest.importorskip("librosa", reason="librosa is the reference STFT")
    x = np.random.default_rng(n_fft).standard_normal(5000)
    ours = stft(x, n_fft, hop, window, dtype=np.complex128)[:, :, 0]
    padded = np.concatenate([np.zeros(n_fft - hop), x, np.zeros(n_fft)])
    reference = librosa.stft(padded, n_fft=n_fft, hop_length=hop, window=window, center=False)[:, : ours.shape[1]]
    assert reference.shape == ours.shape
    np.testing.assert_allclose(ours, reference, atol=1e-9 * np.abs(reference).max())


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_streaming_stft_is_identity_after_latency(rng, block_size, batch, path):
    x = rng.standard_normal((20000, 2)).astype(np.float32)
    engine = StreamingSTFT(256, 64, "hann", 2, lambda spectra, first: None, batch_frames=batch)
    assert engine.compiled is (path == "compiled")
    assert engine.latency == streaming_latency(256, 64) == 255
    padded = np.concatenate([x, np.zeros((engine.latency, 2), np.float32)])
    y = feed(engine, padded, [block_size])
    np.testing.assert_allclose(y[engine.latency :], x, atol=2e-5)
    np.testing.assert_allclose(y[: engine.latency], 0, atol=1e-6)  # nothing but FFT round-off before the latency


def test_stft_settings_are_validated():
    with pytest.raises(ParameterError, match="hop_length=2048 is larger than n_fft=1024"):
        validate_stft_settings(1024, 2048)
    with pytest.raises(ParameterError, match="does not overlap enough"):
        validate_stft_settings(64, 64, "hann")
    with pytest.raises(ParameterError, match="not a window"):
        validate_stft_settings(64, 16, "no-such-window")
    with pytest.raises(ParameterError, match="hop_length=0"):
        validate_stft_settings(64, 0)


# ---------------------------------------------------------------------------------------
# separator


def test_keeping_every_component_gives_the_input_back(small_dictionary, stethoscope):
    x = stethoscope["mixture"]
    y = NMFSeparator(small_dictionary, keep="all")(x, 4000)
    start = small_dictionary.n_fft
    assert snr(x[start:], y[start:]) >= 60.0


@pytest.mark.parametrize("mask, batch", [("ratio", 1), ("binary", 1), ("ratio", 8)])
def test_output_does_not_depend_on_block_size(small_dictionary, stethoscope, mask, batch, path):
    x = np.stack([stethoscope["mixture"][:30000], stethoscope["mixture"][10000:40000]], axis=1)
    separator = NMFSeparator(small_dictionary, keep=[0, 2, 5], mask=mask, mask_exponent=1.5, batch_frames=batch)
    outputs = []
    for block_size in BLOCK_SIZES:
        separator.prepare(4000, 2)
        assert separator._stft.compiled is separator._solver.compiled is (path == "compiled")
        outputs.append(feed(separator, x, [block_size]))
    separator.prepare(4000, 2)
    outputs.append(feed(separator, x, [1, 100, 7, 1000, 63]))  # irregular blocks
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], atol=2e-6)


@pytest.mark.parametrize("settings_", [dict(), dict(mask="binary"), dict(iterations=3, tolerance=0.0), dict(sparsity=0.5, mask_exponent=2.0),
                                       dict(batch_frames=4), dict(batch_frames=16, tolerance=0.05)])
def test_streaming_equals_offline_computation(small_dictionary, stethoscope, settings_, path):
    x = stethoscope["mixture"][:24000]
    separator = NMFSeparator(small_dictionary, keep="0-3", **settings_)
    streamed = separator(x, 4000, block_size=333)
    offline = separator.separate_offline(x)
    np.testing.assert_allclose(streamed, offline, atol=1e-5)


def test_output_is_aligned_and_has_the_input_length(small_dictionary, stethoscope):
    x = stethoscope["mixture"][:10001]
    separator = NMFSeparator(small_dictionary, keep="all")
    y = separator(x, 4000, block_size=4096)
    assert y.shape == x.shape
    lag = np.argmax(np.correlate(y[2000:6000], x[2000:6000], mode="full")) - (4000 - 1)
    assert lag == 0


def test_channels_are_separated_independently(small_dictionary, stethoscope):
    a, b = stethoscope["mixture"][:20000], stethoscope["mixture"][20000:40000]
    separator = NMFSeparator(small_dictionary, keep=[1, 4])
    stereo = separator(np.stack([a, b], axis=1), 4000)
    np.testing.assert_allclose(stereo[:, 0], separator(a, 4000), atol=1e-6)
    np.testing.assert_allclose(stereo[:, 1], separator(b, 4000), atol=1e-6)


def test_nan_burst_is_silenced_and_the_engine_recovers(small_dictionary, stethoscope, path):
    x = stethoscope["mixture"][:30000].copy()
    clean = x.copy()
    clean[10000:10100] = 0.0
    x[10000:10100] = np.nan
    x[10050] = np.inf
    separator = NMFSeparator(small_dictionary, keep=[0, 1, 2])
    y = separator(x, 4000, block_size=256)
    assert np.isfinite(y).all()
    assert separator.nonfinite_frames > 0
    reference = separator(clean, 4000, block_size=256)
    # a window after the burst, the output is what it would have been with silence there
    after = 10100 + 2 * small_dictionary.n_fft
    assert snr(reference[after:], y[after:]) > 40.0


def test_separator_checks_the_sample_rate_and_selection(small_dictionary):
    separator = NMFSeparator(small_dictionary, keep=[0])
    with pytest.raises(ParameterError, match="trained at 4000 Hz but the stream runs at 44100 Hz"):
        separator.prepare(44100, 1)
    with pytest.raises(ParameterError, match="component index 10 is out of range"):
        NMFSeparator(small_dictionary, keep=[10])
    with pytest.raises(ParameterError, match="unknown parameter 'iteration'"):
        NMFSeparator(small_dictionary, keep=[0], iteration=3)
    with pytest.raises(ParameterError, match="mask='soft' is not one of"):
        NMFSeparator(small_dictionary, keep=[0], mask="soft")


def test_activations_are_reported_in_dictionary_order(small_dictionary, stethoscope):
    separator = NMFSeparator(small_dictionary, keep=[7, 2])
    separator.prepare(4000, 1)
    separator.process(stethoscope["mixture"][:4000, None].copy())
    h = separator.activations
    assert h.shape == (small_dictionary.n_components, 1)
    from realtime_nmf.decompose import decompose

    # the last frame's activations match an offline solve of that frame in the dictionary's order
    _, H = decompose(small_dictionary, stethoscope["mixture"][:4000])
    frame = separator.frames - 1
    corr = np.corrcoef(h[:, 0], H[:, frame])[0, 1]
    assert corr > 0.9


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["silence", "dc", "noise", "clipped", "nan-burst", "impulse"]),
    blocks=st.lists(st.integers(1, 3000), min_size=1, max_size=8),
    length=st.integers(0, 9000),
)
def test_engine_output_is_always_finite_bounded_and_of_input_length(small_dictionary, kind, blocks, length, path):
    rng = np.random.default_rng(length)
    x = {
        "silence": np.zeros(length),
        "dc": np.full(length, 0.9),
        "noise": rng.uniform(-1, 1, length),
        "clipped": np.clip(3 * rng.standard_normal(length), -1, 1),
        "nan-burst": np.where(np.arange(length) % 997 < 50, np.nan, rng.uniform(-1, 1, length)),
        "impulse": np.eye(1, length, length // 2).ravel() if length else np.zeros(0),
    }[kind].astype(np.float32)[:, None]
    separator = NMFSeparator(small_dictionary, keep=[0, 3])
    separator.prepare(4000, 1)
    y = feed(separator, x, blocks) if length else np.empty_like(x)
    assert y.shape == x.shape
    assert np.isfinite(y).all()
    assert np.abs(y).max(initial=0.0) <= 4.0  # a mask never amplifies beyond overlap-add ripple
