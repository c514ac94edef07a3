"""Separation metrics: known cases, agreement with mir_eval, alignment of files, the rtnmf evaluate command."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf
import soxr

from realtime_nmf.cli import main
from realtime_nmf.errors import ParameterError, RealtimeNMFError
from realtime_nmf.evaluate import estimate_delay, evaluate_files, score_separation, sdr, si_sdr


@pytest.fixture(scope="module")
def signals():
    """A band-limited target, an independent interference, at 8 kHz, 5 s."""
    rng = np.random.default_rng(7)
    n = 40000
    target = np.convolve(rng.standard_normal(n), np.hanning(9), mode="same")
    interference = np.convolve(rng.standard_normal(n), [1.0, -0.5], mode="same")
    interference *= np.sqrt(np.sum(target**2) / np.sum(interference**2))  # 0 dB
    return target, interference, rng


def at_snr(signal, noise, snr_db):
    return noise * np.sqrt(np.sum(signal**2) / np.sum(noise**2) / 10 ** (snr_db / 10))


def test_identical_and_scaled_estimates_score_very_high(signals):
    target, _, _ = signals
    for estimate in (target, 0.25 * target, -3.0 * target):
        assert sdr(target, estimate) > 60
    assert si_sdr(target, 0.25 * target) > 60
    assert si_sdr(target, -target) > 60  # a sign flip is a scale too


def test_added_noise_at_a_known_snr_gives_that_snr(signals):
    target, _, rng = signals
    noise = rng.standard_normal(target.shape[0])
    for snr_db in (0.0, 10.0, 20.0):
        estimate = target + at_snr(target, noise, snr_db)
        assert si_sdr(target, estimate) == pytest.approx(snr_db, abs=0.1)
        # the 512-tap filter explains a little of the noise (512 of 40000 degrees of freedom)
        assert sdr(target, estimate) == pytest.approx(snr_db, abs=0.15)


def test_sir_and_sar_split_interference_from_artefacts(signals):
    target, interference, rng = signals
    mixture = target + interference
    leak = score_separation(target, target + at_snr(target, interference, 20.0), mixture=mixture)
    assert leak.sir == pytest.approx(20.0, abs=0.2) and leak.sar > 60
    artefacts = score_separation(target, target + at_snr(target, rng.standard_normal(target.shape[0]), 15.0), mixture=mixture)
    assert artefacts.sar == pytest.approx(15.0, abs=0.2) and artefacts.sir > 30


def test_the_mixture_itself_improves_nothing(signals):
    target, interference, _ = signals
    mixture = target + 0.5 * interference
    scores = score_separation(target, mixture, mixture=mixture)
    assert scores.sdri == pytest.approx(0.0, abs=1e-9) and scores.si_sdri == pytest.approx(0.0, abs=1e-9)
    assert scores.sdr_mixture == pytest.approx(6.02, abs=0.2)
    assert scores.sir == pytest.approx(scores.sdr, abs=0.05)  # all of its error is interference


def test_scores_agree_with_mir_eval(signals):
    mir_eval = pytest.importorskip("mir_eval")
    target, interference, rng = signals
    mixture = target + interference
    estimate = target + 0.3 * interference + 0.05 * rng.standard_normal(target.shape[0])
    n = 16000  # mir_eval is slow
    ours = score_separation(target[:n], estimate[:n], mixture=mixture[:n])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bss_eval_sources is deprecated since mir_eval 0.8
        reference = np.stack([target[:n], mixture[:n] - target[:n]])
        estimates = np.stack([estimate[:n], mixture[:n] - estimate[:n]])
        theirs = mir_eval.separation.bss_eval_sources(reference, estimates, compute_permutation=False)
    np.testing.assert_allclose([ours.sdr, ours.sir, ours.sar], [theirs[0][0], theirs[1][0], theirs[2][0]], atol=1e-3)


def test_silent_signals(signals):
    target, interference, _ = signals
    silent = score_separation(target, np.zeros_like(target), mixture=target + interference)
    assert silent.sdr == -np.inf and silent.si_sdr == -np.inf and silent.sdri == -np.inf
    with pytest.raises(ParameterError, match="the reference is silent"):
        score_separation(np.zeros_like(target), target)
    with pytest.raises(ParameterError, match="the mixture equals the reference"):
        score_separation(target, target, mixture=target)
    with pytest.raises(ParameterError, match="too short to score"):
        score_separation(target[:500], target[:500])
    with pytest.raises(ParameterError, match="NaN or infinite"):
        score_separation(target, np.full_like(target, np.nan))


@pytest.mark.parametrize("delay", [0, 1, 37, 400, -25])
def test_estimate_delay_finds_the_lag(signals, delay):
    target, interference, _ = signals
    mixture = target + interference
    estimate = 0.8 * target + 0.2 * interference
    shifted = np.concatenate([np.zeros(delay), estimate])[: target.shape[0]] if delay >= 0 else estimate[-delay:]
    assert estimate_delay(shifted, mixture, max_delay=1000) == delay


@pytest.fixture
def files(signals, tmp_path):
    """Reference and mixture at 8 kHz; an estimate recorded live: stereo, at 48 kHz, 2400 samples late, longer."""
    target, interference, _ = signals
    mixture = target + interference
    estimate = target + at_snr(target, interference, 12.0)
    sf.write(tmp_path / "ref.wav", target.astype(np.float32), 8000, subtype="FLOAT")
    sf.write(tmp_path / "mix.wav", mixture.astype(np.float32), 8000, subtype="FLOAT")
    sf.write(tmp_path / "est.wav", estimate.astype(np.float32), 8000, subtype="FLOAT")
    live = soxr.resample(estimate.astype(np.float32), 8000, 48000)
    live = np.concatenate([np.zeros(2400, np.float32), live, np.zeros(4800, np.float32)])
    sf.write(tmp_path / "live.wav", np.stack([live, live], axis=1), 48000, subtype="FLOAT")
    return tmp_path, score_separation(target, estimate, mixture=mixture)


def test_files_are_mixed_to_mono_resampled_and_aligned(files):
    folder, expected = files
    aligned = evaluate_files(folder / "ref.wav", folder / "est.wav", mixture=folder / "mix.wav")
    assert aligned.sdr == pytest.approx(expected.sdr, abs=1e-4) and aligned.delay == 0 and not aligned.notes
    for latency in (2400, "auto"):
        live = evaluate_files(folder / "ref.wav", folder / "live.wav", mixture=folder / "mix.wav", latency=latency)
        assert live.delay == 400 and live.sample_rate == 8000  # 2400 samples at 48 kHz
        # the round trip through 48 kHz drops a little of the interference near 4 kHz
        assert live.sdr == pytest.approx(expected.sdr, abs=0.6) and live.sdri == pytest.approx(expected.sdri, abs=0.6)
        assert any("mixed to mono" in note for note in live.notes) and any("resampled" in note for note in live.notes)
    unaligned = evaluate_files(folder / "ref.wav", folder / "live.wav", mixture=folder / "mix.wav")
    # what forgetting the latency costs: SI-SDR collapses (SDR's 512-tap filter absorbs a delay this short)
    assert unaligned.si_sdr < expected.si_sdr - 20
    with pytest.raises(ParameterError, match="latency='soon' must be"):
        evaluate_files(folder / "ref.wav", folder / "est.wav", latency="soon")


def test_cli_prints_the_table(files, capsys):
    folder, expected = files
    assert main(["evaluate", "--reference", str(folder / "ref.wav"), "--estimate", str(folder / "est.wav"),
                 "--mixture", str(folder / "mix.wav")]) == 0
    out = capsys.readouterr().out
    assert "scored 5.00 s at 8000 Hz" in out
    for name in ("SDR", "SI-SDR", "SIR", "SAR"):
        assert any(line.startswith(name + " ") for line in out.splitlines())
    sdr_line = next(line for line in out.splitlines() if line.startswith("SDR "))
    assert f"{expected.sdr:+.2f} dB" in sdr_line and f"{expected.sdri:+.2f} dB" in sdr_line

    assert main(["evaluate", "--reference", str(folder / "ref.wav"), "--estimate", str(folder / "live.wav"), "--latency", "auto"]) == 0
    captured = capsys.readouterr()
    assert "found 400 samples (50.0 ms) behind the reference" in captured.err
    assert "give the mixture (--mixture)" in captured.out

    # the delay as a live run prints it ("the engine delays by 2400.0 samples")
    assert main(["evaluate", "--reference", str(folder / "ref.wav"), "--estimate", str(folder / "live.wav"), "--latency", "2400.0"]) == 0
    assert "the estimate moved back by 400 samples" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--estimate", "{d}/est.wav", "--reference", "{d}/nothing.wav"], "does not exist"),
    (["--estimate", "{d}/est.wav", "--reference", "{d}/ref.wav", "--latency", "soon"], "--latency 'soon' must be a number of samples"),
    (["--estimate", "{d}/est.wav", "--reference", "{d}/ref.wav", "--latency", "nan"], "--latency 'nan' must be a number of samples"),
    (["--estimate", "{d}/est.wav", "--reference", "{d}/ref.wav", "--mixture", "{d}/ref.wav"], "the mixture equals the reference"),
    (["--estimate", "{d}/est.wav", "--reference", "{d}/ref.wav", "--latency", "auto", "--max-latency", "0"], "max_latency=0.0 must be"),
])
def test_cli_errors_are_one_line(files, capsys, args, message):
    folder, _ = files
    assert main(["evaluate", *[a.format(d=folder) for a in args]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rtnmf: error: ") and message in err and "Traceback" not in err
    assert issubclass(ParameterError, RealtimeNMFError)
