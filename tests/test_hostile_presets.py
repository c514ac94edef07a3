"""Hostile presets: YAML bombs, duplicate keys, huge numbers, odd names and folders, and crossed writers.

A preset is read with a YAML loader that refuses aliases and duplicate keys and bounds
depth, size and number length; every field is checked for type and range with one
message naming the key; names and the preset folder are validated; ``preset new``
writes the dictionary copy (content-addressed) before the preset, under a lock.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_nmf import Dictionary, load_preset, new_preset
from realtime_nmf.errors import DictionaryError, PresetError, RealtimeNMFError
from realtime_nmf.presets import Preset, user_preset_dir

from .hostile import assert_cli_error, assert_one_line_error, cli, rtnmf


@pytest.fixture
def folder(small_dictionary, tmp_path):
    """A folder with the small 10-component dictionary as d.npz (components 0, 1 labelled 'heart')."""
    labelled = dataclasses.replace(small_dictionary, labels=["heart", "heart"] + [""] * (small_dictionary.n_components - 2))
    labelled.save(tmp_path / "d.npz")
    return tmp_path


def write(folder, text, name="p.yaml"):
    path = folder / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


def refused(path, pattern, error=PresetError):
    with pytest.raises(error, match=pattern) as info:
        load_preset(path)
    assert "\n" not in str(info.value)
    return str(info.value)


# --------------------------------------------------------------------------------------
# the YAML loader


def laughs(levels: int = 9) -> str:
    """The "billion laughs": each anchor a list of nine aliases of the one before (9**levels strings)."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_without_expanding(folder):
    refused(write(folder, "made_for: {x: &x 1}\ndictionary: d.npz\nkeep: 0\ndescription: *x\n"),
            r"line 1.*anchors and aliases \(&x, \*x\) are not allowed")
    path = write(folder, laughs() + "dictionary: d.npz\nkeep: 0\ndescription: *a8\n")
    result = rtnmf("info", path, timeout=60, memory_limit=1 << 30)  # a hang or a gigabyte of laughs fails here
    assert_one_line_error(result, "anchors and aliases")
    refused(write(folder, "base: &base {mask: binary}\n<<: *base\ndictionary: d.npz\nkeep: 0\n"), "anchors and aliases")


def test_deep_nesting_is_refused(folder):
    refused(write(folder, "dictionary: d.npz\nkeep: " + "[" * 20_000 + "]" * 20_000 + "\n"), r"nested more than 32 levels deep \(line 2\)")
    refused(write(folder, "dictionary: d.npz\nkeep: 0\ndescription: " + "{a: " * 40 + "1" + "}" * 40 + "\n"), "nested more than 32 levels")


def test_duplicate_keys_are_refused(folder):
    refused(write(folder, "dictionary: d.npz\nkeep: 0\nkeep: 1\n"), r"the key 'keep' appears twice \(line 3\)")
    refused(write(folder, "dictionary: d.npz\nkeep: 0\nmade_for: {n_fft: 256, n_fft: 512}\n"), "the key 'n_fft' appears twice")
    refused(write(folder, "dictionary: d.npz\nkeep: 0\n1: a\n1.0: b\n"), "appears twice")


@pytest.mark.parametrize("text, pattern", [
    ("keep: " + "9" * 5000, r"line 2, column 7: a number of 5000 digits; presets take numbers of at most 30 digits"),
    ("keep: 0\nmade_for: {sample_rate: " + "4" * 5000 + "}", r"a number of 5000 digits"),
    ("keep: 0\niterations: 0x" + "f" * 5000, r"a number of 5000 digits"),
    ("keep: 0\nmask_exponent: 1" + "0" * 5000 + ".0", r"mask_exponent=inf must be finite|a number of 5002 digits"),
    ("keep: " + "9" * 30, r"component index 9+ is out of range"),
    ("keep: '" + "9" * 5000 + "'", r"component index 9{20}\.\.\. is out of range"),
    ("keep: '0-" + "9" * 5000 + "'", r"component index 9{20}\.\.\. is out of range"),
], ids=["keep", "made_for", "hex", "float", "30-digits", "text", "range"])
def test_huge_numbers_are_refused_by_their_length(folder, text, pattern):
    refused(write(folder, "dictionary: d.npz\n" + text + "\n"), pattern)


