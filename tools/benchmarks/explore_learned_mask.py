"""Exploration for issue 5: can a mask learned from the first half beat NMF on the heart+lung files?

Usage: python -m tools.benchmarks.explore_learned_mask [--context C] [--model ridge|mlp]

Not NMF: a regression from the log power spectra of the current frame and its C past
frames (causal, no added latency) to the ideal ratio mask |H| / (|H| + |M - H|) of the
current frame, fitted on one half of each HLS-CMDS mixture with its true heart part and
applied to the other half (both folds), at the engine's default STFT (n_fft 256, hop 64 at
4 kHz). This is supervised mask estimation (Wang and Chen 2018, "Supervised speech
separation based on deep learning: an overview", with a linear or one-hidden-layer model
for seven seconds of training data). It prints SDRi and SI-SDRi per file and the medians;
docs/quality.md ("What this says") quotes the result. Needs scikit-learn (a test
dependency) and ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from realtime_nmf.evaluate import score_separation
from realtime_nmf.stft import istft, stft

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hls_cmds"
N_FFT, HOP = 256, 64
FILES = ("0087", "0111", "0113", "0114", "0116", "0118")


def context_features(S: np.ndarray, context: int) -> np.ndarray:
    """Log power of each frame stacked with its ``context`` past frames, shape (n_frames, (context + 1) * n_bins)."""
    log_power = np.log(np.abs(S[:, :, 0]).T ** 2 + 1e-8)
    floor = log_power.min()
    stacked = [log_power]
    for lag in range(1, context + 1):
        stacked.append(np.vstack([np.full((lag, log_power.shape[1]), floor), log_power[:-lag]]))
    return np.hstack(stacked)


def fit_and_score(train: tuple, test: tuple, context: int, model: str):
    """Fit the mask model on ``train = (mixture, heart)`` and score it on ``test``."""
    from sklearn.linear_model import Ridge
    from sklearn.neural_network import MLPRegressor

    (mix_train, heart_train), (mix_test, heart_test) = train, test
    S_train, S_heart = stft(mix_train, N_FFT, HOP), stft(heart_train, N_FFT, HOP)
    heart_mag = np.abs(S_heart[:, :, 0])
    ideal = (heart_mag / (heart_mag + np.abs(S_train[:, :, 0] - S_heart[:, :, 0]) + 1e-12)).T
    X = context_features(S_train, context)
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-6
    if model == "ridge":
        regressor = Ridge(alpha=10.0)
    else:
        regressor = MLPRegressor(hidden_layer_sizes=(256,), max_iter=300, alpha=1e-3, random_state=0)
    regressor.fit((X - mean) / scale, ideal)
    S_test = stft(mix_test, N_FFT, HOP)
    mask = np.clip(regressor.predict((context_features(S_test, context) - mean) / scale), 0.0, 1.0).T
    estimate = istft(S_test * mask[:, :, None], N_FFT, HOP, length=len(mix_test))[:, 0]
    return score_separation(heart_test, estimate, mixture=mix_test)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=0, help="past frames stacked with the current one (default 0)")
    parser.add_argument("--model", choices=("ridge", "mlp"), default="ridge")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"{DATA} is absent: nothing to explore (the HLS-CMDS mixtures live in ../shared/data)")
        return 0
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with open(DATA / "ground_truth_mixing.csv") as handle:
        gains = {row["triple"]: float(row["gain_g"]) for row in csv.DictReader(handle) if row["gain_g"]}
    rows = []
    print("file | first fold SDRi | SI-SDRi | swapped fold SDRi")
    for name in FILES:
        mix, _ = sf.read(DATA / "exact_sum_mix" / f"M{name}.wav")
        heart = gains[name] * sf.read(DATA / "exact_sum_mix" / f"H{name}.wav")[0]
        half = len(mix) // 2
        first = fit_and_score((mix[:half], heart[:half]), (mix[half:], heart[half:]), args.context, args.model)
        swapped = fit_and_score((mix[half:], heart[half:]), (mix[:half], heart[:half]), args.context, args.model)
        rows.append((first.sdri, first.si_sdri, swapped.sdri))
        print(f"{name} | {first.sdri:+.2f} | {first.si_sdri:+.2f} | {swapped.sdri:+.2f}", flush=True)
    medians = np.median(np.array(rows), axis=0)
    print(f"median | {medians[0]:+.2f} | {medians[1]:+.2f} | {medians[2]:+.2f}   ({args.model}, {args.context} past frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
