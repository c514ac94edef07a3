"""Speed on every route a user takes, side by side in one run (issue 14), and the live callback at low latency.

Usage: python -m tools.benchmarks.routes [--quick]   (also part of python -m tools.benchmarks.bench: --only routes)

One dictionary (22.05 kHz, n_fft 1024 = 513 bins, hop 256, 32 components, beta 0.5, the
separator's defaults: 10 updates, batches of 8) and one signal (the music-like signal of
tools/bench.py), timed in alternation, several rounds, median [min-max] of the time per
STFT frame:

- file mode: the engine on the whole signal in blocks of 4096 (frames solved in batches);
- the single-frame path a live stream takes (block <= hop): blocks of 256 and of 64;
- ``rtnmf run``: :func:`process_file` on a WAV file, its default block (process start-up
  excluded: reading, resampling when needed, writing included);
- scikit-learn's ``NMF.transform`` called per frame (a subset of the frames).

Printed ratios: single frame over file mode (target <= 1.5x), ``rtnmf run`` over file
mode (<= 1.3x), scikit-learn per frame over ``rtnmf run`` (>= 50x), and FluCoMa's
NMFFilter (981 us per frame at block 256, 513 bins, K 32, as measured for issue 14 on
this machine; not re-run here) over the single frame.

Then the streaming STFT alone, numpy's FFT calls against the compiled kernels (rocket-fft)
that the live engine uses, at the same three block sizes; then the live callback at ``--latency-ms 4``: 44.1 and 48 kHz, n_fft 2048, 32
components, the asymmetric windows, blocks of 64, the live engine driven with arrays
(the same code the PortAudio callback runs): callback time per block as a share of the
block's duration (p50, p99, max; target p99 <= 50 %), wall-clock and thread CPU time,
and engine errors; and the whole
latency budget of the 4 kHz heartbeat at ``--latency-ms 8`` on a 48 kHz device.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from realtime_nmf import NMFSeparator, kernels
from realtime_nmf.live.engine import LiveEngine
from realtime_nmf.offline import process_file
from realtime_nmf.stft import stft
from realtime_nmf.training import learn_dictionary

FLUCOMA_US = 981.0  # NMFFilter, block 256, 513 bins, K 32 (issue 14's measurement on this machine)


def _music(seconds, sr, seed=3):
    from .bench import music_like

    return music_like(seconds, sr, seed)


def _feed(separator, x, block):
    out = np.empty_like(x)
    for i in range(0, x.shape[0], block):
        separator.process(x[i : i + block], out[i : i + block])
    return out


def _sklearn_per_frame(V, W, n_frames):
    from sklearn.decomposition import non_negative_factorization

    for m in range(n_frames):
        non_negative_factorization(V[:, m : m + 1].T, H=W.T, n_components=W.shape[1], update_H=False, solver="mu", beta_loss=0.5,
                                   max_iter=200, tol=1e-4)


def _in_alternation(runs: dict, rounds: int) -> dict:
    """``{key: (run, frames)}`` -> ``{key: seconds per frame of each round}``, after one warm-up run each (compilation, caches)."""
    for run, _ in runs.values():
        run()
    cost = {key: [] for key in runs}
    for _ in range(rounds):
        for key, (run, frames) in runs.items():
            started = time.perf_counter()
            run()
            cost[key].append((time.perf_counter() - started) / frames)
    return {key: np.array(values) for key, values in cost.items()}


def route_rows(report, quick: bool) -> None:
    sr = 22050
    train_s, test_s = (10, 20) if quick else (20, 60)
    parts = _music(train_s + test_s, sr)
    mix = parts["mixture"]
    d = learn_dictionary([mix[: train_s * sr]], sr, n_components=32, n_fft=1024, hop_length=256, iterations=30 if quick else 60)
    keep = list(range(0, 32, 3))
    x = np.ascontiguousarray(mix[train_s * sr :][:, None])
    n_frames = x.shape[0] // d.hop_length
    V = np.abs(stft(x, d.n_fft, d.hop_length, d.window)[:, :, 0]).astype(np.float64)
    W = d.W.astype(np.float64)
    sk_frames = 60 if quick else 200
    folder = Path(tempfile.mkdtemp(prefix="rtnmf-bench-"))
    wav = folder / "in.wav"
    sf.write(wav, x[:, 0], sr, subtype="FLOAT")

    def separator(live: bool = False):
        """A prepared separator as the host of that route builds it: the live engine prefers the compiled kernels, file mode numpy."""
        kernels.prefer_compiled(live)
        try:
            s = NMFSeparator(d, keep=keep)
            s.prepare(sr, 1)
        finally:
            kernels.prefer_compiled(False)
        return s

    runs = {
        "file mode (engine, blocks of 4096)": (lambda: _feed(separator(), x, 4096), n_frames),
        "single frame, blocks of 256 (= hop)": (lambda: _feed(separator(live=True), x, 256), n_frames),
        "single frame, blocks of 64": (lambda: _feed(separator(live=True), x, 64), n_frames),
        "rtnmf run (process_file, default block)": (lambda: process_file(NMFSeparator(d, keep=keep), wav, folder / "out.wav",
                                                                          processing_rate=sr), n_frames),
        "scikit-learn NMF.transform per frame": (lambda: _sklearn_per_frame(V, W, sk_frames), sk_frames),
    }
    rounds = 2 if quick else 5
    cost = _in_alternation(runs, rounds)
    report.heading(f"Routes: {sr} Hz, n_fft {d.n_fft} ({d.n_bins} bins), hop {d.hop_length}, {d.n_components} components, beta {d.beta:g}, "
                   f"10 updates, batches of 8; {test_s} s ({n_frames} frames); {rounds} rounds in alternation")
    report.table(["route", "us per frame, median [min-max]"],
                 [[name, f"{1e6 * np.median(v):.1f} [{1e6 * v.min():.1f}-{1e6 * v.max():.1f}]"] for name, v in cost.items()])
    names = list(cost)
    file_mode, single256, single64, run_route, sk = (cost[n] for n in names)

    def ratio(a, b):
        r = a / b
        return f"{np.median(r):.2f}x [{r.min():.2f}-{r.max():.2f}]"

    report.paragraph(
        f"single frame / file mode: blocks of 256 {ratio(single256, file_mode)}, blocks of 64 {ratio(single64, file_mode)} (target <= 1.5x); "
        f"rtnmf run / file mode: {ratio(run_route, file_mode)} (target <= 1.3x); "
        f"scikit-learn per frame / rtnmf run: {ratio(sk, run_route)} (target >= 50x); "
        f"FluCoMa NMFFilter {FLUCOMA_US:.0f} us (quoted) / single frame at block 256: {FLUCOMA_US / (1e6 * np.median(single256)):.1f}x "
        f"(target >= 5x, i.e. <= {FLUCOMA_US / 5:.0f} us)")


def stft_rows(report, quick: bool) -> None:
    """The streaming STFT alone (a spectral function that does nothing), numpy's FFT calls against the compiled kernels."""
    from realtime_nmf.stft import StreamingSTFT

    if kernels.load_stream() is None:
        report.paragraph("(the streaming STFT's compiled kernels need numba and rocket-fft: not installed, not measured)")
        return
    x = np.random.default_rng(0).standard_normal(((20 if quick else 60) * 22050, 1)).astype(np.float32)
    n_frames = x.shape[0] // 256
    runs = {}
    for compiled in (False, True):
        for block in (4096, 256, 64):
            engine = StreamingSTFT(1024, 256, "hann", 1, lambda spectra, first: None, batch_frames=8, compiled=compiled)
            runs[compiled, block] = (lambda engine=engine, block=block: _feed(engine, x, block), n_frames)
    cost = _in_alternation(runs, 2 if quick else 5)
    report.heading("The streaming STFT alone (n_fft 1024, hop 256, Hann, batches of 8; the spectra left as they are)")
    rows = []
    for block in (4096, 256, 64):
        numpy_us, compiled_us = (1e6 * np.median(cost[c, block]) for c in (False, True))
        rows.append([str(block), f"{numpy_us:.1f}", f"{compiled_us:.1f}", f"{numpy_us / compiled_us:.2f}x"])
    report.table(["block", "numpy FFT calls, us per frame", "compiled kernels (rocket-fft), us per frame", "speed-up"], rows)