def test_a_large_file_is_refused_by_its_size(folder):
    refused(write(folder, "dictionary: d.npz\nkeep: 0\ndescription: '" + "x" * (1 << 20) + "'\n"),
            r"is 1\.0 MiB; a preset file is at most 64 KiB")


def test_tags_that_construct_objects_are_refused(folder, tmp_path):
    marker = tmp_path / "pwned"
    refused(write(folder, f"dictionary: d.npz\nkeep: !!python/object/apply:os.system ['touch {marker}']\n"), "not valid YAML")
    assert not marker.exists()
    refused(write(folder, "dictionary: d.npz\nkeep: 0\ndescription: 2024-01-01\n"), r"description must be a text, not datetime.date")
    refused(write(folder, "dictionary: d.npz\nkeep: !!binary aGVsbG8=\n"), r"keep must be indices, ranges or labels .*not b'hello'")
    refused(write(folder, "dictionary: d.npz\nkeep: !!set {0: null}\n"), r"keep must be indices")


@pytest.mark.parametrize("data, pattern", [
    (b"\xff\xfe d\x00i\x00", r"is not UTF-8 text"),
    (b"PK\x03\x04rest of a zip", r"is a zip archive \(a dictionary \.npz\?\), not a preset"),
    ("dictionary: d.npz\nkeep: 0\ndescription: \"\\e[2J\\e[Hgotcha\"\n", r"description must be printable text"),
    ("dictionary: d.npz\nkeep: 0\ndescription: [a]\n", r"description must be a text, not \['a'\]"),
])
def test_odd_contents(folder, data, pattern):
    refused(write(folder, data), pattern)


# --------------------------------------------------------------------------------------
# fields


FIELD_ERRORS = [
    ("keep: '²'", r"keep: '²' is not a component index, range or label"),
    ("keep: '-²'", r"keep: '-²' is not a component index"),
    ("keep: '¹-²'", r"keep: '¹-²' is not a component index"),
    ("keep: 1.5", r"keep must be indices, ranges or labels .* not 1\.5"),
    ("keep: .nan", r"keep must be indices, ranges or labels .* not nan"),
    ("keep: null", r"keep must be indices, ranges or labels .* not None"),
    ("keep: [[0]]", r"keep: \[0\] is not a component index"),
    ("keep: {a: 1}", r"keep must be indices"),
    ("keep: []", r"the selection is empty"),
    ("keep: 0\niterations: 1.0e+400", r"iterations=inf must be a whole number"),
    ("keep: 0\niterations: .nan", r"iterations=nan must be a whole number"),
    ("keep: 0\niterations: 12.5", r"iterations=12\.5 must be a whole number"),
    ("keep: 0\nmask: 5", r"mask=5 must be a text"),
    ("keep: 0\nmask_exponent: x", r"mask_exponent='x' must be a number"),
    ("keep: 0\nmask_exponent: .inf", r"mask_exponent=inf must be finite"),
    ("keep: 0\nbatch_frames: 100000", r"batch_frames=100000 must be at most 256"),
    ("keep: 0\nmade_for: 5", r"made_for must map sample_rate, n_fft, hop_length, .*to whole numbers"),
    ("keep: 0\nmade_for: {sample_rate: x}", r"made_for must map"),
    ("keep: 0\nversion: [1]", r"version \[1\] is not supported"),
    ("keep: 0\nchain: [{highpass: {cutoff: .nan}}, nmf]", r"cutoff=nan must be finite"),
    ("keep: 0\niterations: 1.8446744073709552e+19", r"iterations=18446744073709551616 must be at most 10000"),  # 2**64: past int64
    ("keep: 0\nchain: [{highpass: 5}, nmf]", r"parameters must be a mapping"),
    ("keep: 0\nchain: [{highpass: {}, lowpass: {}}, nmf]", r"chain entry 1 .* must be a processor name"),
    ("keep: 0\nchain: [" + ", ".join(["gain"] * 100) + ", nmf]", r"chain holds 101 processors; at most 64"),
    ("keep: 0\n\"\\e[2Jcolour\": red", r"unknown key '\\x1b\[2Jcolour'"),
]


