"""The live engine without a device: parity with file mode, faults, switching, allocation."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from realtime_nmf import kernels
from realtime_nmf.evaluate import sdr, snr
from realtime_nmf.live.engine import LiveEngine
from realtime_nmf.processors import Chain, Gain, NMFSeparator, Processor
from realtime_nmf.ringbuffer import SampleFifo


def run_engine(engine, x, block, out_channels=None):
    out = np.zeros((len(x), out_channels or engine.out_channels), np.float32)
    for i in range(0, len(x), block):
        engine.process(x[i : i + block], out[i : i + block])
    return out


def test_engine_output_is_the_chain_output_delayed(small_dictionary, stethoscope):
    x = stethoscope["mixture"][:20000, None].copy()
    engine = LiveEngine(NMFSeparator(small_dictionary, keep=[0, 3]), processing_rate=4000, device_rate=4000, n_channels=1, out_channels=2,
                        max_block=512)
    engine.warm_up()
    y = run_engine(engine, x, 100)
    reference = NMFSeparator(small_dictionary, keep=[0, 3])(x, 4000)
    latency = int(engine.latency)
    np.testing.assert_allclose(y[latency:, 0], reference[: len(x) - latency, 0], atol=1e-6)
    np.testing.assert_array_equal(y[:, 0], y[:, 1])  # mono processed, copied to both outputs
    assert engine.stats.blocks == 200 and engine.stats.errors == 0


def test_resampling_in_the_stream_matches_file_mode(small_dictionary, stethoscope):
    import soxr

    x48 = soxr.resample(stethoscope["mixture"][:20000], 4000, 48000).astype(np.float32)[:, None]
    engine = LiveEngine(NMFSeparator(small_dictionary, keep=[0, 3]), processing_rate=4000, device_rate=48000, n_channels=1, max_block=256)
    engine.warm_up()
    y = run_engine(engine, x48, 256)
    assert engine.stats.underruns == 0 and engine.stats.errors == 0
    expected = soxr.resample(NMFSeparator(small_dictionary, keep=[0, 3])(stethoscope["mixture"][:20000], 4000), 4000, 48000)
    delay = int(round(engine.latency))
    # equal up to the live resampler's filter: minimum phase, so its delay grows towards the band edge
    # (BSS Eval's SDR allows a distortion filter; a pure delay alone leaves about 21 dB)
    assert sdr(expected[48000 : len(x48) - delay], y[48000 + delay :, 0]) > 25.0
    if kernels.available():
        assert 1000 * engine.resampling_delay / 48000 < 3.0  # the minimum-phase round trip (libsamplerate: 9.9 ms)


class Flaky(Processor):
    """Raises on every fifth block."""

    name = "flaky"

    def _allocate(self):
        self.calls = 0

    def _process(self, block, out):
        self.calls += 1
        if self.calls % 5 == 0:
            raise RuntimeError("boom")
        out[...] = block


def test_an_exception_in_a_processor_silences_that_block_and_is_counted(rng):
    engine = LiveEngine(Chain([Flaky(), Gain(db=0.0)]), processing_rate=8000, device_rate=8000, n_channels=1, max_block=64)
    x = rng.uniform(-0.5, 0.5, (64 * 20, 1)).astype(np.float32)
    y = run_engine(engine, x, 64)
    assert engine.stats.errors == 4 and engine.stats.last_error == "RuntimeError: boom"
    blocks = y.reshape(20, 64)
    silent = [i for i in range(20) if not blocks[i].any()]
    assert silent == [4, 9, 14, 19]
    np.testing.assert_array_equal(blocks[0], x[:64, 0])


def test_switching_chains_crossfades_without_a_dropout(small_dictionary, stethoscope):
    x = stethoscope["mixture"][:24000, None].copy()
    engine = LiveEngine(NMFSeparator(small_dictionary, keep="all"), processing_rate=4000, device_rate=4000, n_channels=1, max_block=128)
    y = np.zeros_like(x)
    switch_at = 80 * 128
    for i in range(0, len(x), 128):
        if i == switch_at:
            engine.stage(Chain([Gain(db=-6.0)]))
        engine.process(x[i : i + 128], y[i : i + 128])
    assert not engine.switching
    latency_before = small_dictionary.n_fft - 1
    # before the switch: the input, delayed; while the new chain warms up: still the old chain
    np.testing.assert_allclose(y[latency_before:switch_at, 0], x[: switch_at - latency_before, 0], atol=1e-4)
    # one block of crossfade, then the new chain alone (no latency: the input, 6 dB down)
    after = switch_at + 128
    np.testing.assert_allclose(y[after:, 0], x[after:, 0] * 10 ** (-6 / 20), atol=1e-4)
    fade = y[switch_at:after, 0]
    old = x[switch_at - latency_before : after - latency_before, 0]
    new = x[switch_at:after, 0] * 10 ** (-6 / 20)
    ramp = np.arange(128) / 128
    np.testing.assert_allclose(fade, old * (1 - ramp) + new * ramp, atol=1e-4)


def test_toggling_components_takes_effect_at_the_next_frames(small_dictionary, stethoscope):
    x = stethoscope["mixture"][:24000, None].copy()
    separator = NMFSeparator(small_dictionary, keep=[0, 1])
    separator.prepare(4000, 1)
    y = np.zeros_like(x)
    for i in range(0, len(x), 200):
        if i == 12000:
            separator.set_keep("2-4")
        separator.process(x[i : i + 200], y[i : i + 200])
    reference_old = NMFSeparator(small_dictionary, keep=[0, 1])
    reference_new = NMFSeparator(small_dictionary, keep=[2, 3, 4])
    for reference in (reference_old, reference_new):
        reference.prepare(4000, 1)
    old = reference_old.process(x.copy())
    new = reference_new.process(x.copy())
    np.testing.assert_allclose(y[:12000], old[:12000], atol=1e-6)
    settled = 12000 + 2 * small_dictionary.n_fft
    np.testing.assert_allclose(y[settled:], new[settled:], atol=1e-6)
    # around the switch the output is continuous: no jump larger than the signal's own
    steps = np.abs(np.diff(y[:, 0]))
    assert steps[11500:13000].max() <= 1.5 * max(steps[:11500].max(), steps[13000:].max())


def test_bypass_passes_the_input_with_the_same_delay(small_dictionary, stethoscope):
    x = stethoscope["mixture"][:16000, None].copy()
    engine = LiveEngine(NMFSeparator(small_dictionary, keep=[0]), processing_rate=4000, device_rate=4000, n_channels=1, max_block=100)
    engine.bypass = True
    y = run_engine(engine, x, 100)
    latency = int(engine.latency)
    np.testing.assert_allclose(y[latency + 100 :, 0], x[100 : len(x) - latency, 0], atol=1e-6)


def test_the_callback_does_not_allocate_memory_that_grows(small_dictionary, stethoscope):
    x = np.tile(stethoscope["mixture"][:8192, None], (4, 1))
    engine = LiveEngine(NMFSeparator(small_dictionary, keep=[0, 3]), processing_rate=4000, device_rate=4000, n_channels=1, out_channels=2,
                        max_block=256)
    engine.warm_up()
    out = np.zeros((256, 2), np.float32)
    for i in range(0, 8192, 256):  # settle
        engine.process(x[i : i + 256], out)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(20):
        for i in range(0, len(x), 256):
            engine.process(x[i : i + 256], out)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert growth < 20_000, growth  # a few Python objects, no buffers (a block is 2 KiB)


def test_ring_buffer_hands_over_data_in_order(rng):
    fifo = SampleFifo(10, 2)
    data = rng.standard_normal((7, 2)).astype(np.float32)
    assert fifo.write(data) == 7 and fifo.write(data) == 3 and fifo.available == 10
    out = np.ones((12, 2), np.float32)
    assert fifo.read(out) == 10
    np.testing.assert_array_equal(out[:7], data)
    np.testing.assert_array_equal(out[7:10], data[:3])
    np.testing.assert_array_equal(out[10:], 0)
    assert fifo.write_zeros(4) == 4 and fifo.available == 4 and fifo.space == 6


@pytest.mark.parametrize("block", [1, 37, 256, 9000])
def test_engine_handles_any_block_size(small_dictionary, stethoscope, block):
    x = stethoscope["mixture"][:12000, None].copy()
    engine = LiveEngine(NMFSeparator(small_dictionary, keep=[1]), processing_rate=4000, device_rate=4000, n_channels=1, max_block=4096)
    y = run_engine(engine, x, block)
    reference = NMFSeparator(small_dictionary, keep=[1])(x, 4000)
    latency = int(engine.latency)
    np.testing.assert_allclose(y[latency:, 0], reference[: len(x) - latency, 0], atol=1e-6)


def test_input_channels_and_output_map_route_the_device_channels(small_dictionary, stethoscope):
    """Device input 2 of 2 is processed (mono); outputs 1 and 3 of 3 play it, output 2 is silent; file mode agrees."""
    y = stethoscope["mixture"][:12000]
    device_in = np.stack([np.full_like(y, 0.5), y], axis=1)  # the first input must not reach the output
    engine = LiveEngine(NMFSeparator(small_dictionary, keep=[0, 3]), processing_rate=4000, device_rate=4000, n_channels=1, out_channels=3,
                        max_block=512, input_channels=(1,), output_map=(0, -1, 0))
    out = run_engine(engine, device_in, 128)
    reference = NMFSeparator(small_dictionary, keep=[0, 3])(y[:, None], 4000)[:, 0]
    latency = int(engine.latency)
    np.testing.assert_allclose(out[latency:, 0], reference[: len(y) - latency], atol=1e-6)
    np.testing.assert_array_equal(out[:, 2], out[:, 0])
    assert not out[:, 1].any()
    with pytest.raises(ValueError, match="output_map"):
        LiveEngine(NMFSeparator(small_dictionary, keep=[0]), processing_rate=4000, device_rate=4000, n_channels=1, out_channels=2,
                   output_map=(0, 1))


@pytest.mark.parametrize("device_rate", [4000, 48000])
def test_measuring_the_load_leaves_the_engine_as_if_new(small_dictionary, stethoscope, device_rate):
    """measure_load runs a second of silence before the stream opens; what the stream then gets is what a fresh engine gives."""
    import soxr

    x = soxr.resample(stethoscope["mixture"][:8000], 4000, device_rate).astype(np.float32)[:, None]

    def engine():
        return LiveEngine(NMFSeparator(small_dictionary, keep=[0, 3]), processing_rate=4000, device_rate=device_rate, n_channels=1,
                          max_block=1024)

    fresh, measured = engine(), engine()
    estimate = measured.measure_load(64)
    assert estimate.block == 64 and estimate.mean > 0 and estimate.worst_ms > 0
    assert measured.stats.blocks == 0
    np.testing.assert_array_equal(run_engine(measured, x, 256), run_engine(fresh, x, 256))
@pytest.fixture(scope="module")
def low_latency_dictionary(stethoscope):
    from realtime_nmf.training import learn_dictionary

    return learn_dictionary([stethoscope["mixture"][:40000]], 4000, n_components=10, iterations=40, latency_ms=8)


def test_low_latency_engine_equals_file_mode_delayed_by_its_latency(low_latency_dictionary, stethoscope):
    x = stethoscope["mixture"][40000:60000, None].copy()
    engine = LiveEngine(NMFSeparator(low_latency_dictionary, keep=[0, 3]), processing_rate=4000, device_rate=4000, n_channels=1,
                        max_block=64)
    engine.warm_up()
    assert engine.latency == 31  # 7.75 ms: 2 * hop - 1 with hop 16, instead of 255 for the whole window
    y = run_engine(engine, x, 64)
    reference = NMFSeparator(low_latency_dictionary, keep=[0, 3])(x, 4000)
    np.testing.assert_allclose(y[31:, 0], reference[: len(x) - 31, 0], atol=1e-6)


def test_low_latency_through_the_resampler_keeps_everything_at_the_reported_delay(low_latency_dictionary):
    """Keep-all through a 48 kHz stream: an impulse comes out where engine.latency says (window + resampling)."""
    engine = LiveEngine(NMFSeparator(low_latency_dictionary, keep="all"), processing_rate=4000, device_rate=48000, n_channels=1,
                        max_block=64)
    engine.warm_up()
    x = np.zeros((48000, 1), np.float32)
    x[12345] = 1.0
    y = run_engine(engine, x, 64)
    assert abs(int(np.argmax(np.abs(y[:, 0]))) - 12345 - engine.latency) <= 2
    assert 1000 * engine.latency / 48000 < (11.0 if kernels.available() else 20.0)  # 7.75 ms window + ~1.4 ms minimum-phase round trip
