"""Soak tests: long runs that must not grow in memory, lose samples or raise.

Usage:
    python -m tools.benchmarks.soak file [--minutes 60]    # an hour of audio through file mode
    python -m tools.benchmarks.soak live [--minutes 10]    # ten minutes through a real PortAudio stream
                                                # on a private headless JACK server, in freewheel

file: writes a long stethoscope-like recording (streamed to disk, never held whole), runs
`rtnmf run --preset heartbeat` on it in a subprocess while sampling that process's
resident memory (RSS), and checks that the output has exactly the input's length and
that RSS grew by less than 5 MB from a second after processing started to the end.

live: starts jackd (dummy backend, 48 kHz), runs `rtnmf run --preset heartbeat --record`
in a subprocess, feeds it the recording in JACK freewheel mode for the given length of
audio, stops it with Ctrl-C (SIGINT) and checks the summary: no engine errors, no lost
blocks, a finalised recording, and RSS growth under 5 MB.

Exit status 0 when every check passes. The test suite runs both in a shortened form
(tests/test_soak.py).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]

from realtime_nmf.demo import synthesize_stethoscope

RSS_LIMIT_MB = 5.0


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


class RssSampler:
    """Samples a process's RSS every 0.05 s in a thread."""

    def __init__(self, pid: int):
        self.pid, self.samples = pid, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            value = rss_mb(self.pid)
            if value == value:
                self.samples.append((time.monotonic(), value))
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
        self._thread.join()

    def growth(self, since: float) -> tuple[float, float, float]:
        """(RSS at time ``since`` (time.monotonic), the maximum after it, the growth) in MB."""
        after = [value for t, value in self.samples if t >= since]
        if len(after) < 3:
            return float("nan"), float("nan"), float("nan")
        return after[0], max(after), max(after) - after[0]


def rss_report(first: float, peak: float, growth: float) -> str:
    if growth != growth:  # fewer than 3 samples after the warm-up: the run ended too soon to measure
        return "  RSS not measured: the run ended within its warm-up (give more --minutes, e.g. 10 for file mode)"
    return f"  RSS {first:.1f} MB once running, {peak:.1f} MB at most: growth {growth:.2f} MB (limit {RSS_LIMIT_MB} MB)"


def write_long_recording(path: Path, minutes: float, sample_rate: int = 4000) -> int:
    """A stethoscope-like recording of the given length, written block by block; returns its length in samples."""
    parts = synthesize_stethoscope(duration=60.0, sample_rate=sample_rate)
    minute = parts["mixture"]
    total = int(minutes * 60 * sample_rate)
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", sample_rate, 1, "PCM_16") as handle:
        written = 0
        while written < total:
            block = minute[: total - written] * rng.uniform(0.7, 1.0)
            handle.write(block.astype(np.float32))
            written += block.shape[0]
    return total


def rtnmf(*args, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "realtime_nmf", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **kwargs)


def soak_file(minutes: float, folder: Path) -> bool:
    source = folder / "long.wav"
    total = write_long_recording(source, minutes)
    output = folder / "long_heart.wav"
    started = time.monotonic()
    process = rtnmf("run", "--preset", "heartbeat", "--input", source, "--output", output)
    sampler = RssSampler(process.pid)
    while process.poll() is None and not any(p.name.endswith(".part") for p in folder.iterdir()):
        time.sleep(0.02)
    settled = time.monotonic() + 0.5  # processing has started; let the first blocks warm the caches
    stdout, stderr = process.communicate()
    sampler.stop()
    wall = time.monotonic() - started
    first, peak, growth = sampler.growth(settled)
    frames = sf.info(str(output)).frames if output.exists() else -1
    ok = process.returncode == 0 and frames == total and growth < RSS_LIMIT_MB
    print(f"file mode: {minutes:g} min of audio ({total} samples at 4 kHz) in {wall:.1f} s ({minutes * 60 / wall:.0f}x real time)")
    print(f"  output length {frames} samples ({'equal to' if frames == total else 'DIFFERENT from'} the input)")
    print(rss_report(first, peak, growth))
    if process.returncode != 0:
        print(stderr)
    print("  PASS" if ok else "  FAIL")
    return ok


def soak_live(minutes: float, folder: Path) -> bool:
    from tests.jack_harness import Loopback, _portaudio_missing, start_jack_server, stop_jack_server

    reason = _portaudio_missing()
    if reason:
        print(f"live soak skipped: {reason}")
        return True
    server = start_jack_server(folder / "jackd.log")
    try:
        import soxr

        parts = synthesize_stethoscope(duration=30.0)
        signal_48k = soxr.resample(parts["mixture"], 4000, 48000).astype(np.float32)
        record = folder / "live.wav"
        process = rtnmf("run", "--preset", "heartbeat", "--record", record, "--quiet", "--allow-feedback")  # JACK's "speakers" are a recorder
        loopback = Loopback()
        try:
            loopback.connect()
            sampler = RssSampler(process.pid)
            started = time.monotonic()
            settled = started + 2.0
            total = int(minutes * 60 * 48000)
            loopback.play(np.stack([signal_48k, signal_48k], axis=1), total=total, record=False, freewheel=True,
                          timeout=120 + minutes * 60 * 3)
            wall = time.monotonic() - started
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=120)
            sampler.stop()
        finally:
            loopback.close()
    finally:
        stop_jack_server(server)
    errors = re.search(r"engine errors: (\d+)", stdout)
    lost = re.search(r"blocks lost: (\d+)", stdout)
    first, peak, growth = sampler.growth(settled)
    ok = (process.returncode == 130 and errors is not None and errors.group(1) == "0" and lost is not None and lost.group(1) == "0"
          and "finalised" in stdout and growth < RSS_LIMIT_MB)
    print(f"live (JACK freewheel): {minutes:g} min of audio at 48 kHz in {wall:.1f} s")
    print("  " + "\n  ".join(stdout.strip().splitlines()))
    print(rss_report(first, peak, growth))
    if process.returncode != 130:
        print(f"  exit status {process.returncode}, not 130 (Ctrl-C)\n{stderr}")
    print("  PASS" if ok else "  FAIL")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("file", "live"))
    parser.add_argument("--minutes", type=float, default=None, help="audio length (default 60 for file, 10 for live)")
    args = parser.parse_args()
    minutes = args.minutes or (60.0 if args.mode == "file" else 10.0)
    with tempfile.TemporaryDirectory(prefix="rtnmf-soak-") as folder:
        ok = (soak_file if args.mode == "file" else soak_live)(minutes, Path(folder))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
