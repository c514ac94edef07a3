"""Dictionaries learned from an archive of recordings, for the ``archive`` methods (online training, issue 15).

The other methods learn from the first half of the test mixture itself (7.5 s). The
``archive`` methods learn from a collection instead, as someone with hours of recordings
would: every recording of ``hls_cmds_full`` (heart-only, lung-only and the exact-sum
mixtures of the other triples, about 30 minutes) except those that share a part with the
test mixture (the data set reuses stems: a heart-only file, or another triple's heart or
lung, equal to the test mixture's would leak its reference). The components are still
chosen on the first half of the test mixture and the second half is scored, so full-batch
and online training are compared on the use online training is for.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from realtime_nmf.audio import load

__all__ = ["archive_files"]


@functools.lru_cache(maxsize=1)
def _recordings(folder: str) -> dict:
    """Every recording of the archive as a unit-norm signal, by path (all are 15 s at 4 kHz)."""
    signals = {}
    for path in sorted(Path(folder).glob("*/*.wav")):
        y = load(path, mono=True)[0].astype(np.float64)
        signals[str(path)] = y / max(np.linalg.norm(y), 1e-12)
    return signals


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and abs(float(a @ b)) > 0.99


def archive_files(data: Path, triple: str) -> list[str]:
    """The archive's recordings that share no part with the mixture of ``triple`` (paths).

    Parameters
    ----------
    data : Path
        The shared data folder (``hls_cmds_full`` in it).
    triple : str
        ``"0087"``...

    Returns
    -------
    list of str
        Empty when the archive is absent.
    """
    folder = Path(data) / "hls_cmds_full"
    if not (folder / "exact_sum_mix").is_dir():
        return []
    signals = _recordings(str(folder))
    mixes = folder / "exact_sum_mix"
    parts = [signals[str(mixes / f"{kind}{triple}.wav")] for kind in ("H", "L")]
    keep = []
    for path, y in signals.items():
        name = Path(path).name
        if Path(path).parent.name == "exact_sum_mix":
            if not name.startswith("M") or name == f"M{triple}.wav":
                continue  # the stems are not recordings to learn from; the test mixture is not either
            other = name[1:5]
            if any(_same(signals[str(mixes / f"{kind}{other}.wav")], part) for kind in ("H", "L") for part in parts):
                continue  # another triple mixing one of the test mixture's parts
        elif any(_same(y, part) for part in parts):
            continue  # a heart-only or lung-only copy of one of the test mixture's parts
        keep.append(path)
    return keep
