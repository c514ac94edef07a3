"""Dictionary files: round trip, atomic writes, and refusal of bad files."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from realtime_nmf.dictionary import FORMAT_NAME, Dictionary
from realtime_nmf.errors import DictionaryError, OutputError, ParameterError


@pytest.fixture
def dictionary(rng):
    return Dictionary(W=rng.random((129, 6)).astype(np.float32), sample_rate=4000, n_fft=256, hop_length=64, beta=0.5,
                      labels=["heart", "heart", "", "lung", "", "hum"], provenance={"sources": ["a.wav"], "iterations": 3})


def test_round_trip(dictionary, tmp_path):
    path = dictionary.save(tmp_path / "d.npz")
    loaded = Dictionary.load(path)
    np.testing.assert_array_equal(loaded.W, dictionary.W)
    assert loaded.metadata() == dictionary.metadata()
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]  # no temporary file left behind


def test_save_refuses_a_missing_folder(dictionary, tmp_path):
    with pytest.raises(OutputError, match="does not exist; create it first"):
        dictionary.save(tmp_path / "nope" / "d.npz")
    with pytest.raises(ParameterError, match="must end in .npz"):
        dictionary.save(tmp_path / "d.dict")


def test_interrupted_save_leaves_the_old_file(dictionary, tmp_path, monkeypatch):
    path = dictionary.save(tmp_path / "d.npz")
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(KeyboardInterrupt):
        dictionary.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]


def _write_npz(path, **arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def test_refuses_truncated_corrupt_and_foreign_files(dictionary, tmp_path):
    good = dictionary.save(tmp_path / "d.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DictionaryError, match="truncated or corrupt"):
        Dictionary.load(tmp_path / "truncated.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DictionaryError, match="not a realtime_nmf dictionary"):
        Dictionary.load(tmp_path / "text.npz")
    _write_npz(tmp_path / "foreign.npz", weights=np.ones(3))
    with pytest.raises(DictionaryError, match="lacks the arrays 'W' and 'metadata'"):
        Dictionary.load(tmp_path / "foreign.npz")
    _write_npz(tmp_path / "badmeta.npz", W=dictionary.W, metadata=np.array("{not json"))
    with pytest.raises(DictionaryError, match="not valid JSON"):
        Dictionary.load(tmp_path / "badmeta.npz")
    with pytest.raises(DictionaryError, match="does not exist; train one"):
        Dictionary.load(tmp_path / "missing.npz")
    with pytest.raises(DictionaryError, match="is a folder"):
        Dictionary.load(tmp_path)


class _Payload:
    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_refuses_pickle_payload_without_running_it(dictionary, tmp_path):
    marker = tmp_path / "pwned"
    payload = _Payload()
    payload.target = str(marker)
    array = np.empty(1, dtype=object)
    array[0] = payload
    with open(tmp_path / "evil.npz", "wb") as handle:
        np.savez(handle, W=array, metadata=np.array(json.dumps(dictionary.metadata())))
    with pytest.raises(DictionaryError, match="pickled objects"):
        Dictionary.load(tmp_path / "evil.npz")
    assert not marker.exists()
    # also as a plain pickle renamed .npz
    (tmp_path / "plain.npz").write_bytes(pickle.dumps(payload))
    with pytest.raises(DictionaryError):
        Dictionary.load(tmp_path / "plain.npz")
    assert not marker.exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda meta, W: (dict(meta, format_version=99), W), "format version 99"),
        (lambda meta, W: (dict(meta, format="something.else"), W), f"does not name the format '{FORMAT_NAME}'"),
        (lambda meta, W: (meta, np.where(W > 0.5, np.nan, W)), "NaN or infinite"),
        (lambda meta, W: (meta, W - 1.0), "negative values"),
        (lambda meta, W: (dict(meta, n_fft=512), W), "129 rows but n_fft=512 gives 257"),
        (lambda meta, W: (dict(meta, labels=["a"]), W), "1 labels for 6 components"),
        (lambda meta, W: ({k: v for k, v in meta.items() if k != "sample_rate"}, W), "lacks 'sample_rate'"),
        (lambda meta, W: (dict(meta, latency_samples=31), W), "says its latency is 31 samples"),
        (lambda meta, W: (dict(meta, format_version=1, window="asymmetric", hop_length=16), W), "version 1 has no asymmetric"),
    ],
)
def test_refuses_inconsistent_contents(dictionary, tmp_path, change, message):
    meta, W = change(dictionary.metadata(), dictionary.W)
    path = _write_npz(tmp_path / "bad.npz", W=W, metadata=np.array(json.dumps(meta)))
    with pytest.raises(DictionaryError, match=message):
        Dictionary.load(path)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("all", [0, 1, 2, 3, 4, 5]),
        ("0,3,5", [0, 3, 5]),
        ("0-2", [0, 1, 2]),
        ("heart", [0, 1]),
        ("heart, 5", [0, 1, 5]),
        ([4, "1-2", "lung"], [1, 2, 3, 4]),
        (3, [3]),
        ("2,2,2", [2]),
    ],
)
def test_resolve_components(dictionary, spec, expected):
    assert dictionary.resolve_components(spec) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("6", "component index 6 is out of range; this dictionary has 6 components, numbered 0 to 5"),
        ("-1", "component index -1 is out of range"),
        ("3-1", "runs backwards; write it as 1-3"),
        ("kick", "'kick' is not a component index, range or label \\(labels in this dictionary: heart, hum, lung\\)"),
        ("", "is not a component index"),
        ([], "the selection is empty"),
        ([True], "is not a component index"),
    ],
)
def test_resolve_components_errors(dictionary, spec, message):
    with pytest.raises(ParameterError, match=message):
        dictionary.resolve_components(spec)


def test_asymmetric_window_design_round_trips_and_sets_the_latency(rng, tmp_path):
    d = Dictionary(W=rng.random((129, 4)).astype(np.float32), sample_rate=4000, n_fft=256, hop_length=16, window="asymmetric")
    assert d.latency_samples == 31
    loaded = Dictionary.load(d.save(tmp_path / "low.npz"))
    assert loaded.window == "asymmetric" and loaded.hop_length == 16 and loaded.latency_samples == 31
    assert loaded.metadata()["format_version"] == 2 and loaded.metadata()["latency_samples"] == 31
    assert "31 samples = 7.8 ms (algorithmic: asymmetric windows, synthesis over the last 32 samples)" in loaded.summary()


def test_version_1_files_still_load(dictionary, tmp_path):
    meta = {k: v for k, v in dictionary.metadata().items() if k != "latency_samples"}
    path = _write_npz(tmp_path / "old.npz", W=dictionary.W, metadata=np.array(json.dumps(dict(meta, format_version=1))))
    loaded = Dictionary.load(path)
    assert loaded.window == "hann" and loaded.latency_samples == 255
    np.testing.assert_array_equal(loaded.W, dictionary.W)
