"""The low-delay live resampler: the polyphase kernel against a naive reference, exact output counts, response, delay."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_nmf import kernels
from realtime_nmf.errors import ParameterError
from realtime_nmf.lowdelay import ATTENUATION_DB, PHASES, LowDelayResampler, minimum_phase_lowpass

pytestmark = pytest.mark.skipif(not kernels.available(), reason="the low-delay resampler needs numba")
PAIRS = [(48000, 4000), (4000, 48000), (44100, 4000), (4000, 44100), (22050, 44100)]


def run(resampler, x, block_sizes):
    outs, position, i = [], 0, 0
    while position < x.shape[0]:
        n = block_sizes[i % len(block_sizes)]
        outs.append(resampler.process(x[position : position + n]).copy())
        position, i = position + n, i + 1
    return np.concatenate(outs)


def naive_resample(x, sr_in, sr_out):
    """y[n] = gain * sum_i p((frac(t_n) + i) * step) x[floor(t_n) - i], t_n = n sr_in / sr_out, p the tabulated prototype."""
    high, low = max(sr_in, sr_out), min(sr_in, sr_out)
    table = minimum_phase_lowpass(0.45 * low / high, 0.1 * low / high, ATTENUATION_DB, PHASES)
    step = PHASES * high / sr_in
    gain = 1.0 if sr_in >= sr_out else sr_out / sr_in
    n_out = -(-x.shape[0] * sr_out // sr_in)
    y = np.zeros((n_out, x.shape[1]))
    for n in range(n_out):
        j0, rest = divmod(n * sr_in, sr_out)
        frac = rest / sr_out
        i = 0
        while (frac + i) * step < table.size - 1:
            at = (frac + i) * step
            k = int(at)
            if j0 - i >= 0:
                y[n] += gain * (table[k] + (at - k) * (table[k + 1] - table[k])) * x[j0 - i]
            i += 1
    return y


@pytest.mark.parametrize("sr_in, sr_out", [(48000, 4000), (4000, 44100), (44100, 4000)])
def test_kernel_matches_the_naive_formula(rng, sr_in, sr_out):
    x = rng.standard_normal((int(0.05 * sr_in), 2)).astype(np.float32)
    y = run(LowDelayResampler(sr_in, sr_out, 2, max_block=512), x, [64])
    expected = naive_resample(x.astype(np.float64), sr_in, sr_out)
    np.testing.assert_allclose(y, expected, atol=2e-5 * np.abs(expected).max())


@pytest.mark.parametrize("sr_in, sr_out", PAIRS)
def test_output_count_is_exact_and_does_not_depend_on_blocks(rng, sr_in, sr_out):
    x = rng.standard_normal((sr_in // 2 + 17, 1)).astype(np.float32)
    outputs = [run(LowDelayResampler(sr_in, sr_out, 1, max_block=8193), x, sizes) for sizes in ([1], [64], [65, 7, 1000], [8193])]
    assert all(y.shape[0] == -(-x.shape[0] * sr_out // sr_in) for y in outputs)
    for y in outputs[1:]:
        np.testing.assert_allclose(y, outputs[0], atol=1e-6)


@pytest.mark.parametrize("sr_in, sr_out", PAIRS)
def test_pass_band_gain_stop_band_and_delay(sr_in, sr_out):
    low = min(sr_in, sr_out)
    t = np.arange(sr_in) / sr_in
    for freq, low_db, high_db in ((0.05 * low, -0.1, 0.1), (0.35 * low, -0.3, 0.3), (0.75 * low, -np.inf, -ATTENUATION_DB + 3)):
        if freq >= sr_in / 2:
            continue
        x = np.sin(2 * np.pi * freq * t).astype(np.float32)[:, None]
        y = run(LowDelayResampler(sr_in, sr_out, 1, max_block=256), x, [256])[:, 0]
        core = y[len(y) // 4 : 3 * len(y) // 4]
        level = 10 * np.log10(np.mean(core**2) / 0.5)
        assert low_db <= level <= high_db, (freq, level)
    resampler = LowDelayResampler(sr_in, sr_out, 1)
    assert resampler.delay_seconds < 1e-3  # the minimum-phase filter peaks within a millisecond


def test_minimum_phase_keeps_the_magnitude_and_moves_the_energy_forward():
    h = minimum_phase_lowpass(0.0375, 0.0083, 70.0, 1)
    H = np.abs(np.fft.rfft(h, 1 << 16))
    f = np.fft.rfftfreq(1 << 16)
    assert np.ptp(20 * np.log10(H[f < 0.033])) < 0.05 and 20 * np.log10(H[f > 0.0417].max()) < -69
    energy = np.cumsum(h**2) / np.sum(h**2)
    assert np.argmax(energy > 0.9) < 0.25 * h.size  # linear phase reaches 90 % of its energy only past the middle


def test_bad_rates_are_refused():
    with pytest.raises(ParameterError, match="whole positive rates"):
        LowDelayResampler(44100.5, 4000, 1)
    with pytest.raises(ParameterError, match="filter phases"):
        LowDelayResampler(44100, 48001, 1)  # coprime: 48001 fractional positions
    with pytest.raises(ParameterError, match="larger than max_block"):
        LowDelayResampler(48000, 4000, 1, max_block=64).process(np.zeros((65, 1), np.float32))
