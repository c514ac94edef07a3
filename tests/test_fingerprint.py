"""Dictionary fingerprints: a preset refuses a dictionary that was retrained or replaced since it was saved."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_nmf.dictionary import FINGERPRINT_DIGITS, Dictionary
from realtime_nmf.errors import DictionaryError, PresetError
from realtime_nmf.presets import load_preset, new_preset


def make_dictionary(seed: int = 0, n_components: int = 4, n_fft: int = 64, hop_length: int = 16, **kwargs) -> Dictionary:
    rng = np.random.default_rng(seed)
    return Dictionary(W=rng.random((n_fft // 2 + 1, n_components)), sample_rate=4000, n_fft=n_fft, hop_length=hop_length, **kwargs)


def test_fingerprint_survives_save_and_load_and_is_stored(tmp_path):
    d = make_dictionary()
    path = d.save(tmp_path / "d.npz")
    assert len(d.fingerprint) == FINGERPRINT_DIGITS and int(d.fingerprint, 16) >= 0
    loaded = Dictionary.load(path)
    assert loaded.fingerprint == d.fingerprint
    with np.load(path) as archive:
        assert json.loads(str(archive["metadata"][()]))["fingerprint"] == d.fingerprint
    assert f"fingerprint    {d.fingerprint}" in loaded.summary()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), row=st.integers(0, 32), column=st.integers(0, 3), factor=st.floats(1.0001, 4.0))
def test_any_change_of_one_template_value_changes_the_fingerprint(seed, row, column, factor):
    d = make_dictionary(seed)
    W = d.W.copy()
    W[row, column] = W[row, column] * factor + 1e-3
    assert Dictionary(W=W, sample_rate=d.sample_rate, n_fft=d.n_fft, hop_length=d.hop_length).fingerprint != d.fingerprint


@pytest.mark.parametrize("change", [dict(sample_rate=8000), dict(hop_length=32), dict(window="hamming"), dict(power=2.0)])
def test_the_stft_settings_enter_the_fingerprint(change):
    d = make_dictionary()
    settings_ = dict(sample_rate=d.sample_rate, n_fft=d.n_fft, hop_length=d.hop_length, window=d.window, power=d.power)
    settings_.update(change)
    assert Dictionary(W=d.W, **settings_).fingerprint != d.fingerprint


def test_labels_beta_and_provenance_do_not_enter_it():
    d = make_dictionary()
    other = Dictionary(W=d.W, sample_rate=4000, n_fft=64, hop_length=16, beta=1.0, labels=["a"] * 4, provenance={"x": 1})
    assert other.fingerprint == d.fingerprint


def test_a_file_altered_after_saving_is_refused(tmp_path):
    path = make_dictionary().save(tmp_path / "d.npz")
    with np.load(path) as archive:
        W, metadata = archive["W"].copy(), archive["metadata"].copy()
    W[3, 1] += 0.5
    with zipfile.ZipFile(path, "w") as handle:
        for name, array in (("W", W), ("metadata", metadata)):
            with handle.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    with pytest.raises(DictionaryError, match="does not match the fingerprint saved with it"):
        Dictionary.load(path)


def test_a_preset_refuses_its_dictionary_retrained_with_the_same_settings(tmp_path):
    path = make_dictionary(seed=1).save(tmp_path / "song.npz")
    preset = new_preset("drums", path, "0,2", output=tmp_path / "drums.yaml")
    saved = yaml.safe_load((tmp_path / "drums.yaml").read_text())
    assert saved["made_for"]["fingerprint"] == preset.dictionary.fingerprint
    assert load_preset(tmp_path / "drums.yaml").keep_indices == [0, 2]
    make_dictionary(seed=2).save(path)  # retrained into the same file: same settings, other templates
    with pytest.raises(PresetError) as caught:
        load_preset(tmp_path / "drums.yaml")
    message = str(caught.value)
    assert "was made for another dictionary" in message and "may now be other sounds" in message
    assert f"rtnmf audition {path} CLIP -o audition/" in message and f"rtnmf preset new drums --dictionary {path}" in message


def test_a_replaced_dictionary_is_reported_before_an_index_out_of_range(tmp_path):
    path = make_dictionary(n_components=12).save(tmp_path / "d.npz")
    new_preset("p", path, "9", output=tmp_path / "p.yaml")
    make_dictionary(n_components=4).save(path)
    with pytest.raises(PresetError, match="made for a dictionary with n_components 12, but .* has n_components 4"):
        load_preset(tmp_path / "p.yaml")


def test_presets_without_a_fingerprint_still_load(tmp_path):
    path = make_dictionary().save(tmp_path / "d.npz")
    (tmp_path / "old.yaml").write_text("dictionary: d.npz\nmade_for: {sample_rate: 4000, n_fft: 64, hop_length: 16, n_components: 4}\nkeep: 1\n")
    assert load_preset(tmp_path / "old.yaml").keep_indices == [1]
    (tmp_path / "bad.yaml").write_text("dictionary: d.npz\nmade_for: {fingerprint: 12}\nkeep: 1\n")
    with pytest.raises(PresetError, match="fingerprint to a text"):
        load_preset(tmp_path / "bad.yaml")


def test_the_bundled_presets_record_their_dictionary_fingerprint():
    from .conftest import ROOT

    for name in ("heartbeat", "breath", "heartbeat-8ms"):
        path = ROOT / "presets" / f"{name}.yaml"
        assert yaml.safe_load(path.read_text())["made_for"]["fingerprint"] == load_preset(path).dictionary.fingerprint


@pytest.mark.parametrize("content, reason", [
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "it is a WAV file (audio); a dictionary is learned from audio: rtnmf train"),
    (b"fLaC\x00\x00\x00\x22", "it is a FLAC file (audio)"),
    (b"# realtime_nmf preset 'x'\nversion: 1\n", "it is a text file (a preset?)"),
    (b"\x00" * 64, "it is not an .npz archive; dictionaries are written by rtnmf train"),
])
def test_foreign_files_given_as_a_dictionary_say_what_they_are(tmp_path, content, reason):
    path = tmp_path / "thing.npz"
    path.write_bytes(content)
    with pytest.raises(DictionaryError, match="is not a realtime_nmf dictionary") as caught:
        Dictionary.load(path)
    assert reason in str(caught.value) and "pickle" not in str(caught.value)


def test_a_dictionary_given_as_a_preset_says_so(tmp_path):
    path = make_dictionary().save(tmp_path / "d.npz")
    for value in (path, "d.npz"):
        with pytest.raises(PresetError, match="is a dictionary, not a preset; hear a selection of it with rtnmf run --dictionary"):
            import os

            cwd = os.getcwd()
            os.chdir(tmp_path)
            try:
                load_preset(value)
            finally:
                os.chdir(cwd)