@pytest.mark.parametrize("text, pattern", FIELD_ERRORS)
def test_fields_are_checked_by_type_and_range(folder, text, pattern):
    refused(write(folder, "dictionary: d.npz\n" + text + "\n"), pattern)


@pytest.mark.parametrize("dictionary, pattern", [
    ('"d\\0.npz"', "contains a NUL character"),
    ("x" * 5000, "is too long"),
    ("~nosuchuser/d.npz", r"'~nosuchuser/d\.npz': there is no user 'nosuchuser'"),
    ("''", "dictionary must be a file name"),
    ("[d.npz]", "dictionary must be a file name"),
])
def test_dictionary_paths_are_checked(folder, dictionary, pattern):
    refused(write(folder, f"dictionary: {dictionary}\nkeep: 0\n"), pattern, error=(PresetError, DictionaryError))


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**25), max_value=10**25) | st.floats() | st.text(max_size=12)
    | st.sampled_from(["0", "0-3", "heart", "all", "²", "ratio", "binary", "nmf", "highpass", "d.npz", "-1", "3-1"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(["cutoff", "db", "nmf", "gain", "x"]), children,
                                                                        max_size=2),
    max_leaves=8,
)
KEYS = ["version", "description", "dictionary", "made_for", "keep", "mask", "mask_exponent", "iterations", "tolerance", "sparsity",
        "flat_start", "batch_frames", "chain", "unknown"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(KEYS), YAML_VALUES, max_size=3), drop=st.lists(st.sampled_from(["dictionary", "keep"]), max_size=1))
def test_any_value_for_any_key_is_an_error_or_a_valid_preset(folder, changes, drop):
    data = {"dictionary": "d.npz", "keep": "0-2"}
    data.update(changes)
    for key in drop:
        data.pop(key, None)
    path = write(folder, yaml.safe_dump(data))
    try:
        preset = load_preset(path)
    except (PresetError, DictionaryError) as exc:
        assert "\n" not in str(exc)
        return
    preset.build().prepare(preset.sample_rate, 1)
    assert preset.keep_indices and preset.summary()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200))
def test_any_text_is_an_error_or_a_valid_preset(folder, text):
    path = write(folder, text.encode("utf-8"))
    try:
        load_preset(path)
    except (PresetError, DictionaryError) as exc:
        assert "\n" not in str(exc)


# --------------------------------------------------------------------------------------
# names and the preset folder


@pytest.mark.parametrize("name", ["nl\n", "a/b", "../up", "..", ".", ".hidden", "-flag", "a\\b", "tab\there", "esc\x1b[2J", "nul\0", "",
                                  "x" * 65, "héart", "con sole", "a:b"])
def test_bad_names_are_refused_and_write_nothing(folder, isolated_user_presets, capfd, name):
    with pytest.raises(PresetError, match=r"preset name .* may use only letters, digits"):
        new_preset(name, folder / "d.npz", "0")
    assert list(isolated_user_presets.iterdir()) == []
    if "\0" not in name and name and not name.startswith("-"):  # argparse takes '-flag' for an option
        assert_cli_error(["preset", "new", name, "--dictionary", folder / "d.npz", "--keep", "0"], capfd, "may use only letters")
        assert list(isolated_user_presets.iterdir()) == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=70))
