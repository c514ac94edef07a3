"""Online training (``rtnmf train --online``): held-out divergence for the time spent, against full batch and scikit-learn; peak memory.

Usage: python -m tools.benchmarks.online [--quick] [--skip-memory] [--markdown FILE]
       (also part of python -m tools.benchmarks.bench: --only online)

Times are CPU seconds of this process (``time.process_time``, BLAS pinned to one
thread): on a shared machine they move less than wall time. The held-out divergence of a
dictionary is the divergence per frame of held-out recordings with their activations
solved to convergence against it (500 updates), relative to the full-batch dictionary's.

1. End to end, from the files: full-batch training (load, spectrogram, 200 iterations of
   :func:`realtime_nmf.nmf.fit`, nndsvda) against online training
   (:func:`realtime_nmf.online_training.train_dictionary_online`, defaults, 1, 2 and 3
   passes, its streaming initialisation included). Cases: the HLS-CMDS heart and lung
   recordings (``../shared/data/hls_cmds_full``: heart-only, lung-only and mixtures,
   every sixth file held out; skipped when absent) and a generated stethoscope recording
   (60 min, 10 with --quick; 5 other minutes held out).
2. The update rule alone, on identical mini-batches already in memory (the plan of
   :func:`realtime_nmf.online_data.plan_pass`, read once): rtnmf's
   :meth:`OnlineNMF.partial_fit` against scikit-learn's ``MiniBatchNMF.partial_fit``
   (float32 input, so scikit-learn computes in float32; its defaults, forget_factor 0.7,
   which with ``partial_fit`` forgets per call; and with rtnmf's initial templates and
   forget_factor 0.2), CPU time of the update calls only, held-out divergence after every
   pass (for rtnmf, what :func:`~realtime_nmf.online_nmf.online_fit` would return after
   that pass: the average of the iterates over its second half). The speed-up is taken at
   equal held-out divergence: the level both reach (the worse of their best values) and
   the CPU time each needed to reach it.
3. Peak RSS (VmHWM) of ``python -m realtime_nmf train FILE --online --passes 1`` on 6
   minutes, 60 minutes and 10 hours of generated 4 kHz audio (1 and 6 minutes with
   --quick), against full-batch training of the 60 minutes (2 iterations: the peak does
   not depend on their number).
"""

from __future__ import annotations

import argparse
import glob
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from realtime_nmf import defaults
from realtime_nmf.audio import load
from realtime_nmf.file_frames import FrameReader, OpenFiles, read_runs
from realtime_nmf.nmf import beta_divergence, fit, solve_activations
from realtime_nmf.online_data import initial_templates, plan_pass, random_streams
from realtime_nmf.online_nmf import OnlineNMF
from realtime_nmf.online_training import full_batch_memory, spectrogram_bytes, train_dictionary_online
from realtime_nmf.stft import magnitude_spectrogram
from tools.benchmarks.long_audio import write_long_audio
from tools.benchmarks.markdown import Report, machine

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
SETTINGS = dict(sample_rate=4000, n_fft=256, hop_length=64)
K = 16


def held_out(W: np.ndarray, V: np.ndarray, beta: float) -> float:
    """Divergence per frame of ``V`` with its activations solved to convergence against ``W``."""
    W = np.asarray(W, np.float32) / np.maximum(np.linalg.norm(W, axis=0), 1e-10).astype(np.float32)
    H = solve_activations(V, W, beta=beta, iterations=500, tolerance=1e-7)
    return beta_divergence(V, W @ H, beta) / V.shape[1]


def cpu(function):
    started = time.process_time()
    result = function()
    return time.process_time() - started, result


def spectrogram_of(files) -> np.ndarray:
    return np.concatenate([magnitude_spectrogram(load(f, sample_rate=4000, mono=True)[0], 256, 64) for f in files], axis=1)


def cases(quick: bool, folder: Path) -> list[tuple[str, list, list]]:
    """(name, training files, held-out files) of every case whose data is there."""
    found = []
    root = DATA / "hls_cmds_full"
    files = sorted(glob.glob(str(root / "heart_only" / "*.wav")) + glob.glob(str(root / "lung_only" / "*.wav"))
                   + glob.glob(str(root / "exact_sum_mix" / "M*.wav")))
    if files:
        test = files[::6]
        train = [f for f in files if f not in test]
        found.append((f"HLS-CMDS heart and lung recordings: {len(train)} files (15 s each) to learn from, {len(test)} held out",
                      train, test))
    else:
        print(f"note: {root} not found: the heart and lung case is skipped")
    minutes = 10 if quick else 60
    write_long_audio(folder / "long.wav", minutes, seed=1)
    write_long_audio(folder / "held_out.wav", 5, seed=2)
    found.append((f"generated stethoscope recording: {minutes} min to learn from, 5 other minutes held out",
                  [folder / "long.wav"], [folder / "held_out.wav"]))
    return found


