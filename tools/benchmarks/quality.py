"""Separation quality, measured like the field does: SDRi and SI-SDRi on mixtures with known parts.

Usage: python -m tools.benchmarks.quality [--method NAME ...] [--all] [--list] [--quick] [--oracle] [--json FILE]

Runs the user's flow end to end on every case and prints one table per method:

- cases: the six HLS-CMDS heart+lung mixtures in ../shared/data/hls_cmds/exact_sum_mix
  (target g*H, background g*L, with g from ground_truth_mixing.csv) and the FluidSynth
  groove in ../shared/data/fluidsynth_renders (target kick, then target snare; background
  the rest of the mix);
- the flow: learn a dictionary from the first half of the mixture (or, for labelled
  methods, from the first half's target and background references), choose the
  components as a careful listener would (from the audition files of the first half,
  compared with the target reference of the first half only: greedy forward selection),
  run the second half through the streaming engine (block by block, latency compensated)
  and score it against the second half's reference;
- columns, per case: SDRi and SI-SDRi (improvement over the mixture itself, BSS Eval v3
  by fast_bss_eval) of the streaming engine; of the same dictionary with every frame's
  activations solved offline to convergence; and of the seed notebook's way (NMF of the
  test clip itself, offline, with the method's settings, the components chosen on that
  clip with its own reference: what the notebook's listener does, an advantage the
  other two columns do not have). Medians last.

Methods named ``proto:`` are prototypes of features the engine does not have, computed
offline. Most are causal frame-wise features of the activations solved to convergence
(:func:`prototype_estimate`; their "streaming" column is the prototype). ``proto:ctx*``
(causal temporal context, :func:`context_estimate`) learns templates from every frame
stacked with its past frames; its "streaming" column runs the engine's per-frame solver
(:class:`realtime_nmf.nmf.FrameSolver`, same updates and warm starts) on the stacked
frames, its "offline" column solves them to convergence.

Methods named ``baseline:`` are not NMF. ``baseline:static-wiener``
(:func:`static_wiener_estimate`) is a fixed per-frequency gain (a static Wiener filter,
an equaliser) learned from the first half's target reference and background, the
information the labelled methods use, applied to the second half's mixture STFT at the
defaults' STFT settings: causal, with the engine's latency. Its "streaming" column is
the filter, its "offline" column the same filter (printed again), and it has no seed
notebook column (n/a).

The second half is never used for training or choosing in the first two columns. With
--oracle, context rows that do use it are added for the heart+lung cases: the ideal
ratio and Wiener masks (the true parts' spectrograms) and supervised NMF with
dictionaries learned on the test half's own true parts (upper bounds for masking and for
template-based NMF at the method's STFT settings).

Without the shared data folder, the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from realtime_nmf import defaults
from realtime_nmf.audio import load
from realtime_nmf.dictionary import Dictionary
from realtime_nmf.evaluate import score_separation, select_components
from realtime_nmf.nmf import FrameSolver, fit, mu_exponent, solve_activations
from realtime_nmf.decompose import component_signals, separate
from realtime_nmf.processors import NMFSeparator
from realtime_nmf.stft import istft, magnitude_spectrogram, stft
from realtime_nmf.training import learn_dictionary, learn_labelled_dictionary

from .oracle_share import context_columns, load_full_cases, median_context, share_lines

DATA = ROOT.parent / "shared" / "data"
HLS_TRIPLES = ("0087", "0111", "0113", "0114", "0116", "0118")
QUICK_TRIPLES = ("0087", "0116")
GROOVE_TARGETS = ("kick", "snare")
BLOCK_SIZE = 1024
#: the streaming engine must stay within this many dB of the converged offline solve (median over the cases)
PARITY_DB = 0.3

#: The project's settings before issue 5 (frozen here: the defaults may change, this must not).
BEFORE_SEPARATOR = dict(mask="ratio", mask_exponent=1.0, iterations=10, tolerance=0.0, flat_start=0.2, batch_frames=8)


@dataclass(frozen=True)
class Method:
    """One way to build the separator: how the dictionary is learned and how frames are solved and masked.

    ``training``: ``"mixture"`` (NMF of the first half of the mixture, components chosen
    by the listener), ``"labelled"`` (target and background templates learned from the
    first half's references separately: supervised NMF) or ``"semi"`` (target templates
    from the target reference, background templates from the mixture with the target
    templates fixed: semi-supervised NMF). ``window`` is in seconds: ``n_fft`` is the
    power of two nearest it at each case's rate, the hop ``n_fft // hop_divisor``.
    ``context`` > 0 (with ``training="mixture"``) makes a causal temporal-context
    prototype: every analysis vector is the current magnitude frame stacked with the
    ``context`` frames before it (see :class:`ContextDictionary` and
    :func:`context_estimate`).
    ``baseline`` names a separator that is not NMF (``"static-wiener"``:
    :func:`static_wiener_estimate`); only the STFT settings are then used.
    """

    name: str
    description: str
    training: str = "mixture"
    n_components: int = 16
    target_components: int | None = None
    beta: float = 1.0
    window: float = 0.05
    hop_divisor: int = 4
    sparsity: float = 0.0
    train_iterations: int = 200
    separator: dict = field(default_factory=lambda: dict(BEFORE_SEPARATOR))
    #: a causal, frame-wise feature the engine does not have, prototyped offline (see prototype_estimate)
    prototype: str | None = None
    prototype_options: dict = field(default_factory=dict)
    #: past frames stacked under the current one (0: the frame-wise model of the engine)
    context: int = 0
    #: a separator that is not NMF, for comparison (see static_wiener_estimate)
    baseline: str | None = None

    def with_(self, name: str, description: str, **changes) -> "Method":
        separator = dict(self.separator, **changes.pop("separator", {}))
        return replace(self, name=name, description=description, separator=separator, **changes)

    def stft_settings(self, sample_rate: int) -> tuple[int, int]:
        n_fft = int(2 ** round(math.log2(self.window * sample_rate)))
        return n_fft, max(1, n_fft // self.hop_divisor)


BEFORE = Method("before", "K 16, KL, 64 ms window (50 ms rule), hop 1/4, ratio mask, 10 updates per frame (the settings before issue 5)")
#: What rtnmf train and rtnmf preset new do today (read from realtime_nmf.defaults).
DEFAULTS = Method(
    "defaults",
    f"today's defaults: K {defaults.N_COMPONENTS}, beta {defaults.BETA:g}, {defaults.WINDOW_SECONDS * 1000:.0f} ms rule, hop 1/{defaults.HOP_DIVISOR}, "
    f"{defaults.MASK} mask exponent {defaults.MASK_EXPONENT:g}, {defaults.SOLVER_ITERATIONS} updates per frame",
    n_components=defaults.N_COMPONENTS, beta=defaults.BETA, window=defaults.WINDOW_SECONDS, hop_divisor=defaults.HOP_DIVISOR,
    sparsity=defaults.SPARSITY, train_iterations=defaults.TRAIN_ITERATIONS,
    separator=dict(mask=defaults.MASK, mask_exponent=defaults.MASK_EXPONENT, iterations=defaults.SOLVER_ITERATIONS,
                   tolerance=defaults.SOLVER_TOLERANCE, flat_start=defaults.FLAT_START, batch_frames=defaults.BATCH_FRAMES),
)


def _methods() -> dict[str, Method]:
    b = BEFORE
    methods = [
        b,
        DEFAULTS,
        b.with_("k8", "8 components", n_components=8),
        b.with_("k32", "32 components", n_components=32),
        b.with_("k64", "64 components", n_components=64),
        b.with_("beta0", "Itakura-Saito divergence (beta 0)", beta=0.0),
        b.with_("beta0.5", "beta 0.5 divergence", beta=0.5),
        b.with_("beta2", "Euclidean distance (beta 2)", beta=2.0),
        b.with_("win32ms", "32 ms window (n_fft 128 at 4 kHz, 512 at 22.05 kHz)", window=0.025),
        b.with_("win128ms", "128 ms window (n_fft 512 at 4 kHz, 2048 at 22.05 kHz)", window=0.1),
        b.with_("hop1/8", "hop of 1/8 window", hop_divisor=8),
        b.with_("wiener", "mask exponent 2 (Wiener-like)", separator=dict(mask_exponent=2.0)),
        b.with_("mask-exp0.5", "mask exponent 0.5 (softer mask)", separator=dict(mask_exponent=0.5)),
        b.with_("binary", "binary mask", separator=dict(mask="binary")),
        b.with_("sparse", "L1 penalty 1 on the activations, training and streaming", sparsity=1.0, separator=dict(sparsity=1.0)),
        b.with_("iter20", "20 updates per frame", separator=dict(iterations=20)),
        b.with_("iter30", "30 updates per frame", separator=dict(iterations=30)),
        b.with_("labelled", "supervised: 8 target + 8 background templates from the first half's references", training="labelled"),
        b.with_("labelled-k32", "supervised: 16 target + 16 background templates", training="labelled", n_components=32),
        b.with_("semi", "semi-supervised: 8 target templates from the reference, 8 background from the mixture", training="semi"),
    ]
    h = b.with_("beta0.5", "beta 0.5 divergence", beta=0.5)
    methods += [
        h.with_("beta0.5+k8", "beta 0.5, 8 components", n_components=8),
        h.with_("beta0.5+k32", "beta 0.5, 32 components", n_components=32),
        h.with_("beta0.5+hop1/8", "beta 0.5, hop 1/8", hop_divisor=8),
        h.with_("beta0.5+win32ms", "beta 0.5, 32 ms window", window=0.025),
        h.with_("beta0.5+win128ms", "beta 0.5, 128 ms window", window=0.1),
        h.with_("beta0.5+wiener", "beta 0.5, mask exponent 2", separator=dict(mask_exponent=2.0)),
        h.with_("beta0.5+iter20", "beta 0.5, 20 updates per frame", separator=dict(iterations=20)),
        h.with_("beta0.5+iter30", "beta 0.5, 30 updates per frame", separator=dict(iterations=30)),
        h.with_("beta0.5+labelled", "beta 0.5, supervised 8 + 8", training="labelled"),
    ]
    # causal frame-wise features prototyped offline (not in the engine): the "streaming" column is the prototype
    methods += [
        h.with_("proto:smooth0.5", "prototype: activations smoothed causally, h <- 0.5 h_prev + 0.5 h", prototype="smooth",
                prototype_options=dict(alpha=0.5)),
        h.with_("proto:smooth0.8", "prototype: activations smoothed causally, h <- 0.8 h_prev + 0.2 h", prototype="smooth",
                prototype_options=dict(alpha=0.8)),
        h.with_("proto:floor0.1", "prototype: mask floor 0.1 (the mask never drops below -20 dB)", prototype="floor",
                prototype_options=dict(floor=0.1)),
        h.with_("proto:adapt2", "prototype: 2 free background templates learned while streaming, forgetting factor 0.99",
                prototype="adapt", prototype_options=dict(n_free=2, forget=0.99)),
        h.with_("proto:adapt4", "prototype: 4 free background templates learned while streaming, forgetting factor 0.98",
                prototype="adapt", prototype_options=dict(n_free=4, forget=0.98)),
    ]
    # causal temporal context, prototyped offline: templates span the current frame and the C frames before it
    for c, k in ((2, 16), (4, 16), (8, 16), (2, 32), (4, 32)):
        methods.append(DEFAULTS.with_(f"proto:ctx{c}" + ("" if k == DEFAULTS.n_components else f"+k{k}"),
                                      f"prototype: temporal context, each frame stacked with its {c} past frames ({c} hops), "
                                      f"beta 0.5, K {k}, mask from the current-frame slice", context=c, n_components=k))
    # not NMF: what a fixed equaliser learned from the same labelled first half does (the defaults' STFT settings)
    methods.append(DEFAULTS.with_("baseline:static-wiener",
                                  "baseline, not NMF: fixed per-frequency gain Pt / (Pt + Pb), mean power spectra of the first half's "
                                  "target reference and background (mixture - reference); offline = the same filter, no seed notebook",
                                  baseline="static-wiener"))
    return {m.name: m for m in methods}


METHODS = _methods()
#: What ``python -m tools.benchmarks.quality`` runs without --method: before and after.
DEFAULT_METHODS = ("before", "defaults")


# --------------------------------------------------------------------------------------
# cases


@dataclass
class Case:
    """One mixture with a known target: first half to learn from, second half to score (or the other way round)."""

    name: str
    dataset: str
    sample_rate: int
    mixture: np.ndarray
    target: np.ndarray
    swapped: bool = False

    @property
    def train(self) -> slice:
        half = self.mixture.shape[0] // 2
        return slice(half, None) if self.swapped else slice(0, half)

    @property
    def test(self) -> slice:
        half = self.mixture.shape[0] // 2
        return slice(0, half) if self.swapped else slice(half, None)

    def swap(self) -> "Case":
        """The same mixture, learned from the second half and scored on the first (a second fold)."""
        return replace(self, name=self.name + " swapped", dataset=self.dataset + " swapped", swapped=True)


def load_cases(data: Path, triples=HLS_TRIPLES, groove: bool = True) -> list[Case]:
    """The benchmark's cases from the shared data folder (empty when it is absent)."""
    cases = []
    hls = data / "hls_cmds"
    if triples and (hls / "exact_sum_mix").is_dir():
        with open(hls / "ground_truth_mixing.csv", newline="") as handle:
            gains = {row["triple"]: float(row["gain_g"]) for row in csv.DictReader(handle) if row["gain_g"]}
        for triple in triples:
            mixture, sr = load(hls / "exact_sum_mix" / f"M{triple}.wav", mono=True)
            heart, _ = load(hls / "exact_sum_mix" / f"H{triple}.wav", mono=True)
            cases.append(Case(f"heart+lung {triple}", "heart+lung", sr, mixture, (gains[triple] * heart).astype(np.float32)))
    folder = data / "fluidsynth_renders" / "groove_drums_bass_piano"
    if groove and folder.is_dir():
        mixture, sr = load(folder / "mix.wav", mono=True)
        for target in GROOVE_TARGETS:
            stem, _ = load(folder / "stems" / f"{target}.wav", mono=True)
            cases.append(Case(f"groove {target}", "groove", sr, mixture, stem))
    return cases


