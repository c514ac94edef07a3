"""Regenerate the bundled presets and their dictionary from the project's own synthesised recording.

Usage: python -m tools.maintenance.make_bundled_presets [--check]  (from the repository root)

The stethoscope dictionary is trained on the first half of the demo recording
(realtime_nmf.demo.synthesize_stethoscope, deterministic), and the components of each
part (heart, breath) are chosen with that half's true parts, exactly as
`rtnmf demo` does, and stored as component labels. Two presets share it:

- heartbeat: keep the heart sounds (label "heart");
- breath: keep the breathing (lung sounds, label "breath"), drop heartbeat and hum.

A second dictionary, stethoscope-8ms.npz, is trained the same way with ``--latency-ms 8``
(the asymmetric windows of docs/low-latency.md: n_fft 256 kept, hop 16, latency 31
samples = 7.75 ms instead of 63.8 ms), for the preset heartbeat-8ms.

With --check, nothing is written; the script exits 1 if the committed files differ in
their component choices from a fresh build.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realtime_nmf.demo import build_stethoscope_dictionary, synthesize_stethoscope
from realtime_nmf.presets import Preset

PRESETS = Path(__file__).resolve().parents[2] / "presets"

#: Solver settings of both presets, chosen with `python -m tools.benchmarks.bench` on the demo
#: recording: at 4 kHz a frame is small, so the cost per frame is mostly fixed overhead
#: that batches of 16 frames share (about 21 us per frame against 35 us with batches of
#: 8), and 12 updates bring the output within 0.1 dB SDR of the solve run to convergence
#: (10 updates: 0.13-0.15 dB short).
SETTINGS = {"batch_frames": 16, "iterations": 12}

DESCRIPTIONS = {
    "heartbeat": "Heartbeat from a stethoscope at 4 kHz: breathing and mains hum removed",
    "heartbeat-8ms": "Heartbeat from a stethoscope at 4 kHz with 7.8 ms latency (asymmetric windows): breathing and hum removed",
    "breath": "Breathing (lung sounds) from a stethoscope at 4 kHz: heartbeat and mains hum removed",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed presets instead of writing")
    args = parser.parse_args()
    parts = synthesize_stethoscope()
    builds = [("stethoscope.npz", {}, {"heartbeat": "heart", "breath": "breath"}),
              ("stethoscope-8ms.npz", {"latency_ms": 8, "hop_length": None}, {"heartbeat-8ms": "heart"})]
    for file_name, settings, keeps in builds:
        dictionary, choices = build_stethoscope_dictionary(parts, **settings)
        print(f"{file_name}: choices {choices}")
        if args.check:
            import yaml

            for name, keep in keeps.items():
                committed = yaml.safe_load((PRESETS / f"{name}.yaml").read_text())
                print(f"{name}: committed keep {committed['keep']!r}, fresh {keep!r}")
            continue
        dictionary.provenance["sources"] = ["realtime_nmf.demo.synthesize_stethoscope(), first 20 s (tools/maintenance/make_bundled_presets.py)"]
        dictionary_path = dictionary.save(PRESETS / file_name)
        for name, keep in keeps.items():
            preset = Preset(name=name, dictionary_path=dictionary_path, keep=keep, settings=dict(SETTINGS), description=DESCRIPTIONS[name],
                            _dictionary=dictionary)
            print("wrote", preset.save(PRESETS / f"{name}.yaml"), "keeps", preset.keep_indices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
