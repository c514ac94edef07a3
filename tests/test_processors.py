"""Built-in processors, chains, parameter validation and the entry-point registry."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import scipy.signal

from realtime_nmf.errors import ParameterError, ProcessorError
from realtime_nmf.processors import BandPass, Chain, Gain, HighPass, LowPass, NMFSeparator, Processor, available_processors, get_processor_class

from .test_engine import BLOCK_SIZES, feed


def test_gain(rng):
    x = rng.standard_normal((100, 2)).astype(np.float32)
    np.testing.assert_allclose(Gain(db=6.0)(x, 8000), x * 10 ** (6 / 20), rtol=1e-6)
    assert Gain().config() == {"db": 0.0}


@pytest.mark.parametrize(
    "processor, sos",
    [
        (HighPass(cutoff=50.0, order=4), scipy.signal.butter(4, 50.0, "highpass", fs=4000, output="sos")),
        (LowPass(cutoff=300.0, order=2), scipy.signal.butter(2, 300.0, "lowpass", fs=4000, output="sos")),
        (BandPass(low=30.0, high=250.0, order=3), scipy.signal.butter(3, [30.0, 250.0], "bandpass", fs=4000, output="sos")),
    ],
)
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_filters_keep_their_state_across_blocks(rng, processor, sos, block_size):
    x = rng.standard_normal((9000, 2)).astype(np.float32)
    processor.prepare(4000, 2)
    y = feed(processor, x, [block_size])
    expected = scipy.signal.sosfilt(sos, x, axis=0)
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_filter_cutoff_must_be_below_nyquist():
    with pytest.raises(ParameterError, match="cutoff 3000 Hz must be below the Nyquist frequency 2000 Hz"):
        LowPass(cutoff=3000.0).prepare(4000, 1)
    with pytest.raises(ParameterError, match="low=300 Hz must be below high=200 Hz"):
        BandPass(low=300.0, high=200.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(db="loud"), "db='loud' must be a number"),
        (dict(db=100.0), "db=100.0 must be at most 60"),
        (dict(volume=3), "unknown parameter 'volume'"),
    ],
)
def test_parameters_are_validated(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        Gain(**kwargs)


def test_chain_runs_in_order_and_sums_latency(small_dictionary, rng):
    separator = NMFSeparator(small_dictionary, keep="all")
    chain = Chain([Gain(db=-6.0), separator, Gain(db=6.0)])
    assert chain.latency == separator.latency == small_dictionary.n_fft - 1
    assert len(chain) == 3 and chain[1] is separator
    x = rng.uniform(-0.5, 0.5, 8000).astype(np.float32)
    np.testing.assert_allclose(chain(x, 4000)[300:], x[300:], atol=1e-4)
    nested = Chain([Chain([Gain(db=3.0)]), Gain(db=3.0)])
    np.testing.assert_allclose(nested(x, 4000), x * 10 ** (6 / 20), rtol=1e-5)
    assert chain.config()[0] == {"gain": {"db": -6.0}}
    with pytest.raises(ParameterError, match="a chain holds processors"):
        chain.append("gain")


def test_empty_chain_passes_audio_through(rng):
    x = rng.standard_normal(100).astype(np.float32)
    np.testing.assert_array_equal(Chain()(x, 1000), x)


def test_processor_must_be_prepared():
    with pytest.raises(ProcessorError, match="call prepare"):
        Gain().process(np.zeros((4, 1), np.float32))


def test_registry_knows_the_builtins_and_refuses_import_paths():
    assert {"nmf", "gain", "highpass", "lowpass", "bandpass"} <= set(available_processors())
    assert get_processor_class("gain") is Gain
    with pytest.raises(ProcessorError, match="no processor is registered as 'reverb'.*available: nmf, gain"):
        get_processor_class("reverb")
    with pytest.raises(ProcessorError, match="never import paths"):
        get_processor_class("os.system")
    with pytest.raises(ProcessorError, match="never import paths"):
        get_processor_class("my_pkg.effects:Tremolo")


@pytest.fixture
def third_party_plugin(tmp_path, monkeypatch):
    """An installed distribution that registers a processor through the entry-point group."""
    package = tmp_path / "rtnmf_tremolo"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        import numpy as np
        from realtime_nmf.processors import Parameter, Processor

        class Invert(Processor):
            name = "invert"
            parameters = {"scale": Parameter(float, 1.0, "gain after inverting", minimum=0.0)}

            def _process(self, block, out):
                np.multiply(block, -self.params["scale"], out=out)

        class NotAProcessor:
            pass
    '''))
    dist = tmp_path / "rtnmf_tremolo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rtnmf-tremolo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[realtime_nmf.processors]\ninvert = rtnmf_tremolo:Invert\nbroken = rtnmf_tremolo:NotAProcessor\n"
        "missing = rtnmf_tremolo_absent:Thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("rtnmf_tremolo", None)


def test_third_party_processor_registers_by_entry_point(third_party_plugin, rng):
    assert "invert" in available_processors()
    cls = get_processor_class("invert")
    assert issubclass(cls, Processor)
    x = rng.standard_normal(50).astype(np.float32)
    np.testing.assert_allclose(cls(scale=2.0)(x, 1000), -2 * x)
    with pytest.raises(ProcessorError, match="is not a realtime_nmf Processor subclass"):
        get_processor_class("broken")
    with pytest.raises(ProcessorError, match="failed to load"):
        get_processor_class("missing")