def live_rows(report, quick: bool) -> None:
    report.heading("Live callback at --latency-ms 4 (n_fft 2048, 32 components, asymmetric windows, blocks of 64, the engine driven with arrays)")
    rows = []
    block = 64
    for sr in (44100, 48000):
        parts = _music(30 if quick else 50, sr, seed=5)
        mix = parts["mixture"]
        d = learn_dictionary([mix[: 10 * sr]], sr, n_components=32, n_fft=2048, latency_ms=4.0, iterations=20 if quick else 40)
        engine = LiveEngine(NMFSeparator(d, keep=list(range(0, 32, 3))), processing_rate=sr, device_rate=sr, n_channels=1,
                            out_channels=2, max_block=block)
        engine.warm_up(block)
        x = np.ascontiguousarray(mix[10 * sr :][:, None])
        out = np.zeros((block, 2), np.float32)
        cpu = []
        for i in range(0, x.shape[0] - block, block):
            started = time.thread_time_ns()
            engine.process(x[i : i + block], out)
            cpu.append(time.thread_time_ns() - started)
        loads = engine.stats.loads()
        us = engine.stats.durations[: engine.stats.blocks] * 1e6
        cpu_load = np.array(cpu) * 1e-9 / (block / sr)
        rows.append([str(sr), str(d.hop_length), f"{d.latency_samples} samples = {1000 * d.latency_samples / sr:.2f} ms",
                     f"{100 * np.percentile(loads, 50):.1f}%", f"{100 * np.percentile(loads, 99):.1f}%", f"{100 * loads.max():.1f}%",
                     f"{np.percentile(us, 50):.0f}", f"{np.percentile(us, 99):.0f}", f"{us.max():.0f}",
                     f"{100 * np.percentile(cpu_load, 50):.1f}%", f"{100 * np.percentile(cpu_load, 99):.1f}%", f"{100 * cpu_load.max():.1f}%",
                     str(engine.stats.errors)])
    report.table(["device rate", "hop", "algorithmic latency", "load p50", "p99", "max", "us p50", "p99", "max", "CPU load p50", "p99", "max",
                  "engine errors"], rows)
    report.paragraph("(load: wall-clock time of the callback over the block's duration, what a device sees; CPU load: the thread's CPU "
                     "time, which leaves out the time the scheduler gave to other processes on a shared machine)")
    from realtime_nmf.demo import synthesize_stethoscope

    parts = synthesize_stethoscope(duration=20.0)
    d = learn_dictionary([parts["mixture"][:40000]], 4000, n_components=16, latency_ms=8.0, iterations=40)
    engine = LiveEngine(NMFSeparator(d, keep="0-7"), processing_rate=4000, device_rate=48000, n_channels=1, max_block=block)
    window_ms = 1000 * d.latency_samples / 4000
    resampling_ms = 1000 * engine.resampling_delay / 48000
    block_ms = 1000 * block / 48000
    report.paragraph(f"4 kHz heartbeat dictionary at --latency-ms 8 on a 48 kHz device, blocks of {block}: "
                     f"{window_ms + resampling_ms + block_ms:.1f} ms = {window_ms:.2f} algorithmic + {resampling_ms:.2f} resampling "
                     f"({engine.resampler_name}) + {block_ms:.2f} block + what PortAudio reports (target <= 20 ms)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter signals and fewer rounds")
    parser.add_argument("--markdown", type=Path, default=None, metavar="FILE", help="also write the tables to FILE as Markdown")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from .markdown import Report

    report = Report("tools.benchmarks.routes", sys.argv[1:] if argv is None else argv)
    with threadpool_limits(limits=1):
        route_rows(report, args.quick)
        stft_rows(report, args.quick)
        live_rows(report, args.quick)
    if args.markdown is not None:
        report.write(args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