def test_any_name_is_refused_or_gives_exactly_that_file(folder, isolated_user_presets, name):
    before = {path.name for path in isolated_user_presets.iterdir()}
    try:
        preset = new_preset(name, folder / "d.npz", "0")
    except PresetError as exc:
        assert "\n" not in str(exc)
        assert {path.name for path in isolated_user_presets.iterdir()} == before
        return
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", name) and not name.endswith(".")
    assert preset.path == isolated_user_presets / f"{name}.yaml"
    assert load_preset(name).keep_indices == [0]


@pytest.mark.parametrize("value, pattern", [
    ("~nosuchuser/x", r"RTNMF_PRESET_DIR='~nosuchuser/x' cannot be used: there is no user 'nosuchuser'"),
    ("{file}", r"RTNMF_PRESET_DIR='.*' is a file, not a folder"),
    ("{fifo}", r"RTNMF_PRESET_DIR='.*' is a named pipe \(FIFO\), not a folder"),
])
def test_a_preset_folder_that_cannot_be_used_is_one_clear_error(folder, tmp_path, monkeypatch, capfd, value, pattern):
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    value = value.format(file=tmp_path / "file", fifo=tmp_path / "fifo")
    monkeypatch.setenv("RTNMF_PRESET_DIR", value)
    with pytest.raises(PresetError, match=pattern):
        user_preset_dir()
    for args in (["presets"], ["run", "--preset", "heartbeat", "--input", "x.wav", "--output", tmp_path / "o.wav"],
                 ["preset", "new", "p", "--dictionary", folder / "d.npz", "--keep", "0"], ["info", "heartbeat"]):
        assert_cli_error(args, capfd, pattern)
    result = rtnmf("presets", env={"RTNMF_PRESET_DIR": value}, cwd=tmp_path)
    assert_one_line_error(result, pattern)
    assert not (tmp_path / "~nosuchuser").exists()


def test_preset_files_that_are_not_regular_files(folder, tmp_path, capfd):
    os.mkfifo(tmp_path / "pipe.yaml")
    refused(tmp_path / "pipe.yaml", r"is a named pipe \(FIFO\), not a preset file")
    result = rtnmf("info", tmp_path / "pipe.yaml", timeout=60)
    assert_one_line_error(result, "named pipe")
    refused("/dev/zero", r"'/dev/zero' is a character device, not a preset file")
    (tmp_path / "dir.yaml").mkdir()
    refused(tmp_path / "dir.yaml", r"is a folder, not a preset file")


# --------------------------------------------------------------------------------------
# preset new as one transaction


@pytest.fixture
def two_dictionaries(small_dictionary, tmp_path):
    """Two different dictionaries: A (10 components) and B (12 components)."""
    a = small_dictionary.save(tmp_path / "a.npz")
    W = np.concatenate([small_dictionary.W, small_dictionary.W[:, :2] * 0.5], axis=1)
    b = dataclasses.replace(small_dictionary, W=W, labels=[""] * 12, provenance={"sources": ["b"]}).save(tmp_path / "b.npz")
    return a, b


def _copy_bytes(preset_name):
    preset = load_preset(preset_name)
    return preset.dictionary_path.read_bytes(), preset


def test_a_failing_preset_new_leaves_the_existing_preset_whole(two_dictionaries, isolated_user_presets, capfd):
    a, b = two_dictionaries
    new_preset("p", a, "0-2", description="A")
    before = {path.name: path.read_bytes() for path in isolated_user_presets.iterdir()}
    for keep in ("99", "11-99", "kick"):
        assert_cli_error(["preset", "new", "p", "--dictionary", b, "--keep", keep, "--force"], capfd, "is not a component index|out of range")
    with pytest.raises(PresetError):
        new_preset("p", b, "0", settings={"iterations": -1})
    assert {path.name: path.read_bytes() for path in isolated_user_presets.iterdir()} == before
    data, preset = _copy_bytes("p")
    assert data == a.read_bytes() and preset.description == "A" and preset.dictionary.n_components == 10


