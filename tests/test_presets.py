"""Presets: round trip, every validation error, lookup order, bundled presets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml

from realtime_nmf.errors import DictionaryError, PresetError
from realtime_nmf.evaluate import sdr
from realtime_nmf.presets import Preset, bundled_preset_dir, find_preset, list_presets, load_preset, new_preset, user_preset_dir
from realtime_nmf.processors import Gain, HighPass, NMFSeparator


@pytest.fixture
def dictionary_file(small_dictionary, tmp_path):
    """The small dictionary with components 0 and 1 labelled 'heart', saved in its own folder."""
    labelled = dataclasses.replace(small_dictionary, labels=["heart", "heart"] + [""] * (small_dictionary.n_components - 2))
    (tmp_path / "dicts").mkdir()
    return labelled.save(tmp_path / "dicts" / "d.npz")


def write_preset(folder, name, data):
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_round_trip(dictionary_file, tmp_path):
    preset = Preset(name="p", dictionary_path=dictionary_file, keep="0-2,heart", settings={"iterations": 7, "mask": "binary"},
                    chain=[("highpass", {"cutoff": 25.0}), ("nmf", {}), ("gain", {"db": 3.0})], description="test preset")
    (tmp_path / "presets").mkdir()
    path = preset.save(tmp_path / "presets" / "p.yaml")
    text = path.read_text()
    assert "dictionary: ../dicts/d.npz" in text  # stored relative to the preset file
    loaded = load_preset(path)
    assert loaded.to_dict() == preset.to_dict()
    assert loaded.keep_indices == [0, 1, 2]
    chain = loaded.build()
    assert [type(p) for p in chain] == [HighPass, NMFSeparator, Gain]
    assert chain[1].params["iterations"] == 7 and chain[1].keep == [0, 1, 2]
    assert loaded.latency == chain.latency


def test_saved_yaml_is_plain_and_commented(dictionary_file, tmp_path):
    preset = Preset(name="p", dictionary_path=dictionary_file, keep=[0, 3])
    text = preset.save(tmp_path / "p.yaml").read_text()
    assert text.startswith("# realtime_nmf preset 'p'")
    assert "keep: [0, 3]" in text


BAD_PRESETS = [
    ({"keep": "0"}, "the key 'dictionary' is missing"),
    ({"dictionary": "d.npz"}, "the key 'keep' is missing"),
    ({"dictionary": "d.npz", "keep": "0", "colour": "red"}, "unknown key 'colour'; allowed keys: version, description, dictionary, made_for, keep"),
    ({"dictionary": "d.npz", "keep": "0", "iterations": "ten"}, "iterations='ten' must be a whole number"),
    ({"dictionary": "d.npz", "keep": "0", "iterations": -1}, "iterations=-1 must be at least 0"),
    ({"dictionary": "d.npz", "keep": "0", "mask_exponent": 0}, "mask_exponent=0.0 must be greater than 0"),
    ({"dictionary": "d.npz", "keep": "0", "mask": "soft"}, "mask='soft' is not one of 'ratio', 'binary'"),
    ({"dictionary": "d.npz", "keep": "0-99"}, "component index 99 is out of range; this dictionary has 10 components"),
    ({"dictionary": "d.npz", "keep": [-1]}, "component index -1 is out of range"),
    ({"dictionary": "d.npz", "keep": "kick"}, "'kick' is not a component index, range or label \\(labels in this dictionary: heart\\)"),
    ({"dictionary": "d.npz", "keep": True}, "keep must be indices, ranges or labels"),
    ({"dictionary": "d.npz", "keep": "0", "chain": ["reverb", "nmf"]}, "no processor is registered as 'reverb'"),
    ({"dictionary": "d.npz", "keep": "0", "chain": ["os.system", "nmf"]}, "never import paths"),
    ({"dictionary": "d.npz", "keep": "0", "chain": ["gain"]}, "must contain the separator 'nmf' exactly once \\(it has 0\\)"),
    ({"dictionary": "d.npz", "keep": "0", "chain": ["nmf", "nmf"]}, "exactly once \\(it has 2\\)"),
    ({"dictionary": "d.npz", "keep": "0", "chain": [{"gain": {"volume": 2}}, "nmf"]}, "chain entry 1 \\(gain\\): unknown parameter 'volume'"),
    ({"dictionary": "d.npz", "keep": "0", "chain": [{"nmf": {"iterations": 3}}]}, "'nmf' chain entry takes no parameters"),
    ({"dictionary": "d.npz", "keep": "0", "chain": "gain"}, "chain must be a list of processors"),
    ({"dictionary": "d.npz", "keep": "0", "version": 7}, "version 7 is not supported"),
    ({"dictionary": 5, "keep": "0"}, "dictionary must be a file name"),
    (["dictionary", "keep"], "must be a mapping of keys"),
]


@pytest.mark.parametrize("data, message", BAD_PRESETS)
def test_validation_errors_name_the_key_and_the_fix(dictionary_file, data, message):
    path = write_preset(dictionary_file.parent, "bad", data)
    with pytest.raises(PresetError, match=message):
        load_preset(path)


def test_yaml_syntax_error_gives_the_line(dictionary_file):
    path = write_preset(dictionary_file.parent, "broken", "dictionary: d.npz\nkeep: [0, 1\nmask: ratio\n")
    with pytest.raises(PresetError, match="not valid YAML at line 3"):
        load_preset(path)


def test_missing_dictionary_is_reported_with_its_resolved_path(tmp_path):
    path = write_preset(tmp_path, "lost", {"dictionary": "gone/d.npz", "keep": "0"})
    with pytest.raises(DictionaryError, match=f"{tmp_path}/gone/d.npz' does not exist"):
        load_preset(path)


def test_yaml_is_loaded_safely(dictionary_file):
    path = write_preset(dictionary_file.parent, "evil", "dictionary: d.npz\nkeep: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(PresetError, match="not valid YAML"):
        load_preset(path)


def test_lookup_by_path_then_user_folder_then_bundled(dictionary_file, isolated_user_presets, tmp_path):
    # bundled presets are found by name
    assert find_preset("heartbeat") == bundled_preset_dir() / "heartbeat.yaml"
    # a user preset of the same name overrides the bundled one
    user = isolated_user_presets
    assert user_preset_dir() == user
    (user / "d.npz").write_bytes(dictionary_file.read_bytes())
    write_preset(user, "heartbeat", {"dictionary": "d.npz", "keep": "0", "description": "mine"})
    assert find_preset("heartbeat") == user / "heartbeat.yaml"
    assert load_preset("heartbeat").description == "mine"
    entries = {(e.name, e.source): e for e in list_presets()}
    assert entries[("heartbeat", "bundled")].shadowed and not entries[("heartbeat", "user")].shadowed
    # a path is a path
    other = write_preset(tmp_path, "elsewhere", {"dictionary": str(dictionary_file), "keep": "1"})
    assert find_preset(str(other)) == other
    with pytest.raises(PresetError, match="preset file 'nope/x.yaml' does not exist"):
        find_preset("nope/x.yaml")
    with pytest.raises(PresetError, match="no preset named 'nothing'; available: .*heartbeat"):
        find_preset("nothing")
    with pytest.raises(PresetError, match="may use only letters"):
        find_preset("bad name!")


def test_new_preset_copies_the_dictionary_into_the_user_folder(dictionary_file, isolated_user_presets):
    preset = new_preset("mine", dictionary_file, "heart", description="two heart components")
    assert preset.path == isolated_user_presets / "mine.yaml"
    copy = preset.dictionary_path  # content-addressed: mine.<16 hex digits of its SHA-256>.npz
    assert copy.parent == isolated_user_presets and copy.name.startswith("mine.") and len(copy.name) == len("mine..npz") + 16
    assert copy.read_bytes() == dictionary_file.read_bytes()
    dictionary_file.unlink()  # the preset keeps working without the original
    assert load_preset("mine").keep_indices == [0, 1]


def test_new_preset_refuses_a_bad_selection_and_writes_nothing(dictionary_file, tmp_path):
    with pytest.raises(PresetError, match="component index 40 is out of range"):
        new_preset("x", dictionary_file, "40", output=tmp_path / "x.yaml")
    assert not (tmp_path / "x.yaml").exists()


def test_bundled_presets_work_on_the_demo_recording():
    from realtime_nmf.demo import synthesize_stethoscope

    parts = synthesize_stethoscope()
    half = parts["mixture"].shape[0] // 2
    names = {entry.name for entry in list_presets() if entry.source == "bundled"}
    assert {"heartbeat", "breath"} <= names
    for name, target in (("heartbeat", "heart"), ("breath", "breath")):
        preset = load_preset(name)
        assert preset.description
        y = preset.build()(parts["mixture"], preset.sample_rate)
        before = sdr(parts[target][half:], parts["mixture"][half:])
        after = sdr(parts[target][half:], y[half:])
        assert after > before + 3.0, (name, before, after)
        assert np.isfinite(y).all()


def test_a_preset_knows_its_window_design(small_dictionary, tmp_path):
    """made_for records the latency, so a low-latency dictionary replaced by a symmetric one of the same sizes is caught."""
    low = dataclasses.replace(small_dictionary, window="asymmetric")
    path = low.save(tmp_path / "low.npz")
    preset = Preset(name="low", dictionary_path=path, keep="0-2")
    saved = preset.save(tmp_path / "low.yaml")
    assert "latency_samples: 127" in saved.read_text()
    assert load_preset(saved).latency == 127
    small_dictionary.save(path)  # the same n_fft, hop and components, the Hann window: latency 255
    with pytest.raises(PresetError, match="latency_samples 127"):
        load_preset(saved)


def test_the_bundled_low_latency_preset_keeps_its_latency():
    preset = load_preset("heartbeat-8ms")
    chain = preset.build()
    assert chain.latency == preset.dictionary.latency_samples == 31  # 2 * hop - 1 with hop 16, n_fft 256 kept
    assert preset.dictionary.n_fft == 256 and preset.dictionary.hop_length == 16
    assert preset.keep_indices and all(preset.dictionary.labels[k] == "heart" for k in preset.keep_indices)