# --------------------------------------------------------------------------------------
# the flow


def stack_frames(V: np.ndarray, context: int) -> np.ndarray:
    """Stack every frame of ``V (n_bins, n_frames)`` over its ``context`` past frames.

    Returns
    -------
    np.ndarray [shape=((context + 1) * n_bins, n_frames), dtype=float32]
        Rows ``lag * n_bins`` to ``(lag + 1) * n_bins`` of column ``m`` hold frame
        ``m - lag`` (zeros for frames before the start).
    """
    n_bins, n_frames = V.shape
    out = np.zeros(((context + 1) * n_bins, n_frames), np.float32)
    for lag in range(min(context, n_frames - 1) + 1):
        out[lag * n_bins : (lag + 1) * n_bins, lag:] = V[:, : n_frames - lag]
    return out


@dataclass
class ContextDictionary:
    """Templates spanning the current frame and the ``context`` frames before it (causal temporal context).

    The stacked-frames form of convolutive NMF (Smaragdis 2004, "Non-negative matrix
    factor deconvolution"; stacked frames as in the sliding-window exemplars of
    Gemmeke, Virtanen and Hurmalainen 2011), restricted to past frames so that it adds
    no latency: column ``m`` of the stacked spectrogram is frame ``m`` on top of frames
    ``m - 1`` ... ``m - context`` (zeros before the clip's start, as a stream that has
    just begun sees), and each template spans the same ``(context + 1) * n_bins`` rows.

    Attributes
    ----------
    W : np.ndarray [shape=((context + 1) * n_bins, n_components)]
        Stacked templates (unit L2 norm per column, as :func:`realtime_nmf.nmf.fit` leaves them).
    context : int
    current : Dictionary
        The current-frame slice ``W[:n_bins]`` with the STFT settings and beta: the masks,
        the audition signals and the separator are built from it.
    """

    W: np.ndarray
    context: int
    current: Dictionary

    def stack(self, V: np.ndarray) -> np.ndarray:
        """:func:`stack_frames` with this dictionary's context."""
        return stack_frames(V, self.context)

    def spectrum(self, y: np.ndarray) -> np.ndarray:
        """Complex STFT ``(n_bins, n_frames)`` of a mono clip with the current slice's settings."""
        d = self.current
        return stft(np.asarray(y, np.float32)[:, None], d.n_fft, d.hop_length, d.window)[:, :, 0]

    def decompose(self, y: np.ndarray, *, n_iter: int = 300, tol: float = 1e-5, sparsity: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Like :func:`realtime_nmf.decompose.decompose`: the clip's STFT and its activations against the stacked templates.

        Returns
        -------
        S : np.ndarray [shape=(n_bins, n_frames), dtype=complex64]
        H : np.ndarray [shape=(n_components, n_frames)]
        """
        S = self.spectrum(y)
        H = solve_activations(self.stack(np.abs(S)), self.W, beta=self.current.beta, iterations=n_iter, tolerance=tol, sparsity=sparsity)
        return S, H


def learn_context_dictionary(clip: np.ndarray, sample_rate: int, *, context: int, n_components: int, beta: float, n_fft: int,
                             hop_length: int, sparsity: float = 0.0, n_iter: int = defaults.TRAIN_ITERATIONS) -> ContextDictionary:
    """Stacked templates learned by :func:`realtime_nmf.nmf.fit` from the clip's stacked magnitude spectrogram.

    Parameters
    ----------
    clip : np.ndarray [shape=(n_samples,)]
    sample_rate : int
    context : int >= 0
        Past frames stacked under each frame (0 gives the templates of
        :func:`realtime_nmf.training.learn_dictionary`).
    n_components, beta, n_fft, hop_length, sparsity, n_iter
        As for :func:`realtime_nmf.training.learn_dictionary` (the same initialisation,
        seed and tolerance).

    Returns
    -------
    ContextDictionary
    """
    V = magnitude_spectrogram(np.asarray(clip, np.float32), n_fft, hop_length, defaults.WINDOW)
    n_bins = V.shape[0]
    result = fit(stack_frames(V, context), n_components, beta=beta, iterations=n_iter, tolerance=defaults.TRAIN_TOLERANCE, init=defaults.INIT,
                 seed=defaults.SEED, sparsity=sparsity)
    current = Dictionary(W=result.W[:n_bins], sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, window=defaults.WINDOW,
                         beta=beta)
    return ContextDictionary(W=result.W, context=context, current=current)


def learn_from_mixture(method: Method, clip: np.ndarray, sample_rate: int, *, sparsity: float) -> tuple[Dictionary, ContextDictionary | None]:
    """Unsupervised NMF of a clip with the method's settings.

    Returns
    -------
    dictionary : Dictionary
        The frame-wise dictionary (for a context method: the current-frame slice of the
        stacked templates).
    context : ContextDictionary or None
        The stacked templates of a context method.
    """
    n_fft, hop = method.stft_settings(sample_rate)
    options = dict(n_components=method.n_components, beta=method.beta, n_fft=n_fft, hop_length=hop, sparsity=sparsity,
                   iterations=method.train_iterations)
    if method.context:
        context = learn_context_dictionary(clip, sample_rate, context=method.context, **options)
        return context.current, context
    return learn_dictionary([clip], sample_rate, **options), None


def clip_components(dictionary: Dictionary, context: ContextDictionary | None, clip: np.ndarray, *, explained_only: bool) -> np.ndarray:
    """Every component's signal in the clip (what ``rtnmf audition`` writes with ``explained_only``).

    With stacked templates the activations are solved against them and each component's
    mask uses the current-frame slice, as the prototype's separation does.
    """
    decomposition = {} if context is None else dict(zip(("S", "H"), context.decompose(clip)))
    return component_signals(dictionary, clip, explained_only=explained_only, **decomposition)


def build_separator(method: Method, case: Case) -> tuple[NMFSeparator, list[int], ContextDictionary | None]:
    """Learn from the first half only and choose the kept components as the listener would.

    Returns
    -------
    separator : NMFSeparator
    keep : list of int
    context : ContextDictionary or None
        The stacked templates of a context method (the separator then holds their
        current-frame slice, for its settings and kept components).
    """
    n_fft, hop = method.stft_settings(case.sample_rate)
    mix, ref = case.mixture[case.train], case.target[case.train]
    context = None
    if method.training == "mixture":
        d, context = learn_from_mixture(method, mix, case.sample_rate, sparsity=method.sparsity)
        # the audition files of the first half (rtnmf audition writes these signals), compared with its reference
        keep = select_components(clip_components(d, context, mix, explained_only=True), ref) or "all"
    elif method.training in ("labelled", "semi"):
        options = dict(n_components=method.n_components, beta=method.beta, n_fft=n_fft, hop_length=hop, sparsity=method.sparsity,
                       iterations=method.train_iterations)
        roles = dict(background=[mix - ref]) if method.training == "labelled" else dict(mixtures=[mix])
        d = learn_labelled_dictionary([ref], case.sample_rate, target_components=method.target_components, **roles, **options)
        keep = "target"
    else:
        raise ValueError(f"unknown training {method.training!r}")
    separator = NMFSeparator(d, keep=keep, **method.separator)
    return separator, separator.keep, context


def seed_notebook(method: Method, case: Case) -> np.ndarray:
    """NMF of the test clip itself (offline), components chosen on that clip with its own reference, summed."""
    mix, ref = case.mixture[case.test], case.target[case.test]
    d, context = learn_from_mixture(method, mix, case.sample_rate, sparsity=0.0)  # the notebook's NMF has no penalty
    components = clip_components(d, context, mix, explained_only=False)
    keep = select_components(components, ref)
    return components[keep].sum(axis=0) if keep else mix


def run_case(method: Method, case: Case) -> dict:
    """Scores of the three ways on one case (a baseline has no seed notebook: None, and no components)."""
    mix, ref = case.mixture[case.test], case.target[case.test]
    if method.baseline is not None:
        if method.baseline != "static-wiener":
            raise ValueError(f"unknown baseline {method.baseline!r}")
        streaming = static_wiener_estimate(method, case)
        estimates = {"streaming": streaming, "offline": streaming, "seed": None}  # one filter: offline is the same
        row = {"case": case.name, "dataset": case.dataset, "kept": None, "n_components": None}
        separator = None
    else:
        separator, keep, context = build_separator(method, case)
        if context is not None:
            streaming = context_estimate(separator, context, mix, converge=False)
            offline = context_estimate(separator, context, mix, converge=True)
        else:
            streaming = (separator(mix, case.sample_rate, block_size=BLOCK_SIZE) if method.prototype is None
                         else prototype_estimate(method, separator, mix))
            offline = converged_estimate(separator, mix)
        estimates = {"streaming": streaming, "offline": offline, "seed": seed_notebook(method, case)}
        row = {"case": case.name, "dataset": case.dataset, "kept": len(keep), "n_components": separator.dictionary.n_components}
    scored = {}  # by estimate, so that an estimate given twice is scored once
    for way, estimate in estimates.items():
        if estimate is None:
            row[way] = {"sdri": None, "si_sdri": None}
            continue
        if id(estimate) not in scored:
            scored[id(estimate)] = score_separation(ref, estimate, mixture=mix)
        scores = scored[id(estimate)]
        row[way] = {"sdri": scores.sdri, "si_sdri": scores.si_sdri}
    row["mixture_sdr"] = scores.sdr_mixture  # the "before" of every improvement: SDR of the test half as it is
    row.update(context_columns(method, case, separator, block_size=BLOCK_SIZE))  # the ideal ratio mask, the example's choice
    return row


def static_wiener_estimate(method: Method, case: Case) -> np.ndarray:
    """A fixed per-frequency gain learned from the first half, applied to the second half's mixture (not NMF).

    The gain is ``G(f) = Pt(f) / (Pt(f) + Pb(f))``, with ``Pt`` and ``Pb`` the mean power
    spectra over the training half of the target reference and of the background
    (mixture minus reference): a static Wiener filter, the same for every frame, learned
    from the information the labelled methods use. It multiplies the test half's complex
    STFT (the mixture's phase kept) and the result is resynthesised as the engine does.

    Parameters
    ----------
    method : Method
        Gives the STFT settings (:meth:`Method.stft_settings` at the case's rate) and the
        window is the defaults' (``defaults.WINDOW``).
    case : Case
        ``case.train`` is learned from, ``case.test`` filtered (so ``--swapped`` swaps them).

    Returns
    -------
    np.ndarray [shape=(n_test_samples,), dtype=float32]
        The estimate of the test half's target, time-aligned with it.
    """
    n_fft, hop = method.stft_settings(case.sample_rate)
    window = defaults.WINDOW
    train_mix, train_ref = case.mixture[case.train], case.target[case.train]
    target, background = (magnitude_spectrogram(x, n_fft, hop, window, power=2.0).mean(axis=1, dtype=np.float64)
                          for x in (train_ref, train_mix - train_ref))
    gain = (target / (target + background + defaults.EPS)).astype(np.float32)
    mix = case.mixture[case.test]
    S = stft(mix[:, None], n_fft, hop, window)[:, :, 0]
    return filtered_signal(S, gain[:, None], n_fft, hop, window, mix.shape[0])


def kept_flags(separator: NMFSeparator) -> np.ndarray:
    """Boolean flags of the separator's kept components."""
    keep = np.zeros(separator.dictionary.n_components, bool)
    keep[separator.keep] = True
    return keep


def converged_estimate(separator: NMFSeparator, mix: np.ndarray) -> np.ndarray:
    """The separator's dictionary, kept components and mask with every frame solved to convergence."""
    p = separator.params
    return separate(separator.dictionary, mix, separator.keep, mask=p["mask"], mask_exponent=p["mask_exponent"], sparsity=p["sparsity"])


def ratio_mask(W: np.ndarray, H: np.ndarray, kept: np.ndarray, exponent: float) -> np.ndarray:
    """``Vt**a / (Vt**a + Vr**a)`` with ``Vt = W_kept H_kept``, ``Vr`` the rest (the separator's ratio mask), for every frame."""
    target = (W[:, kept] @ H[kept]) ** exponent
    rest = (W[:, ~kept] @ H[~kept]) ** exponent
    return target / (target + rest + defaults.EPS)


def filtered_signal(S: np.ndarray, mask: np.ndarray, n_fft: int, hop_length: int, window: str, length: int) -> np.ndarray:
    """The mixture's complex STFT ``S (n_bins, n_frames)`` times ``mask`` (broadcast), back to ``length`` samples."""
    return istft((S * mask)[:, :, None], n_fft, hop_length, window, length=length)[:, 0]


def masked_signal(dictionary: Dictionary, S: np.ndarray, mask: np.ndarray, length: int) -> np.ndarray:
    """:func:`filtered_signal` with the dictionary's STFT settings."""
    d = dictionary
    return filtered_signal(S, mask, d.n_fft, d.hop_length, d.window, length)


def context_estimate(separator: NMFSeparator, context: ContextDictionary, mix: np.ndarray, *, converge: bool) -> np.ndarray:
    """Separation with causal temporal context: activations against the stacked templates, mask from the current slice.

    Parameters
    ----------
    separator : NMFSeparator
        Holds the current-frame slice, the kept components and the per-frame settings.
    context : ContextDictionary
    mix : np.ndarray [shape=(n_samples,)]
    converge : bool
        True: every stacked frame solved to convergence (500 updates or a relative change
        below 1e-6, as the "offline" column). False: what the engine would do with the
        stacked templates, emulated with its :class:`realtime_nmf.nmf.FrameSolver` and its
        settings: ``iterations`` updates per frame, frames solved in batches of
        ``batch_frames``, each warm-started from the frame ``batch_frames`` earlier
        blended with ``flat_start`` of a flat start.

    Returns
    -------
    np.ndarray [shape=(n_samples,)]
    """
    d, p = separator.dictionary, separator.params
    if p["mask"] != "ratio":
        raise ValueError("the context prototype builds ratio masks only")
    S = context.spectrum(mix)
    V = context.stack(np.abs(S))
    if converge:
        H = solve_activations(V, context.W, beta=d.beta, iterations=500, tolerance=1e-6, sparsity=p["sparsity"])
    else:
        batch = p["batch_frames"]
        solver = FrameSolver(context.W, beta=d.beta, iterations=p["iterations"], tolerance=p["tolerance"], sparsity=p["sparsity"], max_rows=batch)
        frames = np.ascontiguousarray(V.T)  # one stacked frame per row, the solver's orientation
        rows = np.empty((frames.shape[0], d.n_components), np.float32)
        for first in range(0, frames.shape[0], batch):
            v, h = frames[first : first + batch], rows[first : first + batch]
            if first == 0:
                solver.start(v, h)
            else:
                h[...] = rows[first - batch : first - batch + h.shape[0]]
                solver.warm_start(v, h, p["flat_start"])
            solver.solve(v, h)
        H = rows.T
    return masked_signal(d, S, ratio_mask(d.W, H, kept_flags(separator), p["mask_exponent"]), mix.shape[0])


def prototype_estimate(method: Method, separator: NMFSeparator, mix: np.ndarray) -> np.ndarray:
    """A causal frame-wise feature the engine does not have, computed offline frame by frame.

    Every frame's activations are solved to convergence (as in the offline column), then:

    - ``smooth``: the activations are smoothed causally, ``h_m <- alpha h_{m-1} + (1 - alpha) h_m``,
      before the mask is built (temporal smoothing of activations, as FluCoMa users ask for);
    - ``floor``: the mask is kept above ``floor`` (a spectral floor, Berouti et al. 1979);
    - ``adapt``: online adaptation (Duan, Mysore and Smaragdis 2012; Lefevre, Bach and
      Fevotte 2011): ``n_free`` extra background templates, never kept, are learned
      while streaming by multiplicative updates on statistics accumulated with a
      forgetting factor, the dictionary's templates staying fixed.

    (Temporal context, which changes the templates themselves, is :func:`context_estimate`.)
    """
    d, options = separator.dictionary, method.prototype_options
    S = stft(mix[:, None], d.n_fft, d.hop_length, d.window)[:, :, 0]
    V = np.abs(S).astype(np.float32)
    keep = kept_flags(separator)
    eps = defaults.EPS
    exponent = separator.params["mask_exponent"]
    if method.prototype in ("smooth", "floor"):
        H = solve_activations(V, d.W, beta=d.beta, iterations=500, tolerance=1e-6)
        if method.prototype == "smooth":
            alpha = options["alpha"]
            for m in range(1, H.shape[1]):
                H[:, m] = alpha * H[:, m - 1] + (1 - alpha) * H[:, m]
        mask = ratio_mask(d.W, H, keep, exponent)
        if method.prototype == "floor":
            mask = options["floor"] + (1 - options["floor"]) * mask
    elif method.prototype == "adapt":
        n_free, forget, beta = options["n_free"], options["forget"], d.beta
        gamma = mu_exponent(beta)
        rng = np.random.default_rng(0)
        free = 1.0 + 0.1 * rng.random((d.n_bins, n_free))
        free /= np.linalg.norm(free, axis=0)
        numerator = np.zeros_like(free)
        denominator = np.zeros_like(free)
        kept = np.concatenate([keep, np.zeros(n_free, bool)])
        mask = np.zeros_like(V)
        h = None
        for m in range(V.shape[1]):
            v = V[:, m].astype(np.float64)
            W = np.concatenate([d.W, free], axis=1)
            flat = np.full(W.shape[1], max(v.sum() / W.sum(), eps))
            h = flat if h is None else np.maximum(0.8 * h * v.sum() / max((W @ h).sum(), eps) + 0.2 * flat, eps)
            for _ in range(30):
                wh = np.maximum(W @ h, eps)
                h = np.maximum(h * ((W.T @ (v * wh ** (beta - 2))) / np.maximum(W.T @ wh ** (beta - 1), eps)) ** gamma, eps)
            mask[:, m] = ratio_mask(W, h[:, None], kept, exponent)[:, 0]
            wh = np.maximum(W @ h, eps)
            hf = h[d.n_components:]
            numerator = forget * numerator + np.outer(v * wh ** (beta - 2), hf)
            denominator = forget * denominator + np.outer(wh ** (beta - 1), hf)
            free = np.maximum(free * (numerator / np.maximum(denominator, eps)) ** gamma, eps)
            free /= np.maximum(np.linalg.norm(free, axis=0), eps)
    else:
        raise ValueError(f"unknown prototype {method.prototype!r}")
    return masked_signal(d, S, mask, mix.shape[0])


def median_row(rows: list[dict], name: str, of: str) -> dict:
    out = {"case": name, "dataset": "median", "kept": None, "n_components": None, "of": of,
           "mixture_sdr": float(np.median([r["mixture_sdr"] for r in rows]))}
    for way in ("streaming", "offline", "seed"):
        values = {key: [r[way][key] for r in rows] for key in ("sdri", "si_sdri")}
        out[way] = {key: None if None in v else float(np.median(v)) for key, v in values.items()}  # None: a column the method has not
    out.update(median_context(rows))
    return out


def run_method(method: Method, cases: list[Case], progress=None) -> dict:
    """Every case, then the medians: over the heart+lung cases, and over all cases."""
    rows = []
    for case in cases:
        rows.append(run_case(method, case))
        if progress:
            progress(rows[-1])
    medians = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        group = [r for r in rows if r["dataset"] == dataset]
        if dataset.startswith("heart+lung"):
            medians.append(median_row(group, f"median {dataset} ({len(group)})", dataset))
    if any(not r["dataset"].startswith("heart+lung") for r in rows):
        medians.append(median_row(rows, f"median all ({len(rows)})", "all"))
    gaps = [abs(r["streaming"]["sdri"] - r["offline"]["sdri"]) for r in rows]
    return {"method": method.name, "description": method.description, "rows": rows, "medians": medians,
            "max_streaming_offline_gap": max(gaps) if gaps else None}


# --------------------------------------------------------------------------------------
# oracle context (uses the test half: for reference only)


def oracle_rows(method: Method, cases: list[Case]) -> list[dict]:
    """Ideal ratio and Wiener masks and oracle-dictionary supervised NMF on the test half (heart+lung cases)."""
    rows = []
    for case in cases:
        if case.dataset != "heart+lung":
            continue
        n_fft, hop = method.stft_settings(case.sample_rate)
        mix, ref = case.mixture[case.test], case.target[case.test]
        rest = mix - ref
        S = stft(mix[:, None], n_fft, hop, "hann")[:, :, 0]
        T = np.abs(stft(ref[:, None], n_fft, hop, "hann")[:, :, 0])
        R = np.abs(stft(rest[:, None], n_fft, hop, "hann")[:, :, 0])
        row = {"case": case.name}
        for name, exponent in (("ideal ratio mask", 1.0), ("ideal Wiener mask", 2.0)):
            mask = T**exponent / (T**exponent + R**exponent + 1e-12)
            y = filtered_signal(S, mask, n_fft, hop, "hann", mix.shape[0])
            row[name] = score_separation(ref, y, mixture=mix).sdri
        d = learn_labelled_dictionary([ref], case.sample_rate, background=[rest], n_components=method.n_components, beta=method.beta,
                                      n_fft=n_fft, hop_length=hop, iterations=method.train_iterations)
        y = converged_estimate(NMFSeparator(d, keep="target", **method.separator), mix)
        row["NMF, dictionaries from the test half's true parts"] = score_separation(ref, y, mixture=mix).sdri
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------
# printing


def _db(value) -> str:
    return "   n/a" if value is None or not np.isfinite(value) else f"{value:+6.2f}"


def method_table(result: dict) -> str:
    lines = [f"{result['method']}: {result['description']}",
             f"{'':30}  {'mixture':>7}  {'streaming':^15}  {'offline, converged':^18}  {'seed notebook':^15}",
             f"{'case':30}  {'SDR':>7}  {'SDRi':>6}  {'SI-SDRi':>7}  {'SDRi':>6}  {'SI-SDRi':>9}  {'SDRi':>6}  {'SI-SDRi':>7}  kept"]
    for row in result["rows"] + result["medians"]:
        kept = f"{row['kept']}/{row['n_components']}" if row["kept"] is not None else ""
        lines.append(f"{row['case']:30}  {_db(row['mixture_sdr']):>7}  {_db(row['streaming']['sdri'])}  {_db(row['streaming']['si_sdri']):>7}  "
                     f"{_db(row['offline']['sdri'])}  {_db(row['offline']['si_sdri']):>9}  {_db(row['seed']['sdri'])}  "
                     f"{_db(row['seed']['si_sdri']):>7}  {kept}")
    lines.append(f"largest |streaming - offline| SDRi over the cases: {result['max_streaming_offline_gap']:.2f} dB")
    return "\n".join(lines)


def summary_table(results: list[dict]) -> str:
    """One markdown line per method: medians over heart+lung, and the groove cases."""
    if not results:
        return ""
    groove = [r["case"] for r in results[0]["rows"] if r["dataset"] == "groove"]
    swapped = any(m.get("of") == "heart+lung swapped" for m in results[0]["medians"])
    head = ("| method | heart+lung median SDRi: streaming | SI-SDRi | offline converged | seed notebook | "
            + ("swapped halves: streaming SDRi | " if swapped else "")
            + "".join(f"{name} SDRi: streaming / offline | " for name in groove) + "what changes |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for result in results:
        medians = {m.get("of"): m for m in result["medians"]}
        hls = medians.get("heart+lung") or medians.get("heart+lung full")
        cells = [result["method"]]
        if hls:
            cells += [_db(hls["streaming"]["sdri"]).strip(), _db(hls["streaming"]["si_sdri"]).strip(), _db(hls["offline"]["sdri"]).strip(),
                      _db(hls["seed"]["sdri"]).strip()]
        else:
            cells += ["", "", "", ""]
        if swapped:
            other = medians.get("heart+lung swapped")
            cells.append(_db(other["streaming"]["sdri"]).strip() if other else "")
        for name in groove:
            row = next(r for r in result["rows"] if r["case"] == name)
            cells.append(f"{_db(row['streaming']['sdri']).strip()} / {_db(row['offline']['sdri']).strip()}")
        cells.append(result["description"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def oracle_table(rows: list[dict]) -> str:
    names = [key for key in rows[0] if key != "case"]
    lines = ["oracle context (uses the test half's true parts; not achievable by a separator):",
             f"{'case':24}  " + "  ".join(f"{name:>{len(name)}}" for name in names)]
    for row in rows:
        lines.append(f"{row['case']:24}  " + "  ".join(f"{_db(row[name]):>{len(name)}}" for name in names))
    lines.append(f"{'median':24}  " + "  ".join(f"{_db(float(np.median([r[name] for r in rows]))):>{len(name)}}" for name in names))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", action="append", metavar="NAME", help=f"method to run (repeat; default: {', '.join(DEFAULT_METHODS)}); see --list")
    parser.add_argument("--all", action="store_true", help="run every method (about 13 minutes; 30 with --swapped on a busy 2-core machine)")
    parser.add_argument("--list", action="store_true", help="list the methods and exit")
    parser.add_argument("--quick", action="store_true", help=f"heart+lung {' and '.join(QUICK_TRIPLES)} only, no groove (a check, not a result)")
    parser.add_argument("--files", default=None, metavar="NNNN,...", help="heart+lung triples to run (default: all six, or all 29 with --full)")
    parser.add_argument("--no-groove", action="store_true", help="skip the FluidSynth groove")
    parser.add_argument("--full", action="store_true",
                        help="the 29 exact heart+lung triples of hls_cmds_full instead of the six (and no groove)")
    parser.add_argument("--swapped", action="store_true",
                        help="also the second fold: learn from the second half, score the first (to tell a real gain from noise)")
    parser.add_argument("--oracle", action="store_true", help="add the oracle context rows (ideal masks, oracle dictionaries)")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (default ../shared/data)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write every number to FILE")
    args = parser.parse_args(argv)
    if args.list:
        for method in METHODS.values():
            print(f"{method.name:14} {method.description}")
        return 0
    names = list(METHODS) if args.all else (args.method or list(DEFAULT_METHODS))
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; known: {', '.join(METHODS)}")
    triples = QUICK_TRIPLES if args.quick else (tuple(args.files.split(",")) if args.files else HLS_TRIPLES)
    cases = (load_full_cases(args.data, Case, args.files.split(",") if args.files else None) if args.full
             else load_cases(args.data, triples, groove=not (args.quick or args.no_groove)))
    if args.swapped:
        cases += [case.swap() for case in cases]
    if not cases:
        print(f"shared data not found at {args.data} (it lives outside the repository): nothing to benchmark")
        return 0
    results = []
    for name in names:
        started = time.perf_counter()
        result = run_method(METHODS[name], cases)
        result["seconds"] = time.perf_counter() - started
        results.append(result)
        print(method_table(result) + "\n" + share_lines(result) + f"\n({result['seconds']:.0f} s)\n", flush=True)
    print(summary_table(results))
    oracle = None
    if args.oracle:
        oracle = oracle_rows(METHODS[names[0]], cases)
        if oracle:
            print("\n" + oracle_table(oracle))
    if args.json is not None:
        args.json.write_text(json.dumps({"results": results, "oracle": oracle}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
