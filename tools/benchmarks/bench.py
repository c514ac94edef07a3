"""Performance benchmark: realtime_nmf side by side with what a user would otherwise pick.

Usage: python -m tools.benchmarks.bench [--quick] [--skip-memory] [--only engine|routes|training|memory|batch] [--markdown FILE]

Every row runs in this process with BLAS pinned to one thread (threadpoolctl), after a
warm-up, repeated; times are medians with [min-max]. All H-only rows use the same
spectrogram and the same fixed dictionary, and print the summed divergence of their
activations (relative to the offline solve run to convergence) and the SDR of the
separated target (difference to the converged offline solve), so speed is compared at
known quality. The speed-ups against scikit-learn are also timed in alternation (engine,
scikit-learn per frame, scikit-learn whole file, back to back, median of the ratios), so
that a slow phase of a shared machine slows both sides of a ratio.

Configurations:
- heartbeat: the bundled preset as it is (its dictionary, kept components and separator
  settings), on the second half of the demo's synthesised stethoscope recording;
- heavy: 44.1 kHz, n_fft 2048, hop 512, 64 components, KL, 30 updates, trained on 40 s of
  a synthesised music-like signal (noise, decaying thumps, harmonic notes), tested on 20 s.

Rows: (1) the streaming engine, whole path in file mode, at the setting's updates and at
10, 15 and 20; (2) scikit-learn's H-only transform per frame and on the whole file; (3) a
naive numpy per-frame loop; (4) callback cost per block in the live engine; (5) training
against scikit-learn's NMF(solver="mu"); (6) peak memory of `rtnmf run` on a one-hour
file and of training on ten minutes; (7) ``rtnmf batch`` against a shell loop of ``rtnmf run``,
its scaling to the cores, parent memory, reruns and the start-up CPU (batch.py).

``--markdown FILE`` also writes every table to FILE (``docs/generated/bench.md`` for the
documentation's Performance page), headed by the command, machine, date and commit.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from realtime_nmf import Dictionary, NMFSeparator, load_preset
from realtime_nmf.demo import synthesize_stethoscope
from realtime_nmf.live.engine import LiveEngine
from realtime_nmf.evaluate import sdr, select_components
from realtime_nmf.nmf import FrameSolver, beta_divergence, fit, solve_activations
from realtime_nmf.decompose import component_signals
from realtime_nmf.processors import Masker
from realtime_nmf.stft import istft, stft
from realtime_nmf.training import learn_dictionary
from tools.benchmarks.markdown import Report, machine
from tools.benchmarks.soak import write_long_recording


def timed(function, repeats: int):
    """Run ``function`` once to warm up, then ``repeats`` times; return (median, min, max) seconds and the last result."""
    result = function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return float(np.median(times)), float(min(times)), float(max(times)), result


def fmt(median, low, high, scale=1.0, digits=1):
    return f"{median * scale:.{digits}f} [{low * scale:.{digits}f}-{high * scale:.{digits}f}]"


# --------------------------------------------------------------------------------------
# test material


def music_like(seconds: float, sr: int = 44100, seed: int = 3) -> dict:
    """Pink-ish noise with wobble, decaying pitched thumps ("kick") and harmonic notes ("notes")."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    white = rng.standard_normal(n)
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(np.maximum(np.arange(n // 2 + 1), 1)), n)
    noise = 0.3 * pink / np.abs(pink).max() * (1 + 0.3 * np.sin(2 * np.pi * 0.13 * t))
    kick = np.zeros(n)
    for start in np.arange(0.1, seconds, 60 / 118):
        i = int(start * sr)
        k = np.arange(min(int(0.35 * sr), n - i)) / sr
        kick[i : i + k.size] += np.sin(2 * np.pi * (110 * np.exp(-k * 18) + 45) * k) * np.exp(-k * 9)
    notes = np.zeros(n)
    position = 0.0
    while position < seconds:
        length = rng.uniform(0.4, 2.0)
        f0 = 220 * 2 ** (rng.integers(0, 12) / 12)
        i, j = int(position * sr), min(n, int((position + length) * sr))
        k = np.arange(j - i) / sr
        envelope = np.minimum(1, k / 0.02) * np.exp(-k * 1.5)
        notes[i:j] += sum(np.sin(2 * np.pi * f0 * h * k) / h for h in range(1, 7)) * envelope * 0.3
        position += length * rng.uniform(0.6, 1.0)
    mixture = noise + kick + notes
    scale = 0.8 / np.abs(mixture).max()
    return {name: (x * scale).astype(np.float32) for name, x in (("mixture", mixture), ("kick", kick), ("notes", notes))}


class Setup:
    """A dictionary, a preset-like separator, the test signal, its spectrogram and target reference."""

    def __init__(self, name, dictionary: Dictionary, keep, settings, test, target):
        self.name, self.dictionary, self.keep, self.settings = name, dictionary, keep, settings
        self.test, self.target = test, target
        d = dictionary
        self.S = stft(test, d.n_fft, d.hop_length, d.window)[:, :, 0]
        self.V = np.ascontiguousarray(np.abs(self.S), dtype=np.float32)
        self.n_frames = self.V.shape[1]
        self.hop_seconds = d.hop_length / d.sample_rate
        self.separator = NMFSeparator(d, keep=keep, **settings)
        self.H_converged = solve_activations(self.V, d.W, beta=d.beta, iterations=2000, tolerance=1e-7)
        self.D_converged = beta_divergence(self.V, d.W @ self.H_converged, d.beta)
        self.sdr_converged = sdr(target, self.render(self.H_converged))

    def render(self, H: np.ndarray) -> np.ndarray:
        """The masked output for activations ``H`` (n_components, n_frames), aligned with the test signal."""
        d = self.dictionary
        masker = Masker(d.W, self.separator.keep, self.settings.get("mask", "ratio"), self.settings.get("mask_exponent", 1.0), 1)
        S = self.S.copy()
        for m in range(self.n_frames):
            frame = np.ascontiguousarray(S[:, m : m + 1].T)
            masker.apply(frame, np.ascontiguousarray(H[:, m : m + 1].T, dtype=np.float32))
            S[:, m] = frame[0]
        return istft(S[:, :, None], d.n_fft, d.hop_length, d.window, length=len(self.test))[:, 0]

    def quality(self, H: np.ndarray) -> str:
        d = self.dictionary
        excess = beta_divergence(self.V, d.W @ H, d.beta) / self.D_converged - 1
        return f"+{100 * excess:.2f}% | {sdr(self.target, self.render(H)) - self.sdr_converged:+.2f} dB"


def heartbeat_setup() -> Setup:
    preset = load_preset("heartbeat")
    parts = synthesize_stethoscope()
    half = len(parts["mixture"]) // 2
    return Setup("heartbeat", preset.dictionary, preset.keep_indices, dict(preset.settings), parts["mixture"][half:], parts["heart"][half:])


def heavy_setup(quick: bool) -> Setup:
    parts = music_like(40.0 if quick else 60.0)
    split = int((20 if quick else 40) * 44100)
    train = parts["mixture"][:split]
    d = learn_dictionary([train], 44100, n_components=64, beta=1.0, iterations=60 if quick else 100, n_fft=2048, hop_length=512)
    keep = select_components(component_signals(d, train[: 10 * 44100]), parts["kick"][: 10 * 44100])
    return Setup("heavy", d, keep, dict(iterations=30, tolerance=0.0), parts["mixture"][split:], parts["kick"][split:])


# --------------------------------------------------------------------------------------
# rows


def per_frame_activations(setup: Setup) -> np.ndarray:
    """The activations the streaming engine computes (same solver, warm starts, iterations)."""
    d, s = setup.dictionary, setup.settings
    B = s.get("batch_frames", 1)
    solver = FrameSolver(d.W, beta=d.beta, iterations=s.get("iterations", 20), tolerance=s.get("tolerance", 0.0), sparsity=s.get("sparsity", 0.0))
    H = np.empty((setup.n_frames, d.n_components), np.float32)
    for m in range(setup.n_frames):
        v = np.ascontiguousarray(setup.V[:, m : m + 1].T)
        h = H[m : m + 1]
        if m < B:
            solver.start(v, h)
        else:
            h[...] = H[m - B]
            solver.warm_start(v, h, s.get("flat_start", 0.2))
        solver.solve(v, h)
    return np.ascontiguousarray(H.T)


def with_settings(setup: Setup, **settings) -> Setup:
    """The same setup (dictionary, signal, references) with other separator settings."""
    other = copy.copy(setup)
    other.settings = dict(setup.settings, **settings)
    other.separator = NMFSeparator(setup.dictionary, keep=setup.keep, **other.settings)
    return other


def row_engine(setup: Setup, repeats: int):
    x = setup.test
    separator = setup.separator
    median, low, high, _ = timed(lambda: separator(x, setup.dictionary.sample_rate, block_size=4096), repeats)
    seconds = len(x) / setup.dictionary.sample_rate
    per_frame = median / setup.n_frames
    s = setup.settings
    label = f"streaming engine, whole path (file mode), {s.get('iterations', 10)} updates, batches of {s.get('batch_frames', 8)}"
    return (label, fmt(median / setup.n_frames, low / setup.n_frames, high / setup.n_frames, 1e6),
            f"{seconds / median:.0f}x", setup.quality(per_frame_activations(setup)), per_frame)


def _sklearn_transform(V: np.ndarray, W: np.ndarray, beta: float, max_iter: int = 200, tol: float = 1e-4):
    from sklearn.decomposition import non_negative_factorization

    loss = {2.0: "frobenius", 1.0: "kullback-leibler", 0.0: "itakura-saito"}.get(beta, beta)
    H_t, _, _ = non_negative_factorization(V.T, H=W.T, n_components=W.shape[1], update_H=False, solver="mu", beta_loss=loss,
                                           max_iter=max_iter, tol=tol)
    return np.ascontiguousarray(H_t.T, dtype=np.float32)


def row_sklearn_frames(setup: Setup, repeats: int, n_frames: int):
    d = setup.dictionary
    W = d.W.astype(np.float64)
    V = setup.V.astype(np.float64)

    def run():
        return np.stack([_sklearn_transform(V[:, m : m + 1], W, d.beta)[:, 0] for m in range(n_frames)], axis=1)

    median, low, high, _ = timed(run, max(1, repeats // 2))
    # quality of the per-frame calls over the whole file (frames are independent in sklearn)
    H_all = np.stack([_sklearn_transform(V[:, m : m + 1], W, d.beta)[:, 0] for m in range(setup.n_frames)], axis=1)
    per_frame = median / n_frames
    return ("scikit-learn NMF.transform, called per frame", fmt(per_frame, low / n_frames, high / n_frames, 1e6),
            f"{setup.hop_seconds / per_frame:.0f}x", setup.quality(H_all), per_frame)


def paired_speedups(engine: Setup, repeats: int, n_frames: int) -> dict:
    """Speed-ups of the engine over scikit-learn per frame and whole-file, timed in alternation.

    Each repeat times the engine on the whole test signal, then scikit-learn per frame on
    ``n_frames`` frames, then scikit-learn on the whole file, back to back, and takes the
    ratios of their times per frame; a slow phase of a shared machine then slows both
    sides of a ratio instead of one row of the table. Returns ``{name: (median, min, max)}``.
    """
    d = engine.dictionary
    W, V = d.W.astype(np.float64), engine.V.astype(np.float64)
    runs = {
        "engine": (lambda: engine.separator(engine.test, d.sample_rate, block_size=4096), engine.n_frames),
        "per frame": (lambda: [_sklearn_transform(V[:, m : m + 1], W, d.beta) for m in range(n_frames)], n_frames),
        "whole file": (lambda: _sklearn_transform(V, W, d.beta), engine.n_frames),
    }
    for run, _ in runs.values():
        run()  # warm-up
    ratios = {"per frame": [], "whole file": []}
    for _ in range(repeats):
        cost = {}
        for name, (run, frames) in runs.items():
            started = time.perf_counter()
            run()
            cost[name] = (time.perf_counter() - started) / frames
        for name in ratios:
            ratios[name].append(cost[name] / cost["engine"])
    return {name: (float(np.median(values)), min(values), max(values)) for name, values in ratios.items()}


def row_sklearn_whole(setup: Setup, repeats: int):
    d = setup.dictionary
    W, V = d.W.astype(np.float64), setup.V.astype(np.float64)
    median, low, high, H = timed(lambda: _sklearn_transform(V, W, d.beta), repeats)
    per_frame = median / setup.n_frames
    return ("scikit-learn NMF.transform, whole file (offline)", fmt(per_frame, low / setup.n_frames, high / setup.n_frames, 1e6),
            f"{setup.hop_seconds / per_frame:.0f}x", setup.quality(H), per_frame)


def row_naive(setup: Setup, repeats: int):
    d = setup.dictionary
    W = d.W.astype(np.float64)
    V = setup.V.astype(np.float64)
    n_iter = setup.settings.get("iterations", 20)

    beta = d.beta

    def run():  # what a notebook would write: allocate freely, float64, plain warm start, textbook update
        H = np.empty((W.shape[1], V.shape[1]))
        h = np.full(W.shape[1], V[:, 0].sum() / W.sum())
        for m in range(V.shape[1]):
            v = V[:, m]
            for _ in range(n_iter):
                wh = np.maximum(W @ h, 1e-10)
                h = np.maximum(h * (W.T @ (v * wh ** (beta - 2))) / (W.T @ wh ** (beta - 1)), 1e-10)
            H[:, m] = h
        return H

    median, low, high, H = timed(run, max(1, repeats // 2))
    per_frame = median / setup.n_frames
    return (f"naive numpy per-frame loop ({n_iter} updates, float64)", fmt(per_frame, low / setup.n_frames, high / setup.n_frames, 1e6),
            f"{setup.hop_seconds / per_frame:.0f}x", setup.quality(H), per_frame)


def callback_rows(setup: Setup, block_sizes=(64, 256, 1024)):
    rows = []
    d = setup.dictionary
    x = setup.test[:, None].copy()
    for block in block_sizes:
        engine = LiveEngine(NMFSeparator(d, keep=setup.keep, **setup.settings), processing_rate=d.sample_rate, device_rate=d.sample_rate,
                            n_channels=1, out_channels=2, max_block=block)
        engine.warm_up(block)
        out = np.zeros((block, 2), np.float32)
        for _ in range(2):
            for i in range(0, len(x) - block, block):
                engine.process(x[i : i + block], out)
        loads = engine.stats.loads()
        durations = engine.stats.durations[: engine.stats.blocks] * 1e6
        rows.append((block, 1000 * block / d.sample_rate, np.percentile(loads, 50), np.percentile(loads, 99), loads.max(),
                     np.percentile(durations, 50), np.percentile(durations, 99), durations.max()))
    return rows


def training_rows(quick: bool, repeats: int):
    """rtnmf's fit against sklearn NMF(solver='mu') on a 60 s clip, same beta, init and iterations.

    scikit-learn runs on float64 input (what ``np.abs`` of a float64 STFT gives, and what
    the issue's baseline used) and on float32 input (what librosa's STFT gives; sklearn
    then computes in float32 too). Each time is the median of ``repeats`` runs.
    """
    from sklearn.decomposition import NMF

    parts = music_like(20.0 if quick else 60.0, sr=22050)
    V = np.abs(stft(parts["mixture"], 2048, 512)[:, :, 0]).astype(np.float32)
    rows = []
    n_iter = 50 if quick else 200
    for beta, loss in ((1.0, "kullback-leibler"), (0.0, "itakura-saito"), (0.5, 0.5)):
        Vb = V + 1e-6 if beta <= 0.5 else V  # sklearn refuses zeros in the data for beta <= 0

        def sklearn_fit(dtype):
            model = NMF(n_components=16, solver="mu", beta_loss=loss, init="nndsvda", max_iter=n_iter, tol=0.0, random_state=0)
            activations = model.fit_transform(Vb.astype(dtype).T)  # sklearn's W: our H.T
            return model.components_.T @ activations.T

        runs = {
            "sklearn float64": lambda: sklearn_fit(np.float64),
            "sklearn float32": lambda: sklearn_fit(np.float32),
            "rtnmf": lambda: fit(Vb, 16, beta=beta, iterations=n_iter, tolerance=0.0, init="nndsvda", seed=0, check_every=n_iter),
        }
        times = {name: [] for name in runs}
        results = {}
        for _ in range(repeats):  # interleaved, so a busy spell slows every method alike
            for name, run in runs.items():
                started = time.perf_counter()
                results[name] = run()
                times[name].append(time.perf_counter() - started)
        D_sk = beta_divergence(Vb, results["sklearn float64"], beta)
        D_sk32 = beta_divergence(Vb, results["sklearn float32"], beta)
        plain = results["rtnmf"]
        # a separate run with the divergence checked every 10 iterations (those checks are
        # part of its time) says when rtnmf first reached scikit-learn's final divergence
        trace = []
        started = time.perf_counter()
        fit(Vb, 16, beta=beta, iterations=n_iter, tolerance=0.0, init="nndsvda", seed=0, check_every=10,
            callback=lambda it, value: trace.append((time.perf_counter() - started, it, value)))
        reach = next((t for t, it, value in trace if value <= D_sk * (1 + 1e-6)), None)
        median = {name: float(np.median(values)) for name, values in times.items()}
        rows.append((beta, V.shape, n_iter, median["sklearn float64"], D_sk, median["sklearn float32"], D_sk32,
                     median["rtnmf"], plain.divergence, reach))
    return rows


def report_training(report: Report, quick: bool, repeats: int) -> None:
    report.heading(f"Training: rtnmf against scikit-learn NMF(solver='mu'), K 16, nndsvda, same iterations, tolerance 0, median of {repeats} "
                   "interleaved runs")
    rows = []
    for beta, shape, n_iter, sk_time, D_sk, sk32_time, D_sk32, ours, D_ours, reach in training_rows(quick, repeats):
        reach_text = f"{reach:.2f}" if reach is not None else "not reached"
        rows.append([f"{beta:g}", f"{shape[0]} x {shape[1]}", n_iter, f"{sk_time:.2f}", f"{D_sk:.6g}", f"{sk32_time:.2f}", f"{D_sk32:.6g}",
                     f"{ours:.2f}", f"{D_ours:.6g}", reach_text, f"{sk_time / ours:.1f}x", f"{sk32_time / ours:.1f}x"])
    report.table(["beta", "spectrogram", "iterations", "scikit-learn float64 s", "its divergence", "scikit-learn float32 s", "its divergence",
                  "rtnmf s", "its divergence", "rtnmf s to reach scikit-learn's divergence", "speed-up vs float64", "vs float32"], rows)


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """Run ``python -m realtime_nmf ARGS`` and return (peak RSS in MB from VmHWM, wall seconds)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", "import sys, runpy; sys.argv = ['rtnmf'] + sys.argv[1:]; "
                                "code = 0\ntry:\n    runpy.run_module('realtime_nmf', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
                                "print('VmHWM', [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1], file=sys.stderr)\n"
                                "sys.exit(code)", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _, stderr = process.communicate()
    line = [l for l in stderr.splitlines() if l.startswith("VmHWM")]
    return (int(line[0].split()[1]) / 1024 if line else float("nan")), time.perf_counter() - started


def memory_rows(quick: bool):
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        minutes = 10 if quick else 60
        write_long_recording(folder / "long.wav", minutes)
        peak, wall = peak_rss_mb(["run", "--preset", "heartbeat", "--input", str(folder / "long.wav"), "--output", str(folder / "out.wav")])
        baseline, _ = peak_rss_mb(["info", "heartbeat"])
        rows.append((f"rtnmf run, {minutes} min file at 4 kHz (streamed)", peak, baseline, wall, None))
        import soundfile as sf

        train_minutes = 2 if quick else 10
        parts = music_like(60.0, sr=22050)
        with sf.SoundFile(folder / "train.wav", "w", 22050, 1, "FLOAT") as handle:
            for _ in range(train_minutes):
                handle.write(parts["mixture"])
        n_frames = (train_minutes * 60 * 22050 + 2047) // 512
        spectrogram_mb = 1025 * n_frames * 4 / 2**20
        peak, wall = peak_rss_mb(["train", str(folder / "train.wav"), "-o", str(folder / "d.npz"), "--components", "16", "--iterations", "20",
                                  "--n-fft", "2048", "--hop-length", "512"])
        rows.append((f"rtnmf train, {train_minutes} min at 22.05 kHz (n_fft 2048, hop 512, K 16)", peak, baseline, wall, spectrogram_mb))
    return rows


# --------------------------------------------------------------------------------------


def report_engine(report: Report, setup: Setup, repeats: int, quick: bool) -> None:
    """The H-only rows, the speed-ups timed in alternation and the callback cost, for one setting."""
    d = setup.dictionary
    report.heading(f"{setup.name}: {d.sample_rate} Hz, n_fft {d.n_fft}, hop {d.hop_length} ({1000 * setup.hop_seconds:.1f} ms), "
                   f"{d.n_components} components, beta {d.beta:g}, keep {len(setup.keep)}, "
                   f"{setup.settings.get('iterations', 10)} updates per frame (tolerance {setup.settings.get('tolerance', 0)}), "
                   f"batches of {setup.settings.get('batch_frames', 8)}, {setup.n_frames} test frames")
    setups = [setup] + [with_settings(setup, iterations=iterations) for iterations in (10, 15, 20)  # other numbers of updates
                        if setup.settings.get("iterations", 10) != iterations]
    rows = [row_engine(each, repeats) for each in setups]
    # the fastest row within 0.1 dB SDR of the converged solve
    within = [i for i, row in enumerate(rows) if float(row[3].split("|")[1].split()[0]) >= -0.1] or [0]
    best = min(within, key=lambda i: rows[i][4])
    engine = rows[best][4]
    n_frames = min(setup.n_frames, 150 if quick else 400)
    rows += [row_sklearn_frames(setup, repeats, n_frames), row_sklearn_whole(setup, repeats), row_naive(setup, repeats)]
    report.table(["method", "us per frame, median [min-max]", "real-time factor", "divergence vs converged", "SDR vs converged"],
                 [[name, cell, rtf, *(part.strip() for part in quality.split("|"))] for name, cell, rtf, quality, _ in rows])
    sk_frame, sk_whole, naive = rows[-3][4], rows[-2][4], rows[-1][4]
    paired = paired_speedups(setups[best], repeats, n_frames)
    report.paragraph(f"Speed-ups of the engine's fastest row within 0.1 dB SDR of the converged solve ({rows[best][0]}): from the rows above "
                     f"{sk_frame / engine:.0f}x scikit-learn per frame, {sk_whole / engine:.1f}x scikit-learn whole file, "
                     f"{naive / engine:.1f}x naive numpy; timed in alternation ({repeats} rounds of the engine, scikit-learn per frame and "
                     f"scikit-learn whole file back to back, median [min-max] of the ratios): **{fmt(*paired['per frame'], digits=0)}x** "
                     f"scikit-learn per frame, **{fmt(*paired['whole file'])}x** scikit-learn whole file.")
    report.paragraph("Callback cost per block in the live engine (`LiveEngine.process`, no device, at the dictionary's rate), "
                     "as a share of the block's duration and in microseconds:")
    report.table(["block", "block ms", "load p50", "p99", "max", "us p50", "p99", "max"],
                 [[block, f"{ms:.1f}", f"{100 * p50:.1f} %", f"{100 * p99:.1f} %", f"{100 * mx:.1f} %", f"{u50:.0f}", f"{u99:.0f}", f"{umax:.0f}"]
                  for block, ms, p50, p99, mx, u50, u99, umax in callback_rows(setup)])


def report_memory(report: Report, quick: bool) -> None:
    report.heading("Memory (peak RSS of the whole process, VmHWM)")
    report.table(["run", "peak RSS MB", "`rtnmf info` (imports only) MB", "wall s", "spectrogram MB"],
                 [[name, f"{peak:.0f}", f"{baseline:.0f}", f"{wall:.1f}", "" if spectrogram is None else f"{spectrogram:.0f}"]
                  for name, peak, baseline, wall, spectrogram in memory_rows(quick)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and shorter signals (a smoke run)")
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory rows (they write a long file)")
    parser.add_argument("--only", choices=("engine", "routes", "training", "memory", "batch"), help="run one part of the table")
    parser.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                        help="also write the tables to FILE as Markdown, with the command, machine and date (docs/generated/bench.md)")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    report = Report("tools.benchmarks.bench", sys.argv[1:] if argv is None else argv)
    repeats = 2 if args.quick else 5
    training_repeats = 1 if args.quick else 3
    parts = {args.only} if args.only else {"engine", "routes", "training", "batch"} | (set() if args.skip_memory else {"memory"})
    print(f"machine: {machine()}\n")
    with threadpool_limits(limits=1):
        for setup in (heartbeat_setup(), heavy_setup(args.quick)) if "engine" in parts else ():
            report_engine(report, setup, repeats, args.quick)
        if "routes" in parts:  # every route side by side, and the live callback at low latency (routes.py)
            from . import routes

            routes.route_rows(report, args.quick)
            routes.live_rows(report, args.quick)
        if "training" in parts:
            report_training(report, args.quick, training_repeats)
    if "memory" in parts:
        report_memory(report, args.quick)
    if "batch" in parts:  # whole commands in fresh interpreters, side by side (batch.py)
        from . import batch

        batch.batch_rows(report, args.quick)
    if args.markdown is not None:
        report.write(args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
