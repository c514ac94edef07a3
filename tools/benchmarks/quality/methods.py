"""The methods the benchmark compares and the flow that scores one method on one case.

A :class:`Method` says how the dictionary is learned and how frames are solved and masked;
:data:`METHODS` is every method tried (``python -m tools.benchmarks.quality --list``).
:func:`run_case` runs the user's flow on one case: learn from the first half, choose the
components as a listener would, separate the second half three ways (the streaming
engine; the same dictionary solved to convergence by :func:`realtime_nmf.decompose.separate`;
the seed notebook's way) and score each against the second half's reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from realtime_nmf import defaults
from realtime_nmf.decompose import component_signals, separate
from realtime_nmf.dictionary import Dictionary
from realtime_nmf.evaluate import score_separation, select_components
from realtime_nmf.processors import NMFSeparator
from realtime_nmf.processors.separator import ratio_mask
from realtime_nmf.stft import magnitude_spectrogram, stft
from realtime_nmf.training import learn_dictionary, learn_labelled_dictionary, train_dictionary
from realtime_nmf.windows import ASYMMETRIC, hop_for_latency

from .archive import archive_files
from .cases import DATA, Case
from .oracle_share import context_columns
from .prototypes import ContextDictionary, context_estimate, filtered_signal, learn_context_dictionary, prototype_estimate

#: Blocks the streaming engine is fed with.
BLOCK_SIZE = 1024

#: The project's settings before issue 5 (frozen here: the defaults may change, this must not).
BEFORE_SEPARATOR = dict(mask="ratio", mask_exponent=1.0, iterations=10, tolerance=0.0, flat_start=0.2, batch_frames=8)


@dataclass(frozen=True)
class Method:
    """One way to build the separator: how the dictionary is learned and how frames are solved and masked.

    ``training``: ``"mixture"`` (NMF of the first half of the mixture, components chosen
    by the listener), ``"labelled"`` (target and background templates learned from the
    first half's references separately: supervised NMF) or ``"semi"`` (target templates
    from the target reference, background templates from the mixture with the target
    templates fixed: semi-supervised NMF) or ``"archive"`` (NMF of other recordings of the
    same kind, :mod:`.archive`; components chosen as for ``"mixture"``). ``window`` is in seconds: ``n_fft`` is the
    power of two nearest it at each case's rate, the hop ``n_fft // hop_divisor``.
    ``context`` > 0 (with ``training="mixture"``) makes a causal temporal-context
    prototype: every analysis vector is the current magnitude frame stacked with the
    ``context`` frames before it (see :class:`~.prototypes.ContextDictionary`).
    ``baseline`` names a separator that is not NMF (``"static-wiener"``:
    :func:`static_wiener_estimate`); only the STFT settings are then used. ``online``
    (with ``training="mixture"``): the dictionary is learned by
    :func:`realtime_nmf.online_training.learn_dictionary_online` with these options
    instead of full-batch NMF.
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
    #: algorithmic latency in ms: the asymmetric low-latency windows with the hop that gives it (the frame keeps its length)
    latency_ms: float | None = None
    #: a symmetric window just short enough for this latency in ms (n_fft - 1 <= it; hop n_fft // hop_divisor)
    symmetric_latency_ms: float | None = None
    #: learn the dictionary by online training with these options (realtime_nmf.online_training), not full batch
    online: dict | None = None

    def with_(self, name: str, description: str, **changes) -> "Method":
        """A copy with another name and description and the given fields changed (``separator`` merged)."""
        separator = dict(self.separator, **changes.pop("separator", {}))
        return replace(self, name=name, description=description, separator=separator, **changes)

    def stft_settings(self, sample_rate: int) -> tuple[int, int]:
        """``(n_fft, hop_length)`` at ``sample_rate``: the power of two nearest the window, and its hop.

        With ``latency_ms`` the hop is the one of :func:`realtime_nmf.windows.hop_for_latency`;
        with ``symmetric_latency_ms`` the frame is the longest power of two whose latency
        ``n_fft - 1`` fits.
        """
        if self.symmetric_latency_ms is not None:
            n_fft = int(2 ** math.floor(math.log2(math.floor(self.symmetric_latency_ms * sample_rate / 1000) + 1)))
            return n_fft, max(1, n_fft // self.hop_divisor)
        n_fft = int(2 ** round(math.log2(self.window * sample_rate)))
        if self.latency_ms is not None:
            return n_fft, hop_for_latency(self.latency_ms, sample_rate, n_fft)
        return n_fft, max(1, n_fft // self.hop_divisor)

    @property
    def window_name(self) -> str:
        """The window design: the asymmetric pair with ``latency_ms``, else the defaults' window."""
        return ASYMMETRIC if self.latency_ms is not None else defaults.WINDOW


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
    # low latency (issue 14): the asymmetric analysis/synthesis pair at the defaults' frame length, the hop from the latency
    for ms in (16, 8, 4, 2):
        methods.append(DEFAULTS.with_(f"lat{ms}ms", f"today's defaults with the asymmetric low-latency windows: latency at most {ms} ms "
                                      f"(hop = (latency + 1) // 2, frame length kept)", latency_ms=float(ms)))
    methods.append(DEFAULTS.with_("lat4ms+batch1", "lat4ms, every frame warm-started from the one before (batch_frames 1)",
                                  latency_ms=4.0, separator=dict(batch_frames=1)))
    methods.append(DEFAULTS.with_("lat4ms+iter20", "lat4ms, 20 updates per frame", latency_ms=4.0, separator=dict(iterations=20)))
    methods.append(DEFAULTS.with_("sym4ms", "a short symmetric Hann window at the same latency as lat4ms (n_fft 16 at 4 kHz, 64 at 22.05 kHz), "
                                  "8 components (16 is more than n_fft 16's 9 bins allow)", symmetric_latency_ms=4.0, n_components=8))
    # out-of-core training (issue 15): the same flow, the dictionary learned online; the first halves are 7.5 to 5 s, so the
    # mini-batches are small enough for a pass to make several updates
    for passes in (3, 6):
        methods.append(DEFAULTS.with_(f"online{passes}", f"today's defaults, the dictionary learned online (rtnmf train --online --passes {passes}): "
                                      "mini-batches of 32 frames gathered from runs of 8", online=dict(batch_frames=32, run_frames=8, passes=passes)))
    # ... and from an archive of recordings (archive.py: hls_cmds_full without the test mixture's parts, about 30 min), full batch
    # and online with rtnmf train's defaults; the components still chosen on the first half (the groove, without an archive,
    # is learned from its first half)
    methods.append(DEFAULTS.with_("archive", "today's defaults, the dictionary learned full batch from about 30 min of other heart and lung "
                                  "recordings (hls_cmds_full without the test mixture's parts)", training="archive"))
    methods.append(DEFAULTS.with_("archive-online", "as archive, learned online with rtnmf train --online's defaults (3 passes)",
                                  training="archive", online={}))
    # not NMF: what a fixed equaliser learned from the same labelled first half does (the defaults' STFT settings)
    methods.append(DEFAULTS.with_("baseline:static-wiener",
                                  "baseline, not NMF: fixed per-frequency gain Pt / (Pt + Pb), mean power spectra of the first half's "
                                  "target reference and background (mixture - reference); offline = the same filter, no seed notebook",
                                  baseline="static-wiener"))
    return {m.name: m for m in methods}


#: Every method, by name.
METHODS = _methods()
#: What ``python -m tools.benchmarks.quality`` runs without --method: before and after.
DEFAULT_METHODS = ("before", "defaults")


# --------------------------------------------------------------------------------------
# the flow


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
    if method.window_name != defaults.WINDOW:
        options["window"] = method.window_name
    if method.context:
        context = learn_context_dictionary(clip, sample_rate, context=method.context, **options)
        return context.current, context
    if method.online is not None:
        from realtime_nmf.online_training import learn_dictionary_online

        options.pop("iterations")
        return learn_dictionary_online([clip], sample_rate, **options, **method.online), None
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
    # every heart+lung case has an archive: the six, the 29 of --full, and both folds (their names hold the triple)
    triple = next((word for word in case.name.split() if word.isdigit()), None)
    files = archive_files(DATA, triple) if method.training == "archive" and case.dataset.startswith("heart+lung") and triple else []
    if files:  # learned from the archive's other recordings; the components chosen on the first half, as below
        n_fft, hop = method.stft_settings(case.sample_rate)
        options = dict(n_components=method.n_components, beta=method.beta, n_fft=n_fft, hop_length=hop, sparsity=method.sparsity)
        if method.online is not None:
            from realtime_nmf.online_training import train_dictionary_online

            d = train_dictionary_online(files, sample_rate=case.sample_rate, **options, **method.online)
        else:
            d = train_dictionary(files, sample_rate=case.sample_rate, iterations=method.train_iterations, **options)
        keep = select_components(clip_components(d, None, mix, explained_only=True), ref) or "all"
    elif method.training in ("mixture", "archive"):  # an archive method on a case without an archive: its first half
        d, context = learn_from_mixture(method, mix, case.sample_rate, sparsity=method.sparsity)
        # the audition files of the first half (rtnmf audition writes these signals), compared with its reference
        keep = select_components(clip_components(d, context, mix, explained_only=True), ref) or "all"
    elif method.training in ("labelled", "semi"):
        options = dict(n_components=method.n_components, beta=method.beta, n_fft=n_fft, hop_length=hop, sparsity=method.sparsity,
                       iterations=method.train_iterations, window=method.window_name)
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


def converged_estimate(separator: NMFSeparator, mix: np.ndarray) -> np.ndarray:
    """The separator's dictionary, kept components and mask with every frame solved to convergence."""
    p = separator.params
    return separate(separator.dictionary, mix, separator.keep, mask=p["mask"], mask_exponent=p["mask_exponent"], sparsity=p["sparsity"])


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
    gain = ratio_mask(target, background, np.empty_like(target)).astype(np.float32)
    mix = case.mixture[case.test]
    S = stft(mix[:, None], n_fft, hop, window)[:, :, 0]
    return filtered_signal(S, gain[:, None], n_fft, hop, window, mix.shape[0])


def estimates(method: Method, case: Case) -> tuple[dict, int | None, int | None, NMFSeparator | None]:
    """The three estimates of the test half's target (streaming, offline, seed; None where a method has none).

    Returns
    -------
    estimates : dict
        ``{"streaming": y, "offline": y, "seed": y or None}``, each ``(n_test_samples,)``.
    kept, n_components : int or None
        The components kept and the dictionary's size (None for a baseline).
    separator : NMFSeparator or None
        The separator learned from the first half (None for a baseline).
    """
    mix = case.mixture[case.test]
    if method.baseline is not None:
        if method.baseline != "static-wiener":
            raise ValueError(f"unknown baseline {method.baseline!r}")
        streaming = static_wiener_estimate(method, case)
        return {"streaming": streaming, "offline": streaming, "seed": None}, None, None, None  # one filter: offline is the same
    separator, keep, context = build_separator(method, case)
    if context is not None:
        streaming = context_estimate(separator, context, mix, converge=False)
        offline = context_estimate(separator, context, mix, converge=True)
    else:
        streaming = (separator(mix, case.sample_rate, block_size=BLOCK_SIZE) if method.prototype is None
                     else prototype_estimate(method.prototype, method.prototype_options, separator, mix))
        offline = converged_estimate(separator, mix)
    return ({"streaming": streaming, "offline": offline, "seed": seed_notebook(method, case)}, len(keep), separator.dictionary.n_components,
            separator)


def run_case(method: Method, case: Case) -> dict:
    """Scores of the three ways on one case (a baseline has no seed notebook: None, and no components).

    Returns
    -------
    dict
        ``case``, ``dataset``, ``kept``, ``n_components``, ``mixture_sdr`` (the test half's
        own SDR, the "before" of every improvement) and, for ``streaming``, ``offline`` and
        ``seed``, ``{"sdri": dB, "si_sdri": dB}`` (None for a way the method has not); ``irm``
        and ``example`` (:func:`.oracle_share.context_columns`).
    """
    mix, ref = case.mixture[case.test], case.target[case.test]
    ways, kept, n_components, separator = estimates(method, case)
    row = {"case": case.name, "dataset": case.dataset, "kept": kept, "n_components": n_components}
    scored = {}  # by estimate, so that an estimate given twice is scored once
    for way, estimate in ways.items():
        if estimate is None:
            row[way] = {"sdri": None, "si_sdri": None}
            continue
        if id(estimate) not in scored:
            scored[id(estimate)] = score_separation(ref, estimate, mixture=mix)
        scores = scored[id(estimate)]
        row[way] = {"sdri": scores.sdri, "si_sdri": scores.si_sdri}
    row["mixture_sdr"] = scores.sdr_mixture
    row.update(context_columns(method, case, separator, block_size=BLOCK_SIZE))  # the ideal ratio mask, the example's choice
    return row


def oracle_rows(method: Method, cases: list[Case]) -> list[dict]:
    """Ideal ratio and Wiener masks and oracle-dictionary supervised NMF on the test half (heart+lung cases).

    These use the test half's true parts, so no separator can have them: context for the
    other rows, never a result.
    """
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
            mask = ratio_mask(T**exponent, R**exponent, np.empty_like(T))
            y = filtered_signal(S, mask, n_fft, hop, "hann", mix.shape[0])
            row[name] = score_separation(ref, y, mixture=mix).sdri
        d = learn_labelled_dictionary([ref], case.sample_rate, background=[rest], n_components=method.n_components, beta=method.beta,
                                      n_fft=n_fft, hop_length=hop, iterations=method.train_iterations)
        y = converged_estimate(NMFSeparator(d, keep="target", **method.separator), mix)
        row["NMF, dictionaries from the test half's true parts"] = score_separation(ref, y, mixture=mix).sdri
        rows.append(row)
    return rows
