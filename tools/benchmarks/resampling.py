"""What resampling in a live stream costs: delay, in-band error, aliasing and time, for each streaming resampler.

Usage: python -m tools.benchmarks.resampling [--processing-rate 4000] [--block 64]

A live stream whose device runs at another rate than the dictionary resamples every
block down to the dictionary's rate and the result back up, in the callback. For each
resampler the script runs band-limited noise through down and up in device blocks, with
the FIFO priming the live engine uses (the most the output ever lags), and prints:

- delay: where the output's cross-correlation with the input peaks (device samples and ms,
  round trip, the engine's FIFO priming included), and the group delay of the round trip at 100 Hz and at 75 % of the
  processing rate's Nyquist frequency (equal for a linear-phase filter, growing towards the
  band edge for a minimum-phase one);
- ripple: peak-to-peak of the round trip's magnitude response up to 75 % of that Nyquist
  frequency (from noise band-limited to 80 % of it);
- alias: a tone at 1.5x the processing Nyquist frequency (which the downsampler must
  remove), what of it comes back, relative to the tone;
- time: microseconds per device block, down and up together (median of 5 passes).

The last row is the alternative that needs no resampler: the analysis at the device rate
(frame and hop scaled by the rate ratio, the dictionary's bins read from the first bins
of the device-rate spectrum): no delay, no aliasing, no in-band error, and its cost is
the larger FFT (printed as microseconds per block at that frame rate).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from realtime_nmf.lowdelay import LowDelayResampler
from realtime_nmf.ringbuffer import SampleFifo


class Libsamplerate:
    def __init__(self, sr_in, sr_out, converter):
        import samplerate

        self.ratio = sr_out / sr_in
        self.resampler = samplerate.Resampler(converter, channels=1)

    def __call__(self, x):
        return self.resampler.process(x, self.ratio, end_of_input=False).reshape(-1, 1).astype(np.float32)


class Soxr:
    def __init__(self, sr_in, sr_out, quality):
        import soxr

        self.stream = soxr.ResampleStream(sr_in, sr_out, 1, dtype="float32", quality=quality)

    def __call__(self, x):
        return self.stream.resample_chunk(np.ascontiguousarray(x, np.float32), last=False).reshape(-1, 1)


class LowDelay:
    def __init__(self, sr_in, sr_out):
        self.resampler = LowDelayResampler(sr_in, sr_out, 1, max_block=8192)

    def __call__(self, x):
        return self.resampler.process(x).copy()


RESAMPLERS = {
    "realtime_nmf minimum phase (lowdelay)": LowDelay,
    "libsamplerate sinc_fastest (before)": lambda a, b: Libsamplerate(a, b, "sinc_fastest"),
    "libsamplerate linear": lambda a, b: Libsamplerate(a, b, "linear"),
    "soxr QQ (cubic)": lambda a, b: Soxr(a, b, "QQ"),
    "soxr LQ": lambda a, b: Soxr(a, b, "LQ"),
    "soxr MQ": lambda a, b: Soxr(a, b, "MQ"),
}


def round_trip(make, device_rate, rate, signal, block, delay=None):
    """Run ``signal`` (n, 1) through down and up in device blocks with a FIFO primed by ``delay`` (measured when None)."""
    down, up = make(device_rate, rate), make(rate, device_rate)
    if delay is None:  # the priming: how far the output ever lags the input (as the live engine measures it)
        produced = needed = deficit = 0
        zeros = np.zeros((block, 1), np.float32)
        for _ in range(int(2 * device_rate / block) + 8):
            produced += up(down(zeros)).shape[0]
            needed += block
            deficit = max(deficit, needed - produced)
        delay = deficit + 2
        down, up = make(device_rate, rate), make(rate, device_rate)
    fifo = SampleFifo(delay + 16 * block + 4096, 1)
    fifo.write_zeros(delay)
    out = np.zeros_like(signal)
    started = time.perf_counter()
    for i in range(0, signal.shape[0] - block + 1, block):
        fifo.write(up(down(signal[i : i + block])))
        fifo.read(out[i : i + block])
    seconds = time.perf_counter() - started
    return out, delay, seconds / (signal.shape[0] // block)


def band_limited_noise(n, device_rate, cutoff, seed=0):
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[np.fft.rfftfreq(n, 1 / device_rate) > cutoff] = 0
    x = np.fft.irfft(spectrum, n)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)[:, None]


def transfer(x, y, device_rate, block=8192):
    """Round-trip frequency response ``H = Syx / Sxx`` (Hann segments, half overlap) and its frequencies."""
    window = np.hanning(block)
    sxy = sxx = 0
    for start in range(block, x.shape[0] - 2 * block, block // 2):
        X = np.fft.rfft(window * x[start : start + block, 0])
        Y = np.fft.rfft(window * y[start : start + block, 0])
        sxy = sxy + Y * np.conj(X)
        sxx = sxx + np.abs(X) ** 2
    return np.fft.rfftfreq(block, 1 / device_rate), sxy / np.maximum(sxx, 1e-30)


def measure(name, make, device_rate, rate, block):
    n = 6 * device_rate
    noise = band_limited_noise(n, device_rate, 0.8 * rate / 2)
    out, priming, _ = round_trip(make, device_rate, rate, noise, block)
    # the delay: where the output's cross-correlation with the input peaks (robust to resamplers that miss a one-sample impulse)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    xcorr = np.fft.irfft(np.fft.rfft(out[:, 0], size) * np.conj(np.fft.rfft(noise[:, 0], size)), size)
    peak = int(np.argmax(xcorr[: n // 2]))
    aligned = np.zeros_like(out)
    aligned[: n - peak] = out[peak:]
    f, H = transfer(noise, aligned, device_rate)  # the response left after removing the delay
    band = (f >= 50) & (f <= 0.75 * rate / 2)
    level = 20 * np.log10(np.abs(H[band]))
    phase = np.unwrap(np.angle(H))
    group = (peak / device_rate - np.gradient(phase, 2 * np.pi * f)) * 1000  # ms
    at = lambda hz: float(np.median(group[(f >= 0.9 * hz) & (f <= 1.1 * hz)]))
    t = np.arange(n) / device_rate
    tone = (0.5 * np.sin(2 * np.pi * 1.5 * rate / 2 * t)).astype(np.float32)[:, None]
    leaked, _, _ = round_trip(make, device_rate, rate, tone, block, priming)
    core = slice(n // 4, 3 * n // 4)
    alias = 10 * np.log10(max(np.mean(leaked[core, 0] ** 2), 1e-30) / np.mean(tone[core, 0] ** 2))
    times = [round_trip(make, device_rate, rate, noise[:device_rate], block, priming)[2] for _ in range(5)]
    return dict(name=name, delay=peak, group_low=at(100), group_high=at(0.75 * rate / 2), ripple=float(np.ptp(level)), alias=alias,
                us=1e6 * float(np.median(times)))


def device_rate_analysis_cost(device_rate, rate, block, n_fft=256, hop=16):
    """Microseconds per device block of the larger rfft + irfft that analysis at the device rate needs."""
    q = device_rate / rate
    n_dev, hop_dev = int(round(q * n_fft)), int(round(q * hop))
    frames = np.random.default_rng(1).standard_normal((1, n_dev)).astype(np.float32)
    small = np.random.default_rng(1).standard_normal((1, n_fft)).astype(np.float32)

    def pair(x):
        np.fft.irfft(np.fft.rfft(x, axis=1), n=x.shape[1], axis=1)

    def timed(x):
        pair(x)
        started = time.perf_counter()
        for _ in range(2000):
            pair(x)
        return (time.perf_counter() - started) / 2000

    extra = float(np.median([timed(frames) - timed(small) for _ in range(5)]))
    return n_dev, hop_dev, 1e6 * extra * block / hop_dev


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processing-rate", type=int, default=4000)
    parser.add_argument("--block", type=int, default=64)
    args = parser.parse_args(argv)
    rate, block = args.processing_rate, args.block
    for device_rate in (48000, 44100):
        print(f"device {device_rate} Hz <-> processing {rate} Hz, blocks of {block} device samples")
        print(f"{'resampler':38s} {'round-trip delay':>17s} {'group delay 100 Hz / edge':>26s} {'ripple':>8s} {'alias':>9s} {'us/block':>9s}")
        for name, make in RESAMPLERS.items():
            r = measure(name, make, device_rate, rate, block)
            print(f"{name:38s} {r['delay']:5d} = {1000 * r['delay'] / device_rate:5.2f} ms {r['group_low']:12.2f} / {r['group_high']:5.2f} ms "
                  f"{r['ripple']:5.2f} dB {r['alias']:6.1f} dB {r['us']:9.1f}")
        n_dev, hop_dev, extra = device_rate_analysis_cost(device_rate, rate, block)
        print(f"{'analysis at the device rate':38s} {0:5d} = {0:5.2f} ms {0:12.2f} / {0:5.2f} ms {0:5.2f} dB {'none':>9s} {extra:9.1f}"
              f"   (frame {n_dev}, hop {hop_dev}: the larger FFTs' extra cost)")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
