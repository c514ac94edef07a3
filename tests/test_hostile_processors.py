"""Non-finite samples never poison a processor: every built-in one recovers within one window of a burst.

A NaN or Inf sample is treated as silence by every built-in processor (gain, the
Butterworth filters, the NMF separator): the output is finite, and once the burst has
left the processor's window the output is what it would have been with zeros there.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from realtime_nmf import load_preset
from realtime_nmf.processors import Chain
from realtime_nmf.processors.registry import BUILTIN_PROCESSORS

from .hostile import cli

SR = 4000
BURST = slice(SR, SR + 300)


def build(name):
    if name == "nmf":
        return load_preset("heartbeat").build()[0]
    return BUILTIN_PROCESSORS[name]()


def window_of(processor) -> int:
    """How long a burst can affect the output after it ends, in samples."""
    return processor.dictionary.n_fft + processor.latency if processor.name == "nmf" else 0


@pytest.fixture(scope="module")
def clean(stethoscope):
    x = stethoscope["mixture"][: 2 * SR]
    return np.stack([x, 0.5 * x[::-1]], axis=1)


def with_burst(x, values, channels):
    y = x.copy()
    pattern = np.resize(np.asarray(values, np.float32), BURST.stop - BURST.start)
    for c in channels:
        y[BURST, c] = pattern
    silenced = np.where(np.isfinite(y), y, 0).astype(np.float32)  # what the processor must treat them as
    return y, silenced


@pytest.mark.parametrize("name", sorted(BUILTIN_PROCESSORS))
@pytest.mark.parametrize("values", [[np.nan], [np.inf], [-np.inf], [np.nan, 0.1, np.inf, -np.inf, 0.3]], ids=["nan", "inf", "-inf", "mixed"])
@pytest.mark.parametrize("channels", [[0], [0, 1]], ids=["one-channel", "both"])
@pytest.mark.parametrize("block_size", [3, 64, 1000])
def test_every_builtin_processor_recovers_from_a_non_finite_burst(clean, name, values, channels, block_size):
    x, silenced = with_burst(clean, values, channels)
    y = build(name)(x, SR, block_size=block_size)
    reference = build(name)(silenced, SR, block_size=block_size)
    assert np.isfinite(y).all()
    after = BURST.stop + window_of(build(name))
    np.testing.assert_allclose(y[after:], reference[after:], atol=1e-5)
    np.testing.assert_allclose(y[: BURST.start - window_of(build(name))], reference[: BURST.start - window_of(build(name))], atol=1e-6)
    untouched = [c for c in range(2) if c not in channels]
    for c in untouched:  # channels are independent
        np.testing.assert_allclose(y[:, c], reference[:, c], atol=1e-6)


@pytest.mark.parametrize("value", [3.4e38, -3.4e38, 1e30, 2e6])
def test_the_separator_treats_samples_far_beyond_full_scale_as_silence(clean, value):
    """Samples beyond 1e6 (+120 dBFS) are not audio, and would overflow its spectra: the separator silences them like NaN."""
    x, _ = with_burst(clean, [value, -value], [0])
    silenced = clean.copy()
    silenced[BURST, 0] = 0
    separator = build("nmf")
    y = separator(x, SR)
    assert np.isfinite(y).all() and separator.nonfinite_samples == BURST.stop - BURST.start
    np.testing.assert_allclose(y, build("nmf")(silenced, SR), atol=1e-6)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_loud_but_finite_samples_are_separated_without_overflow(clean):
    x = clean.copy()
    x[BURST] = 1e5  # +100 dBFS: kept
    y = build("nmf")(x, SR)
    assert np.isfinite(y).all() and np.abs(y).max() > 1e3


def test_a_chain_recovers_as_a_whole(clean):
    chain = Chain([build("highpass"), build("nmf"), build("gain"), build("lowpass")])
    x, silenced = with_burst(clean, [np.nan, np.inf], [0, 1])
    y = chain(x, SR)
    reference = Chain([build("highpass"), build("nmf"), build("gain"), build("lowpass")])(silenced, SR)
    assert np.isfinite(y).all()
    after = BURST.stop + window_of(build("nmf"))
    np.testing.assert_allclose(y[after:], reference[after:], atol=1e-5)


def test_a_nan_at_one_second_does_not_silence_the_rest_through_the_cli(stethoscope, tmp_path, capfd):
    from realtime_nmf.presets import bundled_preset_dir

    (tmp_path / "p.yaml").write_text(f"dictionary: {bundled_preset_dir() / 'stethoscope.npz'}\nkeep: heart\nchain: [highpass, nmf]\n")
    x = stethoscope["mixture"][: 6 * SR].copy()
    x[SR] = np.nan
    sf.write(tmp_path / "in.wav", x, SR, subtype="FLOAT")
    code, _, err = cli(["run", "--preset", tmp_path / "p.yaml", "--input", tmp_path / "in.wav", "--output", tmp_path / "out.wav"], capfd)
    assert code == 0, err
    assert "warning: 1 sample was NaN or infinite; it was replaced by silence" in err  # by the high-pass filter, first
    y, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert np.isfinite(y).all()
    x[SR] = 0
    reference = load_preset(tmp_path / "p.yaml").build()(x, SR)
    after = SR + 2 * 256
    assert np.abs(y[after:]).max() > 0.1 * np.abs(reference[after:]).max()
    np.testing.assert_allclose(y[after:], reference[after:], atol=1e-5)


def test_processors_count_what_they_silenced(clean):
    x, _ = with_burst(clean, [np.nan], [0, 1])
    for name in sorted(BUILTIN_PROCESSORS):
        processor = build(name)
        processor(x, SR)
        assert processor.nonfinite_samples > 0 if name != "nmf" else processor.nonfinite_frames > 0, name
