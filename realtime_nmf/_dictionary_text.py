"""A dictionary as text: the lines ``rtnmf info`` prints (:meth:`realtime_nmf.Dictionary.summary`) and the JSON encoder of its metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._values import printable, real_number

__all__ = ["summary_text", "json_default"]


def json_default(value):
    """``json.dumps(default=...)`` for the metadata: numpy scalars and arrays, paths."""
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in dictionary metadata")


def _beta_name(beta: float) -> str:
    return {2.0: "Euclidean", 1.0: "Kullback-Leibler", 0.0: "Itakura-Saito"}.get(float(beta), "beta divergence")


def summary_text(dictionary) -> str:
    """A few human-readable lines describing ``dictionary``; provenance printed as text, never trusted."""
    p = dictionary.provenance
    lines = [
        f"components     {dictionary.n_components}",
        f"sample rate    {dictionary.sample_rate} Hz",
        f"STFT           n_fft {dictionary.n_fft} ({1000 * dictionary.n_fft / dictionary.sample_rate:.1f} ms), hop {dictionary.hop_length} "
        f"({1000 * dictionary.hop_length / dictionary.sample_rate:.1f} ms), window {dictionary.window}, power {dictionary.power:g}",
        f"beta           {dictionary.beta:g} ({_beta_name(dictionary.beta)})",
        f"latency        {dictionary.latency_samples} samples = {1000 * dictionary.latency_samples / dictionary.sample_rate:.1f} ms "
        f"(algorithmic: {dictionary.latency_reason})",
        f"fingerprint    {dictionary.fingerprint}",
    ]
    if any(dictionary.labels):
        lines.append("labels         " + ", ".join(f"{i}:{dictionary.component_name(i)}" for i in range(dictionary.n_components)))
    if p:
        sources = p.get("sources", [])
        sources = ", ".join(map(str, sources)) if isinstance(sources, list) else str(sources)
        duration = real_number(p.get("duration_seconds", 0))
        lines.append(printable(f"trained on     {sources or '?'} ({'?' if duration is None else f'{duration:.1f}'} s)"))
        if "iterations" in p:
            divergence = real_number(p.get("divergence"))
            online = p.get("online")
            amount = (f"online, {online.get('passes', '?')} passes, {online.get('mini_batches', '?')} mini-batches of at most "
                      f"{online.get('batch_frames', '?')} frames, forget {online.get('forget', '?')}" if isinstance(online, dict)
                      else f"{p['iterations']} iterations")
            lines.append(printable(f"training       {amount}, init {p.get('init', '?')}, seed {p.get('seed', '?')}, "
                                    f"final divergence {'?' if divergence is None else f'{divergence:.6g}'}"))
        if "created" in p:
            lines.append(printable(f"created        {p['created']} by realtime_nmf {p.get('version', '?')}"))
    return "\n".join(lines)