def end_to_end(report: Report, name: str, train, test, beta: float, passes=(1, 2, 3)) -> None:
    V_test = spectrogram_of(test)
    seconds, result = cpu(lambda: fit(spectrogram_of(train), K, beta=beta, iterations=200, tolerance=0.0))
    reference = held_out(result.W, V_test, beta)
    rows = [["full batch, 200 iterations", f"{seconds:.1f}", f"{reference:.5g}", "0.00 %"]]
    for n in passes:
        seconds, d = cpu(lambda: train_dictionary_online(train, n_components=K, beta=beta, passes=n, **SETTINGS))
        value = held_out(d.W, V_test, beta)
        rows.append([f"online, {n} pass{'es' if n > 1 else ''} ({d.provenance['online']['mini_batches']} mini-batches)", f"{seconds:.1f}",
                     f"{value:.5g}", f"{100 * (value / reference - 1):+.2f} %"])
    report.heading(f"{name}; beta {beta:g}, K {K}, 4 kHz, n_fft 256, hop 64")
    report.table(["training", "CPU s (reading and initialisation included)", "held-out divergence per frame", "vs full batch"], rows)


def update_rules(report: Report, name: str, train, test, beta: float, passes: int) -> None:
    from sklearn.decomposition import MiniBatchNMF

    V_test = spectrogram_of(test)
    readers = [FrameReader(f, **SETTINGS) for f in train]
    counts = [r.n_frames for r in readers]
    rng = np.random.default_rng(random_streams(0)[1])
    with OpenFiles() as files:
        plans = [[read_runs(readers, runs, files) for runs in plan_pass(counts, 1024, 64, rng)] for _ in range(passes)]
    if beta <= 0:  # scikit-learn refuses zeros for beta <= 0
        plans = [[V + np.float32(1e-6) for V in batches] for batches in plans]
    init_seconds, W0 = cpu(lambda: initial_templates(readers, K))

    def run_rtnmf():
        # what online_fit returns after each pass: the average of the iterates over its second half
        model = OnlineNMF(W0, beta=beta)
        trace, spent = [], init_seconds
        for batches in plans:
            started = time.process_time()
            average = np.zeros(model.W.shape)
            for index, V in enumerate(batches):
                model.partial_fit(V, forget=defaults.ONLINE_FORGET ** (V.shape[1] / 1024))
                if index >= len(batches) // 2:
                    average += model.W
            spent += time.process_time() - started
            trace.append((spent, held_out(average, V_test, beta)))
        return trace

    def run_sklearn(forget, custom):
        model = MiniBatchNMF(n_components=K, beta_loss=beta, init="custom" if custom else "nndsvda", batch_size=1024,
                             forget_factor=forget, random_state=0)
        trace, spent, first = [], init_seconds if custom else 0.0, True
        for batches in plans:
            started = time.process_time()
            for V in batches:
                X = V.T  # scikit-learn's orientation, frames as rows (a view: no copy is timed)
                if first and custom:
                    model.partial_fit(X, W=np.full((X.shape[0], K), 0.1, np.float32), H=np.ascontiguousarray(W0.T))
                else:
                    model.partial_fit(X)
                first = False
            spent += time.process_time() - started
            trace.append((spent, held_out(model.components_.T, V_test, beta)))
        return trace

    traces = {f"rtnmf OnlineNMF.partial_fit (its defaults: forget {defaults.ONLINE_FORGET:g}, {defaults.ONLINE_SOLVER_ITERATIONS} "
              "updates of the activations, the second half's average; its initial templates)": run_rtnmf(),
              "scikit-learn MiniBatchNMF.partial_fit, defaults (forget_factor 0.7, 30 updates of the activations, nndsvda of the "
              "first mini-batch)":
                  run_sklearn(0.7, False),
              "scikit-learn MiniBatchNMF.partial_fit, rtnmf's initial templates, forget_factor 0.2": run_sklearn(0.2, True)}
    reference = min(value for trace in traces.values() for _, value in trace)
    report.heading(f"{name}: the update rules on the same {sum(len(p) for p in plans)} in-memory mini-batches of up to 1024 frames, "
                   f"beta {beta:g}, K {K}")
    report.table(["method"] + [f"pass {i + 1}: CPU s, held-out vs best" for i in range(passes)],
                 [[method] + [f"{t:.1f} s, {100 * (v / reference - 1):+.2f} %" for t, v in trace] for method, trace in traces.items()])
    ours = next(iter(traces.values()))
    for method, trace in list(traces.items())[1:]:
        # at equal held-out divergence: the level both reach (the worse of their bests), and the CPU time each needed for it
        level = max(min(v for _, v in trace), min(v for _, v in ours))
        theirs_time = next(t for t, v in trace if v <= level)
        ours_time = next(t for t, v in ours if v <= level)
        report.paragraph(f"To a held-out divergence of {level:.5g} (the worse of the two bests), {method.split(' (')[0].split(', rtnmf')[0]} "
                         f"({method.split(', ', 1)[1]}) took {theirs_time:.1f} s and rtnmf {ours_time:.1f} s: "
                         f"**{theirs_time / ours_time:.1f}x** faster.")


