"""Saving a selection: into a preset's file with a backup (the library), and with the 's' key of a live run (JACK)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from realtime_nmf.errors import PresetError
from realtime_nmf.presets import Preset, load_preset
from realtime_nmf.selections import preset_for_dictionary, save_selection, with_changes
from realtime_nmf.training import learn_dictionary

from .jack_harness import Terminal, _no_stray_processes, jack_server  # noqa: F401  (fixtures)


@pytest.fixture
def preset_file(small_dictionary, tmp_path):
    path = small_dictionary.save(tmp_path / "d.npz")
    text = "# my heart preset, by hand\n" + Preset(name="mine", dictionary_path=path, keep=[0, 2], settings={"iterations": 12}).to_yaml(
        relative_to=tmp_path)
    (tmp_path / "mine.yaml").write_text(text)
    return tmp_path / "mine.yaml"


def test_save_selection_writes_the_keep_and_backs_up_the_file(preset_file):
    original = preset_file.read_text()
    preset = load_preset(preset_file)
    saved, backup = save_selection(preset, [1, 3, 4])
    assert backup == preset_file.with_name("mine.yaml.bak") and backup.read_text() == original
    again = load_preset(preset_file)
    assert again.keep_indices == [1, 3, 4] and again.settings == preset.settings and saved.keep_indices == [1, 3, 4]
    assert again.dictionary.fingerprint == preset.dictionary.fingerprint
    assert not [p for p in preset_file.parent.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_save_selection_refuses_what_it_must_not_change(preset_file, small_dictionary, tmp_path):
    from .conftest import ROOT as root

    with pytest.raises(PresetError, match="index 99 is out of range"):
        save_selection(load_preset(preset_file), [99])
    assert "keep: [0, 2]" in preset_file.read_text() and not preset_file.with_name("mine.yaml.bak").exists()
    bundled = load_preset(root / "presets" / "heartbeat.yaml")
    with pytest.raises(PresetError, match=r"heartbeat is a bundled preset, which is never changed; .*rtnmf preset new heartbeat-mine "
                                          r"--dictionary .*stethoscope.npz --keep 1"):
        save_selection(bundled, [1])
    adhoc = preset_for_dictionary(tmp_path / "d.npz", "0,1")
    with pytest.raises(PresetError, match="has no preset file to save into; save the selection with: rtnmf preset new d "):
        save_selection(adhoc, [0, 1])


def test_with_changes_validates_and_does_not_save(preset_file):
    preset = load_preset(preset_file)
    changed = with_changes(preset, keep="1-3", settings={"mask": "binary"})
    assert changed.keep_indices == [1, 2, 3] and changed.settings["mask"] == "binary" and changed.settings["iterations"] == 12
    assert load_preset(preset_file).keep_indices == [0, 2]
    with pytest.raises(PresetError, match="mask"):
        with_changes(preset, settings={"mask": "soft"})


@pytest.mark.live
def test_the_s_key_saves_the_live_selection_into_the_preset(jack_server, stethoscope, tmp_path):  # noqa: F811
    from .jack_harness import SR

    y = stethoscope["mixture"][:40000]
    import soxr

    dictionary = learn_dictionary([soxr.resample(y, 4000, SR).astype(np.float32)], SR, n_components=8, iterations=30)
    path = dictionary.save(tmp_path / "p.npz")
    preset = Preset(name="p", dictionary_path=path, keep=[0, 2, 5], settings={"iterations": 10}).save(tmp_path / "p.yaml")
    terminal = Terminal("run", "--preset", str(preset), "--allow-feedback")
    at = terminal.wait_for("keys:")  # the stream runs and the keyboard is read
    terminal.type(b"1\n")
    at = terminal.wait_for("keeping components 0,1,2,5", after=at)
    terminal.type(b"s")
    at = terminal.wait_for("saved keep", after=at)
    terminal.type(b"bq")
    stdout, status = terminal.finish()
    stderr = terminal.shown
    assert status == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert f"saved keep 0,1,2,5 to {preset}" in stdout, stdout
    assert load_preset(preset).keep_indices == [0, 1, 2, 5]
    assert yaml.safe_load(Path(str(preset) + ".bak").read_text())["keep"] == [0, 2, 5]
    assert "reloading" not in stdout  # its own save is not an edit to reload
