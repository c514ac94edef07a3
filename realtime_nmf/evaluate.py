"""Separation metrics, alignment of recorded estimates, and reference-guided component selection.

Metrics are BSS Eval's (Vincent, Gribonval and Fevotte 2006, version 3 as in
``mir_eval.separation.bss_eval_sources``: a 512-tap time-invariant distortion filter is
allowed) and the scale-invariant SDR of Le Roux et al. (2019), all computed by the
``fast_bss_eval`` package (Scheibler, ICASSP 2022), whose values match mir_eval's to numerical
precision. Only its NumPy implementation is used
(``fast_bss_eval.numpy``): the package's top-level dispatch needs torch, and its
non-pairwise ``bss_eval_sources`` path fails with NumPy 2, so SIR and SAR are read from
the pairwise statistics :func:`fast_bss_eval.numpy.square_cosine_metrics` (the path
``bss_eval_sources`` itself takes when it searches the permutation), for the pair
(estimate, reference) only.

SIR and SAR need the interference: with a mixture, it is ``mixture - reference`` (exact
when the mixture is the sum of the target and everything else, as in the benchmark data).
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ParameterError

__all__ = [
    "sdr",
    "si_sdr",
    "snr",
    "select_components",
    "SeparationScores",
    "score_separation",
    "estimate_delay",
    "evaluate_files",
    "MIN_SAMPLES",
    "FILTER_LENGTH",
]

#: Shortest signal scored (samples): BSS Eval fits a 512-tap filter, which needs a few times as many samples.
MIN_SAMPLES = 1024
#: Length of BSS Eval's distortion filter (taps), as in bss_eval_sources v3 and mir_eval.
FILTER_LENGTH = 512


def _pair(reference, estimate):
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.ndim == 2:
        ref = ref.mean(axis=1)
    if est.ndim == 2:
        est = est.mean(axis=1)
    n = min(ref.shape[0], est.shape[0])
    if n < MIN_SAMPLES:
        raise ParameterError(f"signals of {n} samples are too short to score; give at least {MIN_SAMPLES} samples")
    return ref[:n], est[:n]


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """BSS Eval SDR in dB of ``estimate`` against ``reference`` (mono; lengths cut to the shorter).

    ``inf`` for an estimate that is a filtered copy of the reference (fast_bss_eval's own
    ``sdr`` fails on that case, in its permutation search).
    """
    from fast_bss_eval.numpy import square_cosine_metrics

    ref, est = _pair(reference, estimate)
    coherence, _ = square_cosine_metrics(ref[None], est[None], filter_length=FILTER_LENGTH, pairwise=True)
    return _coherence_db(float(coherence[0, 0]))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019)."""
    from fast_bss_eval.numpy import si_sdr as _si_sdr

    ref, est = _pair(reference, estimate)
    try:
        return float(np.asarray(_si_sdr(ref[None], est[None]))[0])
    except ValueError:  # fast_bss_eval's permutation search fails on a perfect estimate (infinite SI-SDR)
        target = (np.dot(est, ref) / max(np.dot(ref, ref), 1e-300)) * ref
        noise = float(np.sum((est - target) ** 2))
        return math.inf if noise == 0 else 10.0 * math.log10(float(np.sum(target**2)) / noise)


def snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Plain signal-to-error ratio ``10 log10(|ref|^2 / |ref - est|^2)`` in dB (no allowed distortion)."""
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    error = float(np.sum((ref - est) ** 2))
    return 10.0 * np.log10(max(float(np.sum(ref**2)), 1e-30) / max(error, 1e-30))


def select_components(components: np.ndarray, reference: np.ndarray, *, max_components: int | None = None) -> list[int]:
    """Choose the components whose sum best matches a reference, as a careful listener would.

    Greedy forward selection: add the component that raises the SNR of the sum against
    ``reference`` most, until no component raises it.

    Parameters
    ----------
    components : np.ndarray [shape=(n_components, n_samples)]
        Separated component signals of a clip (e.g. from
        :func:`realtime_nmf.decompose.component_signals`).
    reference : np.ndarray [shape=(n_samples,)]
        The target's true signal over the same clip.
    max_components : int, optional

    Returns
    -------
    list of int
        Sorted component indices.
    """
    components = np.asarray(components, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)[: components.shape[1]]
    components = components[:, : reference.shape[0]]
    chosen: list[int] = []
    total = np.zeros_like(reference)
    best = snr(reference, total)
    limit = components.shape[0] if max_components is None else int(max_components)
    while len(chosen) < limit:
        scores = [(snr(reference, total + components[k]), k) for k in range(components.shape[0]) if k not in chosen]
        if not scores:
            break
        score, k = max(scores)
        if score <= best + 1e-3:
            break
        best = score
        chosen.append(k)
        total += components[k]
    return sorted(chosen)


# --------------------------------------------------------------------------------------
# scores of one estimate: SDR, SI-SDR, SIR, SAR and the improvements over the mixture


@dataclass
class SeparationScores:
    """BSS Eval scores of one estimate against its reference, in dB.

    Attributes
    ----------
    sdr, si_sdr : float
        Of the estimate (``-inf`` for a silent estimate).
    sir, sar : float or None
        Of the estimate, with the interference taken as ``mixture - reference``; None
        without a mixture (for a silent estimate: SIR NaN, SAR ``-inf``).
    sdr_mixture, si_sdr_mixture : float or None
        Of the mixture itself taken as the estimate (the "before"); None without a mixture.
    n_samples : int
        Samples scored (after alignment, the length common to all signals).
    sample_rate : int or None
        Rate they were scored at.
    delay : int
        Samples by which the estimate lagged the reference and was moved back (at
        ``sample_rate``; negative: it was ahead).
    notes : list of str
        What was done to the inputs (resampling, mixing to mono, cutting lengths).
    channels : list of SeparationScores
        For multichannel files scored channel by channel (:func:`evaluate_files`): the
        scores of each channel; the scores above are then their means. Empty otherwise.
    """

    sdr: float
    si_sdr: float
    sir: float | None = None
    sar: float | None = None
    sdr_mixture: float | None = None
    si_sdr_mixture: float | None = None
    n_samples: int = 0
    sample_rate: int | None = None
    delay: int = 0
    notes: list = field(default_factory=list)
    channels: list = field(default_factory=list)

    @property
    def sdri(self) -> float | None:
        """SDR improvement over the mixture (``sdr - sdr_mixture``), None without a mixture."""
        return None if self.sdr_mixture is None else self.sdr - self.sdr_mixture

    @property
    def si_sdri(self) -> float | None:
        """SI-SDR improvement over the mixture, None without a mixture."""
        return None if self.si_sdr_mixture is None else self.si_sdr - self.si_sdr_mixture

    def as_dict(self) -> dict:
        """The scores by name (``sdr``, ``si_sdr``, ``sir``, ``sar``, ``sdri``, ``si_sdri``...), ``channels`` as a list of these."""
        return {"sdr": self.sdr, "si_sdr": self.si_sdr, "sir": self.sir, "sar": self.sar, "sdr_mixture": self.sdr_mixture,
                "si_sdr_mixture": self.si_sdr_mixture, "sdri": self.sdri, "si_sdri": self.si_sdri, "n_samples": self.n_samples,
                "sample_rate": self.sample_rate, "delay": self.delay, "notes": list(self.notes),
                "channels": [channel.as_dict() for channel in self.channels]}

    def text(self) -> str:
        """A small table per channel (multichannel) or one: the estimate, the mixture and the improvement for each metric."""
        if not self.channels:
            return self._table()
        parts = [f"channel {c + 1}:\n{scores._table()}" for c, scores in enumerate(self.channels)]
        return "\n".join(parts + [f"mean over the {len(self.channels)} channels:\n{self._table()}"])

    @classmethod
    def mean_of(cls, channels: list) -> "SeparationScores":
        """Scores whose every metric is the mean over ``channels`` (each a SeparationScores), which it keeps."""

        def mean(name):
            values = [getattr(c, name) for c in channels]
            return None if any(v is None for v in values) else float(np.mean(values))

        first = channels[0]
        return cls(sdr=mean("sdr"), si_sdr=mean("si_sdr"), sir=mean("sir"), sar=mean("sar"), sdr_mixture=mean("sdr_mixture"),
                   si_sdr_mixture=mean("si_sdr_mixture"), n_samples=first.n_samples, channels=list(channels))

    def _table(self) -> str:

        def db(value) -> str:
            return "" if value is None else ("n/a" if np.isnan(value) else f"{value:+.2f} dB")

        with_mixture = self.sdr_mixture is not None
        rows = [f"{'':8}  {'estimate':>10}" + (f"  {'mixture':>10}  {'improvement':>11}" if with_mixture else "")]
        for name, value, before in (("SDR", self.sdr, self.sdr_mixture), ("SI-SDR", self.si_sdr, self.si_sdr_mixture)):
            row = f"{name:8}  {db(value):>10}"
            if with_mixture:
                row += f"  {db(before):>10}  {db(value - before):>11}"
            rows.append(row)
        if with_mixture:
            rows.append(f"{'SIR':8}  {db(self.sir):>10}    (interference = mixture - reference)")
            rows.append(f"{'SAR':8}  {db(self.sar):>10}")
        else:
            rows.append("SIR, SAR: give the mixture (--mixture) to measure them; the interference is then mixture - reference")
        return "\n".join(rows)


def _mono64(y, name: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.ndim != 1:
        raise ParameterError(f"the {name} must have shape (n_samples,) or (n_samples, n_channels), got {y.shape}")
    if not np.isfinite(y).all():
        raise ParameterError(f"the {name} holds NaN or infinite samples; repair the file first")
    return y


def _coherence_db(coherence: float) -> float:
    """BSS Eval ratio in dB from a squared cosine ``c``: ``10 log10(c / (1 - c))`` (fast_bss_eval's mapping)."""
    c = float(coherence)
    if not np.isfinite(c):
        return float("nan")
    if c >= 1.0:
        return float("inf")
    if c <= 0.0:
        return float("-inf")
    return float(10.0 * np.log10(c / (1.0 - c)))


def _sir_sar(reference: np.ndarray, interference: np.ndarray, estimate: np.ndarray) -> tuple[float, float]:
    """BSS Eval v3 SIR and SAR of ``estimate`` for the sources (reference, interference)."""
    from fast_bss_eval.numpy import square_cosine_metrics

    coh_sdr, coh_sar = square_cosine_metrics(np.stack([reference, interference]), estimate[None], filter_length=FILTER_LENGTH,
                                             pairwise=True)
    c_sdr, c_sar = float(coh_sdr[0, 0]), float(coh_sar[0, 0])
    return _coherence_db(c_sdr / c_sar if c_sar > 0 else float("nan")), _coherence_db(c_sar)


def score_separation(reference: np.ndarray, estimate: np.ndarray, *, mixture: np.ndarray | None = None) -> SeparationScores:
    """SDR, SI-SDR and, given the mixture, SIR, SAR, SDRi and SI-SDRi of an estimate.

    The signals must be at one sample rate and time-aligned (see :func:`evaluate_files`
    for files); channels are averaged and the lengths cut to the shortest.

    Parameters
    ----------
    reference : np.ndarray [shape=(n_samples,) or (n_samples, n_channels)]
        The true target signal.
    estimate : np.ndarray [shape=(n_samples,) or (n_samples, n_channels)]
        The separated target.
    mixture : np.ndarray [shape=(n_samples,) or (n_samples, n_channels)], optional
        What was separated. The interference is taken as ``mixture - reference`` for
        SIR and SAR, and the mixture scored as an estimate gives the "before" of the
        improvements (so the SDRi of the mixture itself is 0).

    Returns
    -------
    SeparationScores
    """
    ref = _mono64(reference, "reference")
    est = _mono64(estimate, "estimate")
    mix = None if mixture is None else _mono64(mixture, "mixture")
    n = min(ref.shape[0], est.shape[0], mix.shape[0] if mix is not None else ref.shape[0])
    if n < MIN_SAMPLES:
        raise ParameterError(f"signals of {n} samples are too short to score; give at least {MIN_SAMPLES} samples")
    ref, est = ref[:n], est[:n]
    ref_energy = float(np.dot(ref, ref))
    if ref_energy <= 0.0:
        raise ParameterError("the reference is silent (all zeros): there is nothing to score against")
    silent = float(np.dot(est, est)) <= 0.0
    scores = SeparationScores(sdr=float("-inf") if silent else sdr(ref, est), si_sdr=float("-inf") if silent else si_sdr(ref, est),
                              n_samples=n)
    if mix is not None:
        mix = mix[:n]
        interference = mix - ref
        if float(np.dot(interference, interference)) <= 1e-12 * ref_energy:
            raise ParameterError("the mixture equals the reference: there is no interference to separate or to measure SIR against")
        scores.sdr_mixture, scores.si_sdr_mixture = sdr(ref, mix), si_sdr(ref, mix)
        scores.sir, scores.sar = (float("nan"), float("-inf")) if silent else _sir_sar(ref, interference, est)
    return scores


# --------------------------------------------------------------------------------------
# files: mono, one rate, aligned


def estimate_delay(estimate: np.ndarray, guide: np.ndarray, *, max_delay: int) -> int:
    """Delay of ``estimate`` behind ``guide`` in samples, found by cross-correlation.

    Parameters
    ----------
    estimate : np.ndarray [shape=(n_samples,)]
    guide : np.ndarray [shape=(n_samples,)]
        A signal the estimate resembles and that is aligned with the reference: the
        mixture (best: the estimate is a filtered mixture) or the reference.
    max_delay : int
        Largest delay searched, either way.

    Returns
    -------
    int
        Positive when the estimate lags (``estimate[n + d] ~ guide[n]``), negative when it leads.
    """
    import scipy.signal

    est = _mono64(estimate, "estimate")
    ref = _mono64(guide, "guide")
    n = min(est.shape[0], ref.shape[0])
    if n < 2:
        return 0
    correlation = scipy.signal.correlate(est[:n], ref[:n], mode="full", method="fft")
    lags = scipy.signal.correlation_lags(n, n, mode="full")
    inside = np.abs(lags) <= int(max_delay)
    return int(lags[inside][int(np.argmax(correlation[inside]))])


def evaluate_files(
    reference: str | Path,
    estimate: str | Path,
    *,
    mixture: str | Path | None = None,
    latency: int | str = 0,
    max_latency: float = 1.0,
    start: float | None = None,
    end: float | None = None,
) -> SeparationScores:
    """Score an estimate file against a reference file, optionally with the mixture.

    Every file is resampled to the reference's rate. When the reference and the estimate
    (and the mixture, if given) have the same number of channels, more than one, each
    channel is scored on its own (``channels``; the scores are their means); otherwise
    every file is mixed to mono. The estimate is moved back by its latency, then all
    signals are cut to their common length, and to ``start``-``end`` if given.

    Parameters
    ----------
    reference, estimate : str or Path
    mixture : str or Path, optional
        Aligned with the reference (e.g. the file that was separated).
    latency : int or "auto"
        Samples (at the estimate file's rate) by which the estimate lags the reference:
        0 for the output of ``rtnmf run --input FILE --output FILE`` (latency
        compensated), the engine delay printed by a live run for a live recording, or
        ``"auto"`` to find it by cross-correlation with the mixture (else the reference)
        within ``max_latency`` seconds.
    max_latency : float
        Seconds searched by ``latency="auto"``.
    start, end : float, optional
        Seconds of the reference (after alignment): score only this part.

    Returns
    -------
    SeparationScores
        With ``delay`` (at the reference's rate), ``notes`` and, channel by channel, ``channels``.
    """
    from .audio import audio_info, frames_between, load

    if not (latency == "auto" or (isinstance(latency, (int, np.integer)) and not isinstance(latency, bool))):
        raise ParameterError(f"latency={latency!r} must be a whole number of samples or 'auto'")
    if isinstance(max_latency, bool) or not isinstance(max_latency, (int, float)) or not 0 < max_latency < math.inf:
        raise ParameterError(f"max_latency={max_latency!r} must be a positive, finite number of seconds")
    notes = []
    infos = {"reference": audio_info(reference), "estimate": audio_info(estimate)}
    if mixture is not None:
        infos["mixture"] = audio_info(mixture)
    rate = infos["reference"].sample_rate
    counts = {name: info.n_channels for name, info in infos.items()}
    per_channel = counts["reference"] > 1 and counts["estimate"] == counts["reference"] and counts.get("mixture", counts["reference"]) == counts["reference"]
    signals = {}
    for name, info in infos.items():
        if info.n_channels > 1 and not per_channel:
            notes.append(f"{name} has {info.n_channels} channels: mixed to mono"
                         + (" (the files' channel counts differ, so they are not scored channel by channel)" if len(set(counts.values())) > 1 else ""))
        if info.sample_rate != rate:
            notes.append(f"{name} is at {info.sample_rate} Hz: resampled to the reference's {rate} Hz")
        y = load(info.path, sample_rate=rate, mono=not per_channel)[0]
        signals[name] = y if per_channel else y[:, None]
    if per_channel:
        notes.append(f"{counts['reference']} channels: scored channel by channel (channel c of the estimate against channel c of the reference)")
    ref, est, mix = signals["reference"], signals["estimate"], signals.get("mixture")
    if latency == "auto":
        guide = mix if mix is not None else ref
        delay = estimate_delay(est.mean(axis=1), guide.mean(axis=1),
                               max_delay=int(round(min(max_latency * rate, max(est.shape[0], guide.shape[0])))))
        notes.append(f"estimate found {abs(delay)} samples ({1000 * abs(delay) / rate:.1f} ms) "
                     f"{'behind' if delay >= 0 else 'ahead of'} the {'mixture' if mix is not None else 'reference'} by cross-correlation")
    else:
        delay = int(round(int(latency) * rate / infos["estimate"].sample_rate))
    if delay > 0:
        est = est[delay:]
    elif delay < 0:
        ref = ref[-delay:]
        mix = None if mix is None else mix[-delay:]
    lengths = [ref.shape[0], est.shape[0]] + ([mix.shape[0]] if mix is not None else [])
    if max(lengths) - min(lengths) > 1:
        notes.append(f"lengths differ ({', '.join(f'{n / rate:.3f} s' for n in lengths)}): the first {min(lengths) / rate:.3f} s are scored")
    if start is not None or end is not None:
        first, stop = frames_between(min(lengths), rate, start, end, what="the signals scored")
        ref, est, mix = ref[first:stop], est[first:stop], None if mix is None else mix[first:stop]
        notes.append(f"scored from {first / rate:.3f} s to {stop / rate:.3f} s (of the reference, after alignment)")
    channels = [score_separation(ref[:, c], est[:, c], mixture=None if mix is None else mix[:, c]) for c in range(ref.shape[1])]
    scores = channels[0] if len(channels) == 1 else SeparationScores.mean_of(channels)
    for channel in channels:
        channel.sample_rate, channel.delay = rate, delay
    scores.sample_rate, scores.delay, scores.notes = rate, delay, notes
    return scores

