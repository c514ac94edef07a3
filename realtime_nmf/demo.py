"""The embedded example: a synthesised stethoscope recording and the whole workflow on it.

:func:`synthesize_stethoscope` makes, deterministically, a chest recording with known
parts: a heartbeat (S1 "lub" and S2 "dub" with their valve splits, heart rate drifting
between 60 and 90 beats per minute), breathing (band-limited turbulence noise, louder on
inspiration, 12-18 breaths per minute) and mains hum (50 Hz and harmonics), plus a
little sensor noise. :func:`run_demo` trains a dictionary on the first half, picks the
heartbeat components with the known heart signal of that half (what a listener does by
ear), saves the preset, separates the whole recording through the streaming engine and
scores the held-out second half.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal

from . import audio, defaults
from .dictionary import Dictionary
from .evaluate import sdr, select_components, si_sdr
from .decompose import component_signals
from .offline import process_file
from .presets import Preset
from .training import learn_dictionary

__all__ = ["synthesize_stethoscope", "run_demo", "DemoReport", "DEMO_SAMPLE_RATE", "DEMO_SETTINGS"]

DEMO_SAMPLE_RATE = 4000
DEMO_DURATION = 40.0
DEMO_SEED = 2026
#: Training settings of the demo and of the bundled stethoscope presets.
DEMO_SETTINGS = dict(n_components=16, beta=defaults.BETA, iterations=200, n_fft=256, hop_length=64, seed=0)


# --------------------------------------------------------------------------------------
# synthesis


def _heart_rate_curve(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Beats per minute over time: a slow drift between 60 and 90 with small wander."""
    phase = rng.uniform(0, 2 * np.pi)
    slow = 75 + 13 * np.sin(2 * np.pi * t / 27.0 + phase)
    wander = np.cumsum(rng.standard_normal(t.size)) / np.sqrt(t.size) * 4.0
    wander = scipy.signal.savgol_filter(wander, min(t.size // 2 * 2 - 1, 4001), 2) if t.size > 10 else wander
    return np.clip(slow + wander, 60.0, 90.0)


def _thud(sr: int, duration: float, frequency: float, decay: float, rng: np.random.Generator) -> np.ndarray:
    """One valve closure: a gamma-shaped envelope on a slightly falling tone with a little noise."""
    t = np.arange(int(duration * sr)) / sr
    envelope = (t / decay) ** 2 * np.exp(-t / decay * 2.0)
    envelope /= envelope.max()
    chirp = frequency * (1.0 - 0.25 * t / duration)
    tone = np.sin(2 * np.pi * np.cumsum(chirp) / sr + rng.uniform(0, 2 * np.pi))
    texture = scipy.signal.lfilter(*scipy.signal.butter(2, [frequency * 0.6, min(frequency * 3.0, sr / 2 - 1)], "bandpass", fs=sr),
                                   rng.standard_normal(t.size))
    texture /= np.abs(texture).max() + 1e-12
    return envelope * (0.85 * tone + 0.35 * texture)


def _delayed(sound: np.ndarray, delay: int, length: int) -> np.ndarray:
    """``sound`` starting ``delay`` samples into a silent signal of ``length`` samples (cut to fit)."""
    out = np.zeros(length)
    part = sound[: max(0, length - delay)]
    out[delay : delay + part.size] = part
    return out


def _heartbeat(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    bpm = _heart_rate_curve(t, rng)
    out = np.zeros(n)
    beat_time = rng.uniform(0.1, 0.5)
    while beat_time < n / sr:
        rr = 60.0 / bpm[min(int(beat_time * sr), n - 1)]
        systole = 0.09 + 0.24 * np.sqrt(rr)  # S1 -> S2 interval shortens as the rate rises
        gain = rng.uniform(0.85, 1.15)
        # S1: mitral then tricuspid closure, 20-30 ms apart, low pitched
        s1 = _thud(sr, 0.12, rng.uniform(45, 60), 0.022, rng)
        s1 += 0.6 * _delayed(_thud(sr, 0.09, rng.uniform(55, 70), 0.018, rng), int(rng.uniform(0.02, 0.03) * sr), s1.size)
        # S2: aortic then pulmonary closure, shorter and higher pitched
        s2 = 0.7 * _thud(sr, 0.09, rng.uniform(70, 95), 0.014, rng)
        s2 += 0.4 * _delayed(_thud(sr, 0.06, rng.uniform(80, 110), 0.012, rng), int(rng.uniform(0.015, 0.03) * sr), s2.size)
        for sound, at in ((s1, beat_time), (s2 * rng.uniform(0.85, 1.1), beat_time + systole)):
            start = int(at * sr)
            stop = min(n, start + sound.size)
            if start < n:
                out[start:stop] += gain * sound[: stop - start]
        beat_time += rr
    # transmission through the chest wall: a gentle low-pass
    return scipy.signal.sosfilt(scipy.signal.butter(2, 300, "lowpass", fs=sr, output="sos"), out)


def _breathing(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    noise = rng.standard_normal(n)
    # vesicular sound: most energy 100-600 Hz, falling off above
    lung = scipy.signal.sosfilt(scipy.signal.butter(3, [100, 900], "bandpass", fs=sr, output="sos"), noise)
    lung += 0.5 * scipy.signal.sosfilt(scipy.signal.butter(2, [150, 350], "bandpass", fs=sr, output="sos"), rng.standard_normal(n))
    envelope = np.zeros(n)
    start = rng.uniform(0, 1.0)
    while start < t[-1]:
        period = 60.0 / rng.uniform(12, 18)
        inspiration = 0.4 * period
        for phase_start, length, level in ((start, inspiration, 1.0), (start + inspiration, period - inspiration, 0.45)):
            i0, i1 = int(phase_start * sr), int((phase_start + length) * sr)
            i1 = min(i1, n)
            if i0 >= n:
                break
            k = np.arange(i1 - i0)
            envelope[i0:i1] = np.maximum(envelope[i0:i1], level * np.clip(np.sin(np.pi * k / max(1, int(length * sr))), 0.0, 1.0) ** 1.5)
        start += period
    return lung * (0.08 + envelope)


def _hum(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    hum = np.zeros(n)
    for harmonic, level in ((1, 1.0), (2, 0.35), (3, 0.5), (5, 0.15)):
        hum += level * np.sin(2 * np.pi * 50.0 * harmonic * t + rng.uniform(0, 2 * np.pi))
    return hum * (1.0 + 0.1 * np.sin(2 * np.pi * 0.07 * t))


def synthesize_stethoscope(duration: float = DEMO_DURATION, sample_rate: int = DEMO_SAMPLE_RATE, seed: int = DEMO_SEED) -> dict:
    """Synthesise a stethoscope-like recording with its exact parts.

    Parameters
    ----------
    duration : float
        Seconds.
    sample_rate : int
    seed : int

    Returns
    -------
    dict of np.ndarray [shape=(n_samples,), dtype=float32]
        ``mixture`` (the sum of the others, peak 0.7) and its parts ``heart``,
        ``breath``, ``hum`` and ``noise``, all on the mixture's scale.
    """
    rng = np.random.default_rng(seed)
    n = int(round(duration * sample_rate))
    heart = _heartbeat(n, sample_rate, rng)
    breath = _breathing(n, sample_rate, rng)
    hum = _hum(n, sample_rate, rng)

    def rms(x):
        return float(np.sqrt(np.mean(x**2)))

    # levels relative to the heart: breathing about as loud, hum 14 dB down, noise 40 dB down
    breath *= rms(heart) / rms(breath) * 1.0
    hum *= rms(heart) / rms(hum) * 10 ** (-14 / 20)
    noise = rng.standard_normal(n) * rms(heart) * 10 ** (-40 / 20)
    mixture = heart + breath + hum + noise
    scale = 0.7 / np.abs(mixture).max()
    parts = {"mixture": mixture, "heart": heart, "breath": breath, "hum": hum, "noise": noise}
    return {name: (signal * scale).astype(np.float32) for name, signal in parts.items()}


# --------------------------------------------------------------------------------------
# the workflow


@dataclass
class DemoReport:
    """Figures of one demo run."""

    folder: Path
    mixture_path: Path
    output_path: Path
    dictionary_path: Path
    preset_path: Path
    keep: list
    sdr_before: float
    sdr_after: float
    si_sdr_before: float
    si_sdr_after: float
    latency_ms: float
    realtime_factor: float
    n_components: int

    def text(self) -> str:
        return "\n".join(
            [
                f"recording      {self.mixture_path} (synthesised heartbeat + breathing + 50 Hz hum, {DEMO_DURATION:.0f} s at {DEMO_SAMPLE_RATE} Hz)",
                f"dictionary     {self.dictionary_path} ({self.n_components} components, trained on the first half)",
                f"preset         {self.preset_path} (keeps components {', '.join(map(str, self.keep))})",
                f"separated      {self.output_path} (streaming engine)",
                "",
                "held-out second half, heartbeat against the true heart signal:",
                f"  SDR          {self.sdr_before:+6.2f} dB before  ->  {self.sdr_after:+6.2f} dB after  ({self.sdr_after - self.sdr_before:+.2f} dB)",
                f"  SI-SDR       {self.si_sdr_before:+6.2f} dB before  ->  {self.si_sdr_after:+6.2f} dB after  ({self.si_sdr_after - self.si_sdr_before:+.2f} dB)",
                f"latency        {self.latency_ms:.1f} ms (algorithmic: the STFT window)",
                f"speed          {self.realtime_factor:.0f}x real time (whole file through the streaming engine, one thread)",
            ]
        )


def build_stethoscope_dictionary(parts: dict, **settings) -> tuple[Dictionary, dict]:
    """Train the demo dictionary on the first half of ``parts['mixture']``; pick components for each part.

    ``settings`` override :data:`DEMO_SETTINGS` (e.g. ``latency_ms=8, hop_length=None``
    for the bundled low-latency dictionary).

    Returns
    -------
    dictionary : Dictionary
    choices : dict
        ``{"heart": [...], "breath": [...], "hum": [...]}`` component indices chosen with
        the true parts of the first half.
    """
    half = parts["mixture"].shape[0] // 2
    train = parts["mixture"][:half]
    dictionary = learn_dictionary([train], DEMO_SAMPLE_RATE, sources=["synthesised stethoscope recording, first half"],
                                  **{**DEMO_SETTINGS, **settings})
    components = component_signals(dictionary, train)
    choices = {name: select_components(components, parts[name][:half]) for name in ("heart", "breath", "hum")}
    labels = [""] * dictionary.n_components
    for name in ("heart", "breath", "hum"):
        for k in choices[name]:
            labels[k] = labels[k] or name
    dictionary.labels = labels
    return dictionary, choices


def run_demo(folder: str | Path = "rtnmf_demo", *, block_size: int = defaults.BLOCK_SIZE, progress=None) -> DemoReport:
    """Make the example recording (once), train, save a preset, separate, and score.

    Parameters
    ----------
    folder : str or Path
        Where the files go (created if needed).
    block_size : int
    progress : callable(samples_done, samples_total), optional

    Returns
    -------
    DemoReport
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts = synthesize_stethoscope()
    mixture_path = folder / "stethoscope_mixture.wav"
    heart_path = folder / "stethoscope_heart_reference.wav"
    if not mixture_path.exists():
        audio.write(mixture_path, parts["mixture"], DEMO_SAMPLE_RATE, subtype="FLOAT")
        audio.write(heart_path, parts["heart"], DEMO_SAMPLE_RATE, subtype="FLOAT")
    dictionary, choices = build_stethoscope_dictionary(parts)
    dictionary_path = dictionary.save(folder / "stethoscope.npz")
    preset = Preset(name="demo-heartbeat", dictionary_path=dictionary_path.resolve(), keep=choices["heart"],
                    description="Heartbeat of the demo recording (made by rtnmf demo)", _dictionary=dictionary)
    preset_path = preset.save(folder / "demo-heartbeat.yaml")
    output_path = folder / "heart_only.wav"
    chain = preset.build()
    started = time.perf_counter()
    stats = process_file(chain, mixture_path, output_path, processing_rate=dictionary.sample_rate, block_size=block_size, progress=progress)
    elapsed = time.perf_counter() - started
    estimate, _ = audio.load(output_path, mono=True)
    mixture, _ = audio.load(mixture_path, mono=True)
    half = parts["mixture"].shape[0] // 2
    reference = parts["heart"][half:]
    return DemoReport(
        folder=folder,
        mixture_path=mixture_path,
        output_path=output_path,
        dictionary_path=dictionary_path,
        preset_path=preset_path,
        keep=choices["heart"],
        sdr_before=sdr(reference, mixture[half:]),
        sdr_after=sdr(reference, estimate[half:]),
        si_sdr_before=si_sdr(reference, mixture[half:]),
        si_sdr_after=si_sdr(reference, estimate[half:]),
        latency_ms=1000.0 * chain.latency / dictionary.sample_rate,
        realtime_factor=stats.audio_seconds / elapsed,
        n_components=dictionary.n_components,
    )