def memory_rows(report: Report, quick: bool, folder: Path) -> None:
    from tools.benchmarks.bench import peak_rss_mb

    rows = []
    baseline, _ = peak_rss_mb(["info", "heartbeat"])
    durations = (1, 6) if quick else (6, 60, 600)
    for minutes in durations:
        path = folder / f"train_{minutes}.wav"
        write_long_audio(path, minutes, seed=3)
        n_bytes, n_frames = spectrogram_bytes([path], 4000, 256, 64)
        peak, wall = peak_rss_mb(["train", str(path), "-o", str(folder / "d.npz"), "--online", "--passes", "1"])
        rows.append([f"rtnmf train --online --passes 1, {minutes / 60:g} h" if minutes >= 60 else
                     f"rtnmf train --online --passes 1, {minutes} min", f"{peak:.0f}", f"{wall:.0f}", f"{n_bytes / 2**20:.0f}",
                     f"{full_batch_memory([path], 4000, 256, 64) / 2**20 + baseline:.0f}"])
        if minutes == durations[-2 if len(durations) > 2 else -1]:
            peak, wall = peak_rss_mb(["train", str(path), "-o", str(folder / "d.npz"), "--iterations", "2", "--max-memory", "100G"])
            rows.append([f"rtnmf train (full batch, 2 iterations), {minutes} min", f"{peak:.0f}", f"{wall:.0f}", f"{n_bytes / 2**20:.0f}",
                         f"{full_batch_memory([path], 4000, 256, 64) / 2**20 + baseline:.0f}"])
        path.unlink()
    report.heading(f"Memory of rtnmf train --online: peak RSS (VmHWM) of the whole process, generated 4 kHz audio, K {K}, n_fft 256 "
                   f"(`rtnmf info`, imports only: {baseline:.0f} MB)")
    report.table(["run", "peak RSS MB", "wall s", "spectrogram MB", "full batch, estimated MB"], rows)


def online_rows(report: Report, quick: bool, skip_memory: bool = False) -> None:
    """Every part of this benchmark, into ``report``."""
    with tempfile.TemporaryDirectory(prefix="rtnmf-online-") as folder:
        folder = Path(folder)
        for index, (name, train, test) in enumerate(cases(quick, folder)):
            for beta in ((0.5,) if quick or index else (0.5, 1.0, 2.0)):
                end_to_end(report, name, train, test, beta)
            update_rules(report, name, train, test, 0.5, passes=3 if quick or index else 5)
        if not skip_memory:
            memory_rows(report, quick, folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter recordings, fewer cases (a smoke run)")
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory rows (they write up to ten hours of audio)")
    parser.add_argument("--markdown", type=Path, default=None, metavar="FILE", help="also write the tables to FILE as Markdown")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    report = Report("tools.benchmarks.online", sys.argv[1:] if argv is None else argv)
    print(f"machine: {machine()}\n")
    with threadpool_limits(limits=1):
        online_rows(report, args.quick, args.skip_memory)
    if args.markdown is not None:
        report.write(args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
