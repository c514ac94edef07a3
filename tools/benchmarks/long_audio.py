"""Long stethoscope-like recordings, written to disk a minute at a time (never held whole).

Usage: python -m tools.benchmarks.long_audio OUT.wav --minutes 600 [--sample-rate 4000] [--seed 0]

Every minute is one of a pool of eight synthesised minutes
(:func:`realtime_nmf.demo.synthesize_stethoscope`, each with its own seed: heart rates,
breathing and hum differ), rotated by a random offset and scaled by a random gain, so
that the recording does not repeat itself minute after minute; 16-bit PCM WAV (ten hours
at 4 kHz: 288 MB, at 22.05 kHz: 1.6 GB). Memory holds the pool, not the recording.
Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from realtime_nmf.demo import synthesize_stethoscope

POOL = 8


def write_long_audio(path: str | Path, minutes: float, *, sample_rate: int = 4000, seed: int = 0) -> int:
    """Write ``minutes`` of audio to ``path`` (16-bit PCM); return its length in samples.

    Parameters
    ----------
    path : str or Path
    minutes : float
    sample_rate : int
    seed : int

    Returns
    -------
    int
    """
    rng = np.random.default_rng(seed)
    pool = [synthesize_stethoscope(duration=60.0, sample_rate=sample_rate, seed=1000 * seed + index)["mixture"]
            for index in range(POOL)]
    total = int(round(minutes * 60 * sample_rate))
    written = 0
    with sf.SoundFile(str(path), "w", sample_rate, 1, "PCM_16") as handle:
        while written < total:
            minute = np.roll(pool[int(rng.integers(POOL))], int(rng.integers(sample_rate * 60)))
            block = (minute[: total - written] * rng.uniform(0.6, 1.0)).astype(np.float32)
            handle.write(block)
            written += block.shape[0]
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, metavar="OUT.wav")
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--sample-rate", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n = write_long_audio(args.output, args.minutes, sample_rate=args.sample_rate, seed=args.seed)
    print(f"wrote {args.output}: {n / args.sample_rate / 60:.1f} min at {args.sample_rate} Hz ({args.output.stat().st_size / 2**20:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
