"""Bad input and faults: one clear error or a sane result, never a traceback or a broken file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import numpy as np
import pytest
import soundfile as sf

from realtime_nmf import Dictionary, load_preset, process_file, train_dictionary
from realtime_nmf.cli import main
from realtime_nmf.errors import AudioFileError, ExitCode, OutputError, ParameterError, PresetError, RealtimeNMFError

from .conftest import ROOT

SR = 4000


@pytest.fixture
def files(tmp_path, stethoscope):
    """A zoo of audio files, good and bad."""
    x = stethoscope["mixture"][:20000]
    paths = {}
    paths["missing"] = tmp_path / "missing.wav"
    paths["directory"] = tmp_path / "a_folder.wav"
    paths["directory"].mkdir()
    paths["text"] = tmp_path / "notes.wav"
    paths["text"].write_text("these are my notes, not audio\n" * 20)
    paths["empty"] = tmp_path / "empty.wav"
    paths["empty"].write_bytes(b"")
    full = tmp_path / "full.wav"
    sf.write(full, x, SR, subtype="PCM_16")
    data = full.read_bytes()
    paths["truncated"] = tmp_path / "truncated.wav"
    paths["truncated"].write_bytes(data[: len(data) // 2])
    paths["no_samples"] = tmp_path / "no_samples.wav"
    sf.write(paths["no_samples"], np.zeros(0, np.float32), SR)
    nan = x.copy()
    nan[5000:5200] = np.nan
    nan[9000] = np.inf
    paths["nan"] = tmp_path / "nan.wav"
    sf.write(paths["nan"], nan, SR, subtype="FLOAT")
    paths["short"] = tmp_path / "short.wav"
    sf.write(paths["short"], x[:100], SR)
    paths["silent"] = tmp_path / "silent.wav"
    sf.write(paths["silent"], np.zeros(20000, np.float32), SR)
    paths["clipped"] = tmp_path / "clipped.wav"
    sf.write(paths["clipped"], np.clip(8 * x, -1, 1), SR)
    paths["good"] = full
    return paths


def _cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


TRAIN_ERRORS = [
    ("missing", AudioFileError, "does not exist"),
    ("directory", AudioFileError, "is a folder, not an audio file"),
    ("text", AudioFileError, "cannot read .* as audio"),
    ("empty", AudioFileError, "is empty \\(0 bytes\\)"),
    ("truncated", AudioFileError, "is truncated: its header announces"),
    ("no_samples", ParameterError, "is 0 samples \\(0 ms\\) long, shorter than one analysis window; training needs at least n_fft=256"),
    ("nan", ParameterError, "holds 201 NaN or infinite samples"),
    ("short", ParameterError, "is 100 samples \\(25 ms\\) long"),
    ("silent", ParameterError, "silent \\(all zeros\\): there is nothing to learn"),
]


@pytest.mark.parametrize("name, error, message", TRAIN_ERRORS)
def test_training_refuses_bad_audio_through_the_api_and_the_cli(files, tmp_path, capsys, name, error, message):
    with pytest.raises(error, match=message):
        train_dictionary([files[name]], iterations=5)
    code, out, err = _cli(["train", files[name], "-o", tmp_path / "d.npz", "--iterations", "5"], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith("rtnmf: error: ")
    assert not (tmp_path / "d.npz").exists()


@pytest.mark.parametrize("name", ["missing", "directory", "text", "empty", "truncated"])
def test_run_refuses_unreadable_audio(files, tmp_path, capsys, name):
    chain = load_preset("heartbeat").build()
    with pytest.raises(AudioFileError):
        process_file(chain, files[name], tmp_path / "out.wav", processing_rate=SR)
    code, _, err = _cli(["run", "--preset", "heartbeat", "--input", files[name], "--output", tmp_path / "out.wav"], capsys)
    assert code == 1 and err.startswith("rtnmf: error: ") and len(err.strip().splitlines()) == 1
    assert list(tmp_path.glob("out*")) == [] and list(tmp_path.glob(".out*")) == []


@pytest.mark.parametrize("name", ["no_samples", "nan", "short", "silent", "clipped", "good"])
def test_run_gives_a_finite_output_of_the_input_length(files, tmp_path, capsys, name):
    code, out, err = _cli(["run", "--preset", "heartbeat", "--input", files[name], "--output", tmp_path / "out.wav"], capsys)
    assert code == 0, err
    y, sr = sf.read(tmp_path / "out.wav", dtype="float32")
    assert sr == SR and len(y) == sf.info(str(files[name])).frames
    assert np.isfinite(y).all()
    if name == "silent":
        assert not y.any()
    if name == "nan":
        assert "frames held NaN or infinite samples; they were replaced by silence" in err
        clean = np.nan_to_num(sf.read(files[name], dtype="float32")[0], nan=0.0, posinf=0.0, neginf=0.0)
        reference = load_preset("heartbeat").build()(clean, SR)
        # one window after the burst the output is what it would have been with silence there
        np.testing.assert_allclose(y[9000 + 2 * 256 :], reference[9000 + 2 * 256 :], atol=1e-5)


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("rate, subtype, extension", [(4000, "PCM_16", "wav"), (8000, "PCM_24", "flac"), (44100, "PCM_32", "wav"),
                                                      (96000, "FLOAT", "wav"), (22050, "VORBIS", "ogg"), (44100, "MPEG_LAYER_III", "mp3")])
def test_run_reads_and_writes_many_formats(stethoscope, tmp_path, capsys, channels, rate, subtype, extension):
    import soxr

    if extension == "mp3" and channels > 2:
        pytest.skip("MP3 holds at most two channels")
    x = soxr.resample(stethoscope["mixture"][:8000], SR, rate).astype(np.float32)
    x = np.stack([x * (1 - 0.1 * c) for c in range(channels)], axis=1)
    path = tmp_path / f"in.{extension}"
    sf.write(path, x, rate, subtype=subtype)
    frames = sf.info(str(path)).frames
    out = tmp_path / f"out.{extension}"
    code, _, err = _cli(["run", "--preset", "heartbeat", "--input", path, "--output", out], capsys)
    assert code == 0, err
    info = sf.info(str(out))
    assert (info.samplerate, info.channels) == (rate, channels)
    if extension != "mp3":  # MP3 frames pad the length; the decoder reports it
        assert info.frames == frames
    assert np.isfinite(sf.read(out)[0]).all()


def test_preset_refuses_a_dictionary_whose_settings_changed(small_dictionary, tmp_path, capsys):
    small_dictionary.save(tmp_path / "d.npz")
    main(["preset", "new", "p", "--dictionary", str(tmp_path / "d.npz"), "--keep", "0,1", "-o", str(tmp_path / "p.yaml")])
    import dataclasses

    other = dataclasses.replace(small_dictionary, hop_length=128, provenance={})
    other.save(tmp_path / "d.npz")  # replaced by a dictionary with another hop
    with pytest.raises(PresetError, match="made for a dictionary with hop_length 64, but .* has hop_length 128"):
        load_preset(tmp_path / "p.yaml")
    code, _, err = _cli(["info", tmp_path / "p.yaml"], capsys)
    assert code == 1 and "was the dictionary file replaced?" in err


@pytest.mark.parametrize(
    "text, message",
    [
        ("dictionary: d.npz\nkeep: [0, 1\n", "not valid YAML at line 3"),
        ("dictionary: d.npz\nkeep: 0\nchain: [reverb, nmf]\n", "no processor is registered as 'reverb'"),
        ("dictionary: d.npz\nkeep: 0\nchain: ['os:system', nmf]\n", "never import paths"),
        ("dictionary: d.npz\nkeep: 42\n", "component index 42 is out of range"),
        ("dictionary: d.npz\nkeep: -3\n", "component index -3 is out of range"),
        ("dictionary: d.npz\nkeep: hiss\n", "'hiss' is not a component index, range or label"),
        ("dictionary: d.npz\nkeep: 0\niterations: lots\n", "iterations='lots' must be a whole number"),
        ("dictionary: d.npz\nkeep: 0\ncolour: red\n", "unknown key 'colour'"),
        ("dictionary: gone.npz\nkeep: 0\n", "gone.npz' does not exist"),
    ],
)
def test_bad_presets_give_one_line_through_the_cli(small_dictionary, tmp_path, capsys, text, message):
    small_dictionary.save(tmp_path / "d.npz")
    (tmp_path / "p.yaml").write_text(text)
    code, _, err = _cli(["run", "--preset", tmp_path / "p.yaml", "--input", "whatever.wav", "--output", tmp_path / "o.wav"], capsys)
    assert code == 1 and re.search(message, err), err
    assert len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------
# faults while writing


def test_disk_full_while_writing_leaves_no_file(files, tmp_path, monkeypatch):
    before = files["good"].read_bytes()
    real_write = sf.SoundFile.write
    calls = {"n": 0}

    def failing_write(self, data):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", failing_write)
    with pytest.raises(OutputError, match="disk full"):
        process_file(load_preset("heartbeat").build(), files["good"], tmp_path / "out.wav", processing_rate=SR, block_size=1000)
    assert not (tmp_path / "out.wav").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.wav")]
    assert files["good"].read_bytes() == before


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs (needs root and permission to mount; skipped otherwise)."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up ({result.stderr.strip() or 'mount failed'})")
    yield mount
    subprocess.run(["umount", str(mount)], capture_output=True)


def test_disk_full_through_the_cli(files, small_disk, capsys):
    (small_disk / "filler").write_bytes(b"\0" * (56 * 1024))  # leave about 8 KiB
    code, _, err = _cli(["run", "--preset", "heartbeat", "--input", files["good"], "--output", small_disk / "out.wav"], capsys)
    assert code == ExitCode.RECORDING_FAILED and "rtnmf: error: cannot" in err and "disk full" in err and len(err.strip().splitlines()) == 1, err
    code, _, err = _cli(["train", files["good"], "-o", small_disk / "d.npz", "--iterations", "2", "--components", "32"], capsys)
    assert code == ExitCode.RECORDING_FAILED and "rtnmf: error: cannot write" in err, err
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]  # nothing half-written left behind


def test_a_file_run_that_runs_out_of_space_exits_4_and_leaves_no_file(stethoscope, tmp_path):
    """The file size limit stands in for a full disk (no mount needed): status 4, not the user-error 1, and nothing half-written."""
    import resource

    source = tmp_path / "in.wav"
    sf.write(source, np.tile(stethoscope["mixture"], 3), 4000, subtype="FLOAT")  # 60 s, 960 kB
    limit = 200_000

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # writes beyond fail with EFBIG (Python ignores SIGXFSZ)

    before = source.read_bytes()
    result = subprocess.run([sys.executable, "-m", "realtime_nmf", "run", "--preset", "heartbeat", "--input", str(source), "--output",
                             str(tmp_path / "out.wav")], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            preexec_fn=small_disk)
    assert result.returncode == ExitCode.RECORDING_FAILED, result.stderr
    assert "Traceback" not in result.stderr and "rtnmf: error: cannot write" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"] and source.read_bytes() == before


def test_read_only_folder_is_a_clear_error(files, tmp_path, capsys):
    mount = tmp_path / "ro"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)], capture_output=True, text=True)
    if result.returncode != 0:
        if os.access(mount, os.W_OK) and os.geteuid() == 0:
            pytest.skip("cannot make a read-only folder here (root ignores permissions and mounting is not allowed)")
        os.chmod(mount, 0o500)
    try:
        code, _, err = _cli(["run", "--preset", "heartbeat", "--input", files["good"], "--output", mount / "out.wav"], capsys)
        assert code == 1 and "rtnmf: error: cannot write" in err, err
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_every_error_the_cli_reports_is_a_project_error():
    for cls in (AudioFileError, OutputError, ParameterError, PresetError):
        assert issubclass(cls, RealtimeNMFError)
    assert issubclass(ParameterError, ValueError) and issubclass(AudioFileError, OSError)
    assert Dictionary  # the API raises these same types (see the tests above)
