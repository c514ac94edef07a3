"""Labelled dictionaries: supervised and semi-supervised training, labels kept by presets, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from realtime_nmf.cli import main
from realtime_nmf.dictionary import Dictionary
from realtime_nmf.errors import ParameterError
from realtime_nmf.evaluate import sdr
from realtime_nmf.nmf import fit
from realtime_nmf.presets import load_preset
from realtime_nmf.processors import NMFSeparator
from realtime_nmf.stft import magnitude_spectrogram
from realtime_nmf.training import learn_labelled_dictionary, validate_label

SETTINGS = dict(n_fft=256, hop_length=64, iterations=60)


@pytest.fixture(scope="module")
def parts(stethoscope):
    """First 10 s of the demo recording: heart alone, everything else alone, and their sum."""
    n = 40000
    heart = stethoscope["heart"][:n]
    rest = (stethoscope["mixture"] - stethoscope["heart"])[:n]
    return heart, rest, heart + rest


def test_supervised_dictionary_holds_each_part_s_templates_with_labels(parts, tmp_path):
    heart, rest, _ = parts
    d = learn_labelled_dictionary([heart], 4000, background=[rest], n_components=10, target_components=4, target_label="heart",
                                  background_label="chest", **SETTINGS)
    assert d.labels == ["heart"] * 4 + ["chest"] * 6
    assert d.provenance["method"] == "supervised" and [s["role"] for s in d.provenance["stages"]] == ["target", "background"]
    # each part's templates are the NMF of that part alone
    alone = fit(magnitude_spectrogram(heart, 256, 64), 4, iterations=60, tolerance=d.provenance["tolerance"]).W
    np.testing.assert_allclose(d.W[:, :4], alone, atol=1e-6)
    # labels survive saving, and a selection by label keeps the target
    loaded = Dictionary.load(d.save(tmp_path / "d.npz"))
    assert loaded.labels == d.labels and loaded.resolve_components("heart") == [0, 1, 2, 3]
    assert loaded.resolve_components("chest,0") == [0, 4, 5, 6, 7, 8, 9]


def test_semi_supervised_training_keeps_the_target_templates_fixed(parts):
    heart, rest, mixture = parts
    target_only = learn_labelled_dictionary([heart], 4000, background=[rest], n_components=10, target_components=4, **SETTINGS)
    semi = learn_labelled_dictionary([heart], 4000, mixtures=[mixture], n_components=10, target_components=4, **SETTINGS)
    both = learn_labelled_dictionary([heart], 4000, background=[rest], mixtures=[mixture], n_components=10, target_components=4,
                                     **SETTINGS)
    assert semi.labels == ["target"] * 4 + ["background"] * 6 and semi.provenance["method"] == "semi-supervised"
    for d in (semi, both):
        np.testing.assert_allclose(d.W[:, :4], target_only.W[:, :4], atol=1e-6)  # held fixed while the mixtures are fitted
        np.testing.assert_allclose(np.linalg.norm(d.W, axis=0), 1.0, atol=1e-5)
    assert not np.allclose(both.W[:, 4:], target_only.W[:, 4:], atol=1e-3)  # the background was refined on the mixture
    assert both.provenance["iterations"] == sum(stage["iterations"] for stage in both.provenance["stages"])


def test_supervised_separation_brings_out_the_target(parts, stethoscope):
    heart, rest, _ = parts
    d = learn_labelled_dictionary([heart], 4000, background=[rest], n_components=16, target_label="heart", **SETTINGS)
    test = stethoscope["mixture"][40000:80000]
    truth = stethoscope["heart"][40000:80000]
    y = NMFSeparator(d, keep="heart")(test, 4000)
    assert sdr(truth, y) > sdr(truth, test) + 6


@pytest.mark.parametrize("options, message", [
    (dict(), "give background-only audio or mixtures"),
    (dict(background=["rest"], n_components=8, target_components=8), "target_components=8 must be less than n_components=8"),
    (dict(background=["rest"], target_label="heart", background_label="heart"), "both 'heart'"),
    (dict(background=["rest"], target_label="0-3"), "target_label='0-3' must start with a letter"),
    (dict(background=["rest"], background_label="all"), "background_label='all'"),
    (dict(background=["rest"], n_components=1), "components=1 must be at least 2"),
])
def test_labelled_training_errors(parts, options, message):
    heart, rest, _ = parts
    if "background" in options:
        options = dict(options, background=[rest])
    with pytest.raises(ParameterError, match=message):
        learn_labelled_dictionary([heart], 4000, **options, **SETTINGS)


def test_labels_must_be_selectable():
    assert validate_label("heart") == "heart" and validate_label("low-heart_2") == "low-heart_2"
    for bad in ("", "3", "heart,lung", "all", "a b", None):
        with pytest.raises(ParameterError):
            validate_label(bad)


def test_cli_trains_with_target_and_background_and_presets_keep_by_label(parts, tmp_path, capsys):
    heart, rest, mixture = parts
    for name, y in (("heart", heart), ("rest", rest), ("mix", mixture)):
        sf.write(tmp_path / f"{name}.wav", y, 4000, subtype="FLOAT")
    assert main(["train", "--target", str(tmp_path / "heart.wav"), "--background", str(tmp_path / "rest.wav"), "-o", str(tmp_path / "d.npz"),
                 "--components", "12", "--target-components", "5", "--target-label", "heart", "--iterations", "40"]) == 0
    out = capsys.readouterr().out
    assert "labels: heart (5 components), background (7 components) (supervised training)" in out
    assert "--keep heart" in out
    assert main(["preset", "new", "heart", "--dictionary", str(tmp_path / "d.npz"), "--keep", "heart", "-o", str(tmp_path / "heart.yaml")]) == 0
    assert load_preset(str(tmp_path / "heart.yaml")).keep_indices == [0, 1, 2, 3, 4]
    # semi-supervised: the positional clips are the mixtures
    assert main(["train", str(tmp_path / "mix.wav"), "--target", str(tmp_path / "heart.wav"), "-o", str(tmp_path / "semi.npz"),
                 "--components", "8", "--iterations", "20"]) == 0
    assert "(semi-supervised training)" in capsys.readouterr().out
    d = Dictionary.load(tmp_path / "semi.npz")
    assert d.labels == ["target"] * 4 + ["background"] * 4 and d.provenance["sources"] == ["heart.wav", "mix.wav"]


@pytest.mark.parametrize("args, message", [
    (["--background", "{d}/rest.wav"], "--background needs --target"),
    ([], "give audio files to learn from"),
    (["{d}/mix.wav", "--target-label", "heart"], "--target-label is for labelled training"),
    (["--target", "{d}/heart.wav"], "give background-only audio or mixtures"),
])
def test_cli_labelled_training_errors(parts, tmp_path, capsys, args, message):
    heart, rest, mixture = parts
    for name, y in (("heart", heart), ("rest", rest), ("mix", mixture)):
        sf.write(tmp_path / f"{name}.wav", y, 4000, subtype="FLOAT")
    assert main(["train", *[a.format(d=tmp_path) for a in args], "-o", str(tmp_path / "d.npz")]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "d.npz").exists()


def test_latency_ms_chooses_the_hop_of_the_asymmetric_windows_and_keeps_n_fft(stethoscope):
    from realtime_nmf.training import learn_dictionary, resolve_stft_settings

    assert resolve_stft_settings(4000, latency_ms=8) == (256, 16, "asymmetric")
    assert resolve_stft_settings(44100, latency_ms=4) == (2048, 88, "asymmetric")
    assert resolve_stft_settings(48000, n_fft=1024, latency_ms=4) == (1024, 96, "asymmetric")
    d = learn_dictionary([stethoscope["mixture"][:20000]], 4000, n_components=4, iterations=5, latency_ms=8)
    assert (d.n_fft, d.hop_length, d.window, d.latency_samples) == (256, 16, "asymmetric", 31)
    assert d.provenance["latency_ms_requested"] == 8


def test_latency_ms_conflicts_are_errors():
    from realtime_nmf.errors import ParameterError
    from realtime_nmf.training import resolve_stft_settings

    with pytest.raises(ParameterError, match="not both"):
        resolve_stft_settings(4000, hop_length=32, latency_ms=8)
    with pytest.raises(ParameterError, match="drop window='hamming'"):
        resolve_stft_settings(4000, window="hamming", latency_ms=8)
    with pytest.raises(ParameterError, match="shorter than one sample"):
        resolve_stft_settings(4000, latency_ms=0.1)
