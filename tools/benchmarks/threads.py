"""Wall time of ``rtnmf train`` with one BLAS thread (the default) and with OpenBLAS's own default (one per core).

Usage:
    python -m tools.benchmarks.threads [--pairs 4] [--seconds 40] [--iterations 200]

Trains on the demo's synthesised stethoscope recording (``--seconds`` long, 4 kHz, 16
components, a fixed number of iterations), alternating ``--threads 1`` and ``--threads
0`` so that a busy phase of a shared machine slows both sides of a pair, and prints each
run, the medians and the median of the paired ratios, with the load average beside them.
OPENBLAS_NUM_THREADS and OMP_NUM_THREADS are removed from the children's environment
(they would override ``--threads 0``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4, help="pairs of runs (default 4)")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the training recording (default 40 s)")
    parser.add_argument("--iterations", type=int, default=200, help="training iterations, all run (default 200)")
    args = parser.parse_args()

    import soundfile as sf

    from realtime_nmf.demo import synthesize_stethoscope

    env = {key: value for key, value in os.environ.items() if key not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    times: dict[int, list[float]] = {1: [], 0: []}
    with tempfile.TemporaryDirectory(prefix="rtnmf-threads-") as folder:
        clip = Path(folder) / "clip.wav"
        sf.write(clip, synthesize_stethoscope(duration=args.seconds)["mixture"], 4000, subtype="FLOAT")
        for pair in range(1, args.pairs + 1):
            for threads in (1, 0):
                command = [sys.executable, "-m", "realtime_nmf", "train", str(clip), "-o", str(Path(folder) / "d.npz"), "--threads", str(threads),
                           "--iterations", str(args.iterations), "--tolerance", "0"]
                started = time.monotonic()
                result = subprocess.run(command, capture_output=True, text=True, env=env)
                wall = time.monotonic() - started
                if result.returncode != 0:
                    print(result.stderr)
                    return 1
                times[threads].append(wall)
                print(f"pair {pair}: --threads {threads}: {wall:6.1f} s   (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    ratios = [b / a for a, b in zip(times[1], times[0])]
    print(f"median: --threads 1 {statistics.median(times[1]):.1f} s, --threads 0 {statistics.median(times[0]):.1f} s; "
          f"one thread is {statistics.median(ratios):.2f}x faster (median of the paired ratios, {min(ratios):.2f}-{max(ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