def test_the_copy_is_content_addressed_and_old_copies_go(two_dictionaries, isolated_user_presets):
    a, b = two_dictionaries
    first = new_preset("p", a, "0")
    assert re.fullmatch(r"p\.[0-9a-f]{16}\.npz", first.dictionary_path.name)
    assert first.dictionary_path.parent == isolated_user_presets
    again = new_preset("p", a, "1")
    assert again.dictionary_path == first.dictionary_path
    other = new_preset("p", b, "11")
    assert other.dictionary_path != first.dictionary_path and not first.dictionary_path.exists()
    assert sorted(path.name for path in isolated_user_presets.iterdir()) == sorted(["p.yaml", other.dictionary_path.name, ".lock"])
    # a file the user put in the folder is never removed
    (isolated_user_presets / "p.npz").write_bytes(a.read_bytes())
    (isolated_user_presets / "notes.txt").write_text("mine")
    new_preset("p", a, "0")
    assert (isolated_user_presets / "p.npz").exists() and (isolated_user_presets / "notes.txt").exists()
    # the user folder's dictionary copy itself can be given
    new_preset("q", load_preset("p").dictionary_path, "0")
    assert load_preset("p").keep_indices == [0] and load_preset("q").keep_indices == [0]


def test_two_writers_of_one_name_never_cross(two_dictionaries, isolated_user_presets, monkeypatch):
    """Writer A is slowed down between its dictionary copy and its preset; B runs in between."""
    a, b = two_dictionaries
    real_save = Preset.save
    a_copied, b_done = threading.Event(), threading.Event()

    def slow_save(self, path):
        if self.description == "A":
            a_copied.set()
            b_done.wait(2)  # with the lock, B cannot finish while A holds it: the wait times out
        return real_save(self, path)

    monkeypatch.setattr(Preset, "save", slow_save)
    errors = []

    def writer(dictionary, description, keep):
        try:
            new_preset("p", dictionary, keep, description=description)
        except RealtimeNMFError as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            if description == "B":
                b_done.set()

    thread_a = threading.Thread(target=writer, args=(a, "A", "0-9"))
    thread_a.start()
    assert a_copied.wait(30)
    thread_b = threading.Thread(target=writer, args=(b, "B", "10-11"))
    thread_b.start()
    thread_a.join(60)
    thread_b.join(60)
    assert not errors
    data, preset = _copy_bytes("p")
    expected = {"A": a, "B": b}[preset.description]
    assert data == expected.read_bytes()
    assert preset.keep_indices == ([*range(10)] if preset.description == "A" else [10, 11])


def test_concurrent_processes_never_cross(two_dictionaries, isolated_user_presets, tmp_path):
    import subprocess
    import sys

    from .hostile import ROOT

    a, b = two_dictionaries
    env = dict(os.environ, PYTHONPATH=str(ROOT), RTNMF_PRESET_DIR=str(isolated_user_presets), OPENBLAS_NUM_THREADS="1")
    for _ in range(3):
        processes = [subprocess.Popen([sys.executable, "-m", "realtime_nmf", "preset", "new", "p", "--dictionary", str(path), "--keep", keep,
                                       "--description", description, "--force"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for path, keep, description in ((a, "0-9", "A"), (b, "10-11", "B"))]
        for process in processes:
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
        data, preset = _copy_bytes("p")
        assert data == {"A": a, "B": b}[preset.description].read_bytes()
    leftovers = [p.name for p in isolated_user_presets.iterdir() if p.name.startswith(".") and p.name != ".lock"]
    assert leftovers == []


def test_cli_preset_new_checks_before_writing(folder, isolated_user_presets, capfd):
    assert_cli_error(["preset", "new", "p", "--dictionary", folder / "d.npz", "--keep", "0", "--iterations", "-3"], capfd,
                     "iterations=-3 must be at least 0")
    assert list(isolated_user_presets.iterdir()) == []
    code, out, err = cli(["preset", "new", "p", "--dictionary", folder / "d.npz", "--keep", "heart"], capfd)
    assert code == 0, err
    assert Dictionary.load(load_preset("p").dictionary_path).n_components == 10
