"""Real-time pace of a live run: how many seconds of audio the stream processes per wall-clock second.

Usage:
    python -m tools.benchmarks.live_pace [--seconds 10] [--block-size 256] [--preset heartbeat] [--runs 1]

Starts a private headless JACK server (dummy backend, 48 kHz, period 256: a sound card
with a real clock), runs ``rtnmf run --preset P --duration S --record ...`` through it
in real time (not freewheel) and prints, for each run, the pace the live summary
measured from the callbacks' clock (1.000 = real time), the wall time of the run, the
callback load and the xruns, with the machine's load average beside them. This is a
benchmark, not a test: on a busy machine the pace drops below 1 and xruns appear, which
says something about the machine; the test suite checks what the stream computes, never
how fast (tests/test_live.py).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _value(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    return match.group(1) if match else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per run (default 10)")
    parser.add_argument("--block-size", type=int, default=256, help="samples per callback (default 256; 0: the host chooses)")
    parser.add_argument("--preset", default="heartbeat", help="preset to run (default heartbeat, 4 kHz: resampled in the stream)")
    parser.add_argument("--runs", type=int, default=1, help="runs in a row (default 1)")
    args = parser.parse_args()

    from tests.jack_harness import _portaudio_missing, start_jack_server, stop_jack_server

    reason = _portaudio_missing()
    if reason:
        print(f"cannot measure: {reason}")
        return 1
    with tempfile.TemporaryDirectory(prefix="rtnmf-pace-") as folder:
        folder = Path(folder)
        server = start_jack_server(folder / "jackd.log")
        failed = False
        try:
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            for run in range(1, args.runs + 1):
                command = [sys.executable, "-m", "realtime_nmf", "run", "--preset", args.preset, "--duration", str(args.seconds),
                           "--block-size", str(args.block_size), "--record", str(folder / "rec.wav"), "--quiet", "--allow-feedback"]
                started = time.monotonic()
                result = subprocess.run(command, capture_output=True, text=True, env=env)
                wall = time.monotonic() - started
                if result.returncode != 0:
                    print(f"run {run}: rtnmf exited with {result.returncode}\n{result.stderr}")
                    failed = True
                    continue
                out = result.stdout
                pace, seconds = _value(r"pace ([\d.]+)x", out), _value(r"live run: ([\d.]+) s", out)
                p50, peak = _value(r"callback: p50 ([\d.]+ %)", out), _value(r"max ([\d.]+ %)", out)
                overflows, underflows = _value(r"xruns: +(\d+) input", out), _value(r"(\d+) output underflows", out)
                print(f"run {run}: pace {pace}x real time over {seconds} s (blocks of {args.block_size}, {args.preset}); "
                      f"callback p50/max {p50}/{peak}; xruns {overflows} in + {underflows} out; whole command {wall:.1f} s; "
                      f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        finally:
            stop_jack_server(server)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
