"""The benchmark's cases: mixtures whose parts are known, from the shared data folder.

- heart+lung: the six HLS-CMDS mixtures (Torabi, Shirani and Reilly, Mendeley Data,
  doi:10.17632/8972jxbpmp) in ``hls_cmds/exact_sum_mix``, 4 kHz, 15 s, ``M = g*(H + L)``
  exactly; the target is ``g*H`` (``g`` from ``ground_truth_mixing.csv``);
- heart+lung full (``--full``): every exact heart+lung triple of HLS-CMDS, 29, in
  ``hls_cmds_full/exact_sum_mix`` (:func:`load_full_cases`);
- groove: the FluidSynth render in ``fluidsynth_renders/groove_drums_bass_piano``
  (22.05 kHz, 10.6 s, mix = kick + snare + hi-hat + bass + piano), with the kick and then
  the snare as the target.

The data live outside the repository (``../shared/data``); a set that is absent gives no
cases, and the benchmark says so.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from realtime_nmf.audio import load

ROOT = Path(__file__).resolve().parents[3]
#: The shared data folder beside the repository.
DATA = ROOT.parent / "shared" / "data"
HLS_TRIPLES = ("0087", "0111", "0113", "0114", "0116", "0118")
QUICK_TRIPLES = ("0087", "0116")
GROOVE_TARGETS = ("kick", "snare")
#: The dataset of the 29 exact heart+lung triples of ``hls_cmds_full`` (``--full``).
FULL_DATASET = "heart+lung full"


@dataclass
class Case:
    """One mixture with a known target: first half to learn from, second half to score (or the other way round).

    Attributes
    ----------
    name, dataset : str
        ``"heart+lung 0087"``, ``"heart+lung"``; a swapped case adds `` swapped`` to both.
    sample_rate : int
    mixture, target : np.ndarray [shape=(n_samples,), dtype=float32]
    swapped : bool
        Learn from the second half and score the first.
    """

    name: str
    dataset: str
    sample_rate: int
    mixture: np.ndarray
    target: np.ndarray
    swapped: bool = False

    @property
    def train(self) -> slice:
        """The half that is learned from."""
        half = self.mixture.shape[0] // 2
        return slice(half, None) if self.swapped else slice(0, half)

    @property
    def test(self) -> slice:
        """The half that is scored."""
        half = self.mixture.shape[0] // 2
        return slice(0, half) if self.swapped else slice(half, None)

    def swap(self) -> "Case":
        """The same mixture, learned from the second half and scored on the first (a second fold)."""
        return replace(self, name=self.name + " swapped", dataset=self.dataset + " swapped", swapped=True)


def load_cases(data: Path = DATA, triples=HLS_TRIPLES, groove: bool = True) -> list[Case]:
    """The benchmark's cases from the shared data folder (none for a data set that is absent).

    Parameters
    ----------
    data : Path
        The shared data folder.
    triples : sequence of str
        HLS-CMDS mixtures to load (``"0087"`` ...); empty for none.
    groove : bool
        Also the FluidSynth groove (kick, then snare).

    Returns
    -------
    list of Case
    """
    cases = []
    hls = Path(data) / "hls_cmds"
    if triples and (hls / "exact_sum_mix").is_dir():
        with open(hls / "ground_truth_mixing.csv", newline="") as handle:
            gains = {row["triple"]: float(row["gain_g"]) for row in csv.DictReader(handle) if row["gain_g"]}
        for triple in triples:
            mixture, sr = load(hls / "exact_sum_mix" / f"M{triple}.wav", mono=True)
            heart, _ = load(hls / "exact_sum_mix" / f"H{triple}.wav", mono=True)
            cases.append(Case(f"heart+lung {triple}", "heart+lung", sr, mixture, (gains[triple] * heart).astype(np.float32)))
    folder = Path(data) / "fluidsynth_renders" / "groove_drums_bass_piano"
    if groove and folder.is_dir():
        mixture, sr = load(folder / "mix.wav", mono=True)
        for target in GROOVE_TARGETS:
            stem, _ = load(folder / "stems" / f"{target}.wav", mono=True)
            cases.append(Case(f"groove {target}", "groove", sr, mixture, stem))
    return cases


def load_full_cases(data: Path = DATA, triples=None) -> list[Case]:
    """The 29 exact heart+lung triples of ``data/hls_cmds_full`` (all, or those named; empty when absent).

    ``M = g*(H + L)`` holds for them exactly (``MANIFEST.md`` there); the six of
    :func:`load_cases` are among them. Their dataset is :data:`FULL_DATASET`.
    """
    folder = data / "hls_cmds_full"
    if not (folder / "exact_sum_mix").is_dir():
        return []
    with open(folder / "ground_truth_mixing.csv", newline="") as handle:
        gains = {row["triple"]: float(row["gain_g"]) for row in csv.DictReader(handle) if row["gain_g"]}
    cases = []
    for path in sorted((folder / "exact_sum_mix").glob("M*.wav")):
        triple = path.stem[1:]
        if triples is not None and triple not in triples:
            continue
        mixture, sr = load(path, mono=True)
        heart, _ = load(folder / "exact_sum_mix" / f"H{triple}.wav", mono=True)
        cases.append(Case(f"heart+lung {triple}", FULL_DATASET, sr, mixture, (gains[triple] * heart).astype(np.float32)))
    return cases
