"""Beside every method of the quality benchmark: the ideal ratio mask, the share of it reached, and choosing by an example.

For every case, :func:`context_columns` adds to the benchmark's row:

- ``irm``: the SDRi of the ideal ratio mask ``|T| / (|T| + |R|)`` (``T`` the test half's
  true target, ``R`` the rest, at the method's STFT settings): what a perfect mask of the
  same STFT reaches, the yardstick of "how far is left";
- ``example``: the streaming engine with the components chosen by a short example of the
  target instead of the aligned reference of the first half: the first
  :data:`EXAMPLE_SECONDS` of the training half's true target, used only through its
  energies (:func:`realtime_nmf.audition.reference.rank_by_example`, what
  ``rtnmf audition --reference`` does), as a user who records a few seconds of the target
  alone (the heart with the breath held) would. When the example suggests nothing, the
  user hears the clip: the mixture itself (SDRi 0).

:func:`share_lines` prints, for a method, its median SDRi beside the ideal ratio mask's,
the share of it reached, and how much of the listener's choice (the aligned reference)
the example's choice reaches (``python -m tools.benchmarks.quality --full`` runs the 29
exact heart+lung triples of ``hls_cmds_full``: :func:`.cases.load_full_cases`).
"""

from __future__ import annotations

import numpy as np

from realtime_nmf.audition.reference import rank_by_example
from realtime_nmf.evaluate import score_separation
from realtime_nmf.processors import NMFSeparator
from realtime_nmf.stft import istft, stft

__all__ = ["EXAMPLE_SECONDS", "ideal_ratio_mask_sdri", "example_choice", "context_columns", "median_context", "share_lines"]

#: Seconds of the training half's true target given as the example of the target.
EXAMPLE_SECONDS = 3.0


def ideal_ratio_mask_sdri(method, case) -> float:
    """SDRi of the ideal ratio mask on the case's test half, at the method's STFT settings (Hann window)."""
    n_fft, hop = method.stft_settings(case.sample_rate)
    mix, ref = case.mixture[case.test], case.target[case.test]
    S = stft(mix[:, None], n_fft, hop, "hann")[:, :, 0]
    T = np.abs(stft(ref[:, None], n_fft, hop, "hann")[:, :, 0])
    R = np.abs(stft((mix - ref)[:, None], n_fft, hop, "hann")[:, :, 0])
    y = istft((S * (T / (T + R + 1e-12)))[:, :, None], n_fft, hop, "hann", length=mix.shape[0])[:, 0]
    return score_separation(ref, y, mixture=mix).sdri


def example_choice(separator: NMFSeparator, case) -> list[int]:
    """The components :func:`rank_by_example` suggests with the first seconds of the training half's target as the example."""
    d = separator.dictionary
    train_mix, train_ref = case.mixture[case.train], case.target[case.train]
    example = train_ref[: int(EXAMPLE_SECONDS * case.sample_rate)]
    return rank_by_example(d, train_mix, example).suggested


def context_columns(method, case, separator: NMFSeparator | None, *, block_size: int) -> dict:
    """``irm`` (SDRi) and ``example`` (SDRi, SI-SDRi and components of the example's choice) for one case."""
    columns = {"irm": ideal_ratio_mask_sdri(method, case), "example": {"sdri": None, "si_sdri": None, "kept": None}}
    if separator is None or method.training != "mixture" or method.prototype is not None or method.context:
        return columns  # a baseline, a labelled or a prototype method: no components to choose
    keep = example_choice(separator, case)
    mix, ref = case.mixture[case.test], case.target[case.test]
    if keep:
        chosen = NMFSeparator(separator.dictionary, keep=keep, **separator.params)
        scores = score_separation(ref, chosen(mix, case.sample_rate, block_size=block_size), mixture=mix)
        columns["example"] = {"sdri": scores.sdri, "si_sdri": scores.si_sdri, "kept": len(keep)}
    else:
        columns["example"] = {"sdri": 0.0, "si_sdri": 0.0, "kept": 0}
    return columns


def median_context(rows: list[dict]) -> dict:
    """The medians of :func:`context_columns` over some rows (None where a row has none)."""
    def median(values):
        return None if not values or None in values else float(np.median(values))

    return {"irm": median([r.get("irm") for r in rows]),
            "example": {key: median([r.get("example", {}).get(key) for r in rows]) for key in ("sdri", "si_sdri")}}


def _db(value) -> str:
    return "n/a" if value is None else f"{value:+.2f} dB"


def share_lines(result: dict) -> str:
    """Per median row of a method: its streaming SDRi, the ideal ratio mask's, the share, and the example's choice."""
    lines = []
    for row in result["medians"]:
        streaming, irm, example = row["streaming"]["sdri"], row.get("irm"), row.get("example", {}).get("sdri")
        if irm is None:
            continue
        share = f"{streaming / irm:.2f}" if streaming is not None and irm > 0 else "n/a"
        line = f"{row['case']}: streaming SDRi {_db(streaming)}, ideal ratio mask {_db(irm)}: {share} of it"
        if example is not None:
            reached = f"{example / streaming:.2f}" if streaming and streaming > 0 else "n/a"
            of_irm = f"{example / irm:.2f}" if irm > 0 else "n/a"
            line += (f"; components chosen by {EXAMPLE_SECONDS:g} s of the target alone {_db(example)} "
                     f"({reached} of the choice by the aligned reference, {of_irm} of the ideal ratio mask)")
        lines.append(line)
    return "\n".join(lines)
