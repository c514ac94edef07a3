"""Hostile dictionary files: bombs, lying archives, wrong types, devices and odd paths.

Every case ends in one :class:`DictionaryError` naming the file and what is wrong (or in a
valid dictionary), never in a traceback, a hang or an allocation of what the file claims.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_nmf import Dictionary
from realtime_nmf.errors import DictionaryError, ParameterError

from .hostile import (assert_cli_error, assert_one_line_error, deflated, dictionary_npz, metadata_text, npy_bytes, npy_header, raw_zip,
                      rtnmf, stored, zeros_deflated)

SR = 4000


@pytest.fixture
def good(rng):
    return Dictionary(W=rng.random((129, 6)).astype(np.float32), sample_rate=SR, n_fft=256, hop_length=64, beta=0.5,
                      labels=["heart", "heart", "", "lung", "", "hum"], provenance={"sources": ["a.wav"], "iterations": 3})


def meta_member(dictionary, **changes) -> dict:
    return stored("metadata.npy", npy_bytes(np.array(metadata_text(dictionary, **changes))))


def refused(path, pattern):
    with pytest.raises(DictionaryError, match=pattern) as info:
        Dictionary.load(path)
    assert "\n" not in str(info.value)
    return str(info.value)


# --------------------------------------------------------------------------------------
# resource exhaustion: sizes checked before anything is inflated or allocated


def test_a_declared_two_gib_member_is_refused_before_inflating(good, tmp_path):
    header = npy_header((32769, 16384))
    bomb = {"name": "W.npy", "data": zeros_deflated(1 << 20, prefix=header), "method": 8, "size": len(header) + 32769 * 16384 * 4}
    path = raw_zip(tmp_path / "bomb.npz", [bomb, meta_member(good)])
    assert path.stat().st_size < 10_000
    refused(path, r"'W.npy' would inflate to 2\.0 GiB; a dictionary's W is at most 256 MiB")


@pytest.fixture(scope="module")
def honest_bomb(tmp_path_factory):
    """1.2 MB that really inflates to 268 MB: a W of 2048 components at n_fft 65536 (float32)."""
    header = npy_header((32769, 2048))
    size = 32769 * 2048 * 4
    good = Dictionary(W=np.ones((129, 2), np.float32), sample_rate=SR, n_fft=256, hop_length=64)
    meta = json.loads(metadata_text(good))
    meta.update(n_fft=65536, hop_length=16384, labels=[])
    entry = {"name": "W.npy", "data": zeros_deflated(size, prefix=header), "method": 8, "size": len(header) + size}
    path = raw_zip(tmp_path_factory.mktemp("bomb") / "honest.npz", [entry, stored("metadata.npy", npy_bytes(np.array(json.dumps(meta))))])
    assert path.stat().st_size < 2_000_000
    return path


def test_a_real_bomb_is_refused_by_its_shape_without_inflating(honest_bomb):
    refused(honest_bomb, r"W has 2048 components; a dictionary holds at most 1024")
    # in a fresh interpreter limited to 400 MB of address space: it could not even inflate the 268 MB
    result = rtnmf("info", honest_bomb, memory_limit=400 << 20)
    assert_one_line_error(result, "at most 1024")


def test_a_member_that_inflates_to_more_than_it_declares_is_cut_and_refused(good, tmp_path):
    honest = npy_bytes(good.W)
    lying = {"name": "W.npy", "data": zeros_deflated(272 << 20, prefix=honest[:128]), "method": 8, "size": len(honest)}
    path = raw_zip(tmp_path / "liar.npz", [lying, meta_member(good)])
    refused(path, r"'W.npy' is corrupt \(its checksum does not match\)|truncated or corrupt")
    result = rtnmf("info", path, memory_limit=400 << 20)
    assert_one_line_error(result, "corrupt")


def test_a_header_claiming_128_gib_is_refused_before_allocating(good, tmp_path):
    header = npy_header((32769, 1 << 20))
    path = raw_zip(tmp_path / "claim.npz", [stored("W.npy", header + bytes(64)), meta_member(good)])
    refused(path, r"W has 1048576 components; a dictionary holds at most 1024")
    header = npy_header((32769, 1024), "<f8")  # within the limits, but the member holds 64 bytes of it
    path = raw_zip(tmp_path / "short.npz", [stored("W.npy", header + bytes(64)), meta_member(good)])
    refused(path, r"W announces 256 MiB .* but 'W\.npy' holds 64 bytes")


@pytest.mark.parametrize("shape, dtype, message", [
    ((129, 6), "|O", "holds Python objects"),
    ((129, 6), "<c8", "W has dtype complex64; expected float32 or float64"),
    ((129, 6), "<i4", "W has dtype int32; expected float32 or float64"),
    ((129, 6), "|b1", "W has dtype bool"),
    ((129 * 6,), "<f4", "W must be 2-D"),
    ((129, 6, 1), "<f4", "W must be 2-D"),
    ((129, 0), "<f4", "W has no components"),
    ((70000, 6), "<f4", "W has 70000 rows; at most 32769"),
])
def test_w_of_the_wrong_kind_is_refused_from_its_header(good, tmp_path, shape, dtype, message):
    count = int(np.prod(shape))
    payload = bytes(count * np.dtype(dtype).itemsize) if dtype != "|O" else b""
    path = raw_zip(tmp_path / "w.npz", [stored("W.npy", npy_header(shape, dtype) + payload), meta_member(good)])
    refused(path, message)


def test_an_archive_with_a_hundred_thousand_members_is_refused_from_its_directory(good, tmp_path):
    entries = [stored(f"x{i}.npy", b"") for i in range(100_000)]
    path = raw_zip(tmp_path / "many.npz", [stored("W.npy", npy_bytes(good.W)), meta_member(good)] + entries)
    refused(path, r"holds 100002 members; a dictionary holds W\.npy and metadata\.npy")


def test_encrypted_and_unknown_compression_are_refused(good, tmp_path):
    encrypted = dict(stored("W.npy", npy_bytes(good.W)), flags=1)
    refused(raw_zip(tmp_path / "enc.npz", [encrypted, meta_member(good)]), "'W.npy' is encrypted")
    odd = dict(stored("W.npy", npy_bytes(good.W)), method=99)
    refused(raw_zip(tmp_path / "odd.npz", [odd, meta_member(good)]), "'W.npy' is compressed with method 99, which")


def test_a_compressed_dictionary_still_loads(good, tmp_path):
    path = raw_zip(tmp_path / "c.npz", [deflated("W.npy", npy_bytes(good.W)), deflated("metadata.npy", npy_bytes(np.array(metadata_text(good))))])
    np.testing.assert_array_equal(Dictionary.load(path).W, good.W)
    path = dictionary_npz(tmp_path / "f64.npz", np.asfortranarray(good.W.astype(">f8")), metadata_text(good))
    np.testing.assert_array_equal(Dictionary.load(path).W, good.W)


def test_an_oversized_file_is_refused_from_its_size(tmp_path):
    path = tmp_path / "huge.npz"
    with open(path, "wb") as handle:
        handle.truncate(300 << 20)  # sparse: no disk used
    refused(path, r"is 300 MiB; a dictionary file is at most \d+ MiB")


def test_metadata_nested_a_hundred_thousand_deep_is_refused(good, tmp_path):
    text = metadata_text(good)[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = dictionary_npz(tmp_path / "deep.npz", good.W, text)
    refused(path, r"metadata is nested more than 16 levels deep")
    deep_provenance = metadata_text(good, provenance={"a": {"b": {"c": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}})
    refused(dictionary_npz(tmp_path / "deep2.npz", good.W, deep_provenance), "nested more than 16 levels deep")


@pytest.mark.parametrize("metadata, message", [
    (np.arange(3), "metadata is not a text"),
    (np.array("x" * ((1 << 20) + 1)), r"metadata is 1048577 characters long; at most 1048576"),
    (np.array(b"{}"), "metadata is not a text"),
    (np.array("[1, 2]"), "metadata is not a JSON object"),
    (np.array('{"format": "realtime_nmf.dictionary", "format_version": 1, "sample_rate": ' + "9" * 5000 + "}"), "not valid JSON"),
])
def test_metadata_of_the_wrong_kind_is_refused(good, tmp_path, metadata, message):
    path = raw_zip(tmp_path / "m.npz", [stored("W.npy", npy_bytes(good.W)), stored("metadata.npy", npy_bytes(metadata))])
    refused(path, message)


# --------------------------------------------------------------------------------------
# values that used to reach Python's conversions raw


BAD_FIELDS = [
    ("sample_rate", math.nan, r"sample_rate=nan must be a whole number of Hz from 1000 to 768000"),
    ("sample_rate", math.inf, r"sample_rate=inf must be a whole number"),
    ("sample_rate", None, r"sample_rate=None must be a whole number"),
    ("sample_rate", "abc", r"sample_rate='abc' must be a whole number"),
    ("sample_rate", 4000.5, r"sample_rate=4000.5 must be a whole number"),
    ("sample_rate", True, r"sample_rate=True must be a whole number"),
    ("sample_rate", 2_000_000_000, r"sample_rate=2000000000 must be a whole number of Hz from 1000 to 768000"),
    ("sample_rate", 10**30, r"sample_rate=1000000000000000000000000000000 must be"),
    ("n_fft", "256", r"n_fft='256' must be a whole number"),
    ("n_fft", 1 << 20, r"n_fft=1048576 is too large; use at most 65536"),
    ("hop_length", [64], r"hop_length=\[64\] must be a whole number"),
    ("window", 5, r"window=5 must be a window name such as 'hann'"),
    ("window", "x" * 10_000, r"window='xxxxxxxx.*' must be a window name"),
    ("beta", "x", r"beta='x' must be a number"),
    ("beta", math.nan, r"beta=nan must be a number >= 0"),
    ("power", "x", r"power='x' must be a number > 0"),
    ("power", None, r"power=None must be a number > 0"),
    ("power", math.inf, r"power=inf must be a number > 0"),
    ("labels", 5, r"labels=5 must be a list of texts"),
    ("labels", [5] * 6, r"label 5 of component 0 must be a text"),
    ("labels", ["heart\x1b[2J"] + [""] * 5, r"label 'heart\\x1b\[2J' of component 0 must start with a letter"),
    ("labels", ["a,b"] + [""] * 5, r"label 'a,b' of component 0 must start with a letter"),
    ("labels", [""] * 7, r"7 labels for 6 components"),
    ("provenance", 5, r"provenance=5 must be a mapping"),
    ("provenance", [], r"provenance=\[\] must be a mapping"),
    ("format_version", "1", r"has dictionary format version '1'"),
]


@pytest.mark.parametrize("field, value, message", BAD_FIELDS)
def test_bad_metadata_fields_are_named(good, tmp_path, field, value, message):
    path = dictionary_npz(tmp_path / "d.npz", good.W, metadata_text(good, **{field: value}))
    text = refused(path, message)
    assert str(path) in text


@pytest.mark.parametrize("provenance", [
    {"sources": 5}, {"sources": [5, None]}, {"duration_seconds": "long"}, {"iterations": "x", "divergence": "y"},
    {"created": 5, "version": [1]}, {"seed": {"a": 1}, "init": 7}, {"duration_seconds": math.nan}, {"sources": ["evil\x1b]0;pwned\x07"]},
])
def test_provenance_of_odd_types_loads_and_prints(good, tmp_path, capfd, provenance):
    """Provenance is informative: odd values are shown, never crash ``rtnmf info``, never reach the terminal raw."""
    from .hostile import cli

    path = dictionary_npz(tmp_path / "d.npz", good.W, metadata_text(good, provenance=provenance))
    assert json.dumps(Dictionary.load(path).provenance) == json.dumps(provenance)
    code, out, err = cli(["info", path], capfd)
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["format", "format_version", "sample_rate", "n_fft", "hop_length", "window", "beta", "power", "labels", "provenance"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=JSON_VALUES, drop=st.booleans())
def test_any_json_value_in_any_field_is_an_error_or_a_valid_dictionary(tmp_path, field, value, drop):
    good = Dictionary(W=np.ones((129, 2), np.float32), sample_rate=SR, n_fft=256, hop_length=64)
    meta = good.metadata()
    if drop:
        meta.pop(field)
    else:
        meta[field] = value
    path = dictionary_npz(tmp_path / "h.npz", good.W, json.dumps(meta))
    try:
        loaded = Dictionary.load(path)
    except DictionaryError as exc:
        assert "\n" not in str(exc)
        return
    loaded.validate()
    assert isinstance(loaded.sample_rate, int) and 1000 <= loaded.sample_rate <= 768000
    assert all(isinstance(label, str) for label in loaded.labels) and isinstance(loaded.provenance, dict)
    assert math.isfinite(loaded.power) and loaded.power > 0
    loaded.summary()


@pytest.mark.parametrize("kwargs, message", [
    (dict(sample_rate=math.nan), "sample_rate=nan must be a whole number"),
    (dict(sample_rate="4000"), "sample_rate='4000' must be a whole number"),
    (dict(power="x"), "power='x' must be a number > 0"),
    (dict(labels=5), "labels=5 must be a list of texts"),
    (dict(provenance=5), "provenance=5 must be a mapping"),
])
def test_the_constructor_validates_the_same_way(kwargs, message):
    base = dict(W=np.ones((129, 2), np.float32), sample_rate=SR, n_fft=256, hop_length=64)
    base.update(kwargs)
    with pytest.raises((DictionaryError, ParameterError), match=message):
        Dictionary(**base)


# --------------------------------------------------------------------------------------
# wrong reasons: what the file is, said as it is


def test_files_that_are_not_archives_are_named_for_what_they_are(good, tmp_path):
    text = tmp_path / "passwd.npz"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    refused(text, r"is not a realtime_nmf dictionary: it is not an \.npz archive \(it looks like text\)")
    npy = tmp_path / "w.npz"
    np.save(npy.with_suffix(".npy"), good.W)
    npy.write_bytes(npy.with_suffix(".npy").read_bytes())
    refused(npy, r"it is a single NumPy array \(\.npy\), not an \.npz archive")
    pickled = tmp_path / "evil.npz"
    pickled.write_bytes(pickle.dumps({"W": 1}))
    refused(pickled, r"it is a Python pickle, which is never loaded \(it could run code\)")
    wav = tmp_path / "clip.npz"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    refused(wav, r"it is a WAV file \(audio\); a dictionary is learned from audio: rtnmf train")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    refused(empty, r"is empty \(0 bytes\)")


@pytest.mark.parametrize("device, kind", [("/dev/zero", "a character device"), ("/dev/null", "a character device")])
def test_devices_are_refused_as_devices(device, kind):
    if not os.path.exists(device):
        pytest.skip(f"{device} missing")
    refused(device, f"'{device}' is {kind}, not a dictionary file")


def test_a_fifo_is_refused_at_once(tmp_path, capfd):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    refused(fifo, r"is a named pipe \(FIFO\), not a dictionary file")
    result = rtnmf("info", fifo, timeout=60)  # a hang would raise TimeoutExpired
    assert_one_line_error(result, "named pipe")


def test_through_a_preset_the_real_reason_is_given(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    text = tmp_path / "passwd"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    for target, reason in (("/dev/zero", "is a character device"), (str(text), "it looks like text"), (str(fifo), "named pipe")):
        preset = tmp_path / "p.yaml"
        preset.write_text(f"dictionary: {target}\nkeep: 0\n")
        result = rtnmf("run", "--preset", preset, "--input", "x.wav", "--output", tmp_path / "o.wav", timeout=60)
        line = assert_one_line_error(result, reason)
        assert "pickle" not in line


@pytest.mark.parametrize("path, message", [
    ("d\0.npz", "contains a NUL character"),
    ("x" * 5000 + ".npz", "is too long"),
    ("a/" * 3000 + "d.npz", "is too long"),
    ("loop.npz", "is a symbolic link loop"),
])
def test_odd_paths_are_one_error(tmp_path, monkeypatch, capfd, path, message):
    monkeypatch.chdir(tmp_path)
    os.symlink("loop.npz", tmp_path / "loop.npz")
    refused(path, message)
    if "\0" not in path:
        assert_cli_error(["info", path], capfd, message)


def test_a_symlink_to_a_device_is_refused(tmp_path):
    link = tmp_path / "d.npz"
    os.symlink("/dev/zero", link)
    refused(link, "is a character device")


def test_the_limits_are_documented():
    from realtime_nmf import dictionary

    text = dictionary.__doc__ + Dictionary.load.__doc__
    for fragment in ("1024 components", "65536", "1000 to 768000 Hz", "1 MiB", "16 levels"):
        assert fragment in text, fragment
    assert (dictionary.MAX_COMPONENTS, dictionary.MAX_N_FFT, dictionary.MIN_SAMPLE_RATE, dictionary.MAX_SAMPLE_RATE) == (1024, 65536, 1000, 768000)
    assert zipfile  # archives are read member by member with zipfile, never with np.load
