"""The workflow through the command line: try before saving, never overwrite, parts of files, hints that run, messages."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_nmf.audio import AudioInfo, frames_between, load
from realtime_nmf.dictionary import Dictionary
from realtime_nmf.errors import ParameterError

from .conftest import ROOT
from .test_cli import rtnmf

BUNDLED = ROOT / "presets" / "stethoscope.npz"
SR = 4000


@pytest.fixture
def files(stethoscope, tmp_path):
    """The synthetic recording, its true heart, a few seconds of heart alone, stereo versions; in tmp_path."""
    from realtime_nmf.demo import synthesize_stethoscope

    sf.write(tmp_path / "clip.wav", stethoscope["mixture"], SR, subtype="FLOAT")
    sf.write(tmp_path / "heart.wav", stethoscope["heart"], SR, subtype="FLOAT")
    sf.write(tmp_path / "heart_alone.wav", synthesize_stethoscope(duration=40.0)["heart"][26 * SR : 30 * SR], SR, subtype="FLOAT")
    return tmp_path


def ok(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def refused(result, *parts):
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("rtnmf: error: ") and all(part in line for part in parts), line
    return line


def next_commands(stdout: str) -> list[list[str]]:
    """The commands of the 'next:' and 'then' hints, as argument lists for python -m realtime_nmf."""
    commands = []
    for line in stdout.splitlines():
        if line.startswith(("next: ", "then")) and "rtnmf " in line:
            command = shlex.split(line.split("rtnmf ", 1)[1].split("   (")[0])
            commands.append(command)
    return commands


# --------------------------------------------------------------------------------------
# never replace without --force


def test_nothing_existing_is_replaced_without_force(files, isolated_user_presets):
    d = files / "d.npz"
    ok(rtnmf("train", "clip.wav", "-o", d, "--iterations", "5", cwd=files))
    before = d.read_bytes()
    refused(rtnmf("train", "clip.wav", "-o", d, "--iterations", "5", cwd=files), f"{str(d)!r} already exists", "give --force")
    assert d.read_bytes() == before
    ok(rtnmf("train", "clip.wav", "-o", d, "--iterations", "6", "--force", cwd=files))
    assert Dictionary.load(d).provenance["iterations"] == 6

    ok(rtnmf("preset", "new", "p", "--dictionary", d, "--keep", "1", cwd=files))
    preset = isolated_user_presets / "p.yaml"
    text = preset.read_text()
    refused(rtnmf("preset", "new", "p", "--dictionary", d, "--keep", "2", cwd=files), str(preset), "--force")
    assert preset.read_text() == text
    ok(rtnmf("preset", "new", "p", "--dictionary", d, "--keep", "2", "--force", cwd=files))
    refused(rtnmf("preset", "new", "q", "--dictionary", d, "--keep", "2", "-o", files / "heart.wav", cwd=files), "heart.wav", "--force")

    (files / "out.wav").write_bytes(b"the user's earlier output")
    for extra in ((), ("--keep", "1")):
        refused(rtnmf("run", "--preset", "p", *extra, "--input", "clip.wav", "--output", "out.wav", cwd=files), "'out.wav' already exists")
    assert (files / "out.wav").read_bytes() == b"the user's earlier output"
    ok(rtnmf("run", "--preset", "p", "--input", "clip.wav", "--output", "out.wav", "--force", cwd=files))
    # live recordings are checked before any device is opened
    for flag in ("--record", "--record-input", "--output"):
        refused(rtnmf("run", "--preset", "p", flag, "heart.wav", "--duration", "1", cwd=files), "'heart.wav' already exists", "--force")

    folder = files / "aud"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    # the user's own files: refused, --force or not (an audition never writes among them)
    for extra in ((), ("--force",)):
        refused(rtnmf("audition", d, "clip.wav", "-o", folder, *extra, cwd=files), "holds files that rtnmf audition did not write (notes.txt)")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    # an earlier audition: replaced only with --force
    ok(rtnmf("audition", d, "clip.wav", "-o", "aud2", cwd=files))
    refused(rtnmf("audition", d, "clip.wav", "-o", "aud2", cwd=files), "holds an earlier audition", "--force")
    ok(rtnmf("audition", d, "clip.wav", "-o", "aud2", "--force", cwd=files))


# --------------------------------------------------------------------------------------
# try before saving


def test_run_keep_and_settings_equal_the_preset_that_saves_them(files, isolated_user_presets):
    over_preset = ["run", "--preset", "heartbeat", "--keep", "1", "--iterations", "20", "--mask", "binary"]
    direct = ["run", "--dictionary", str(BUNDLED), "--keep", "1", "--iterations", "20", "--mask", "binary"]
    for number, tried in enumerate((over_preset, direct)):
        result = ok(rtnmf(*tried, "--input", "clip.wav", "--output", f"tried{number}.wav", cwd=files))
        [command] = next_commands(result.stdout)
        assert command[:2] == ["preset", "new"] and command[command.index("--keep") + 1] == "1"
        assert command[command.index("--iterations") + 1] == "20" and command[command.index("--mask") + 1] == "binary"
        ok(rtnmf(*command, "-o", f"saved{number}.yaml", cwd=files))  # the hint saves what was heard
        ok(rtnmf("run", "--preset", f"saved{number}.yaml", "--input", "clip.wav", "--output", f"saved{number}.wav", cwd=files))
        assert np.array_equal(sf.read(files / f"tried{number}.wav")[0], sf.read(files / f"saved{number}.wav")[0])
    # over a preset, its other settings stay (the bundled heartbeat's batches of 16 frames)
    assert sf.read(files / "tried0.wav")[0].shape == sf.read(files / "tried1.wav")[0].shape


@pytest.mark.parametrize("args, message", [
    (["run", "--dictionary", str(BUNDLED), "--input", "clip.wav", "--output", "o.wav"], "--dictionary needs --keep SPEC"),
    (["run", "--input", "clip.wav", "--output", "o.wav"], "give a preset (--preset NAME"),
    (["run", "--preset", "heartbeat", "--dictionary", str(BUNDLED), "--keep", "1"], "give either --preset or --dictionary"),
    (["run", "--preset", "heartbeat", "--preset", "breath", "--keep", "1"], "give it with a single --preset"),
    (["run", "--preset", "heartbeat", "--keep", "16", "--input", "clip.wav", "--output", "o.wav"], "component index 16 is out of range"),
    (["run", "--preset", "heartbeat", "--start", "3"], "--start and --end choose a part of --input FILE"),
    (["run", "--preset", str(BUNDLED), "--input", "clip.wav", "--output", "o.wav"], "is a dictionary, not a preset"),
    (["preset", "new", "x", "--dictionary", "heart.wav", "--keep", "0"], "it is a WAV file (audio); a dictionary is learned from audio"),
    (["train", "clip.wav", "-o", "d.npz", "--sr", "3"], "sample_rate=3 Hz is too low for audio"),
    (["run", "--preset", "heartbeat", "--input", "clip.wav", "--output", "o.mp4"], "end the name in .wav, .flac, .ogg or .mp3"),
    (["train", "clip.wav", "-o", "d.npz", "--start", "25"], "--start 25 is at or past the end of 'clip.wav', which lasts 20.00 s"),
    (["audition", str(BUNDLED), "clip.wav", "-o", "a", "--sort", "reference"], "--sort reference needs --reference"),
    (["evaluate", "--reference", "heart.wav", "--estimate", "clip.wav", "--start", "5", "--end", "4"], "--end 4 must be after --start 5"),
])
def test_messages_name_the_real_problem(files, args, message):
    refused(rtnmf(*args, cwd=files), message)
    assert not (files / "o.wav").exists() and not (files / "d.npz").exists()


# --------------------------------------------------------------------------------------
# parts of files


def test_start_and_end_equal_a_trimmed_file(files):
    y = sf.read(files / "clip.wav", dtype="float32")[0]
    sf.write(files / "part.wav", y[2 * SR : 9 * SR], SR, subtype="FLOAT")
    ok(rtnmf("run", "--preset", "heartbeat", "--input", "clip.wav", "--start", "2", "--end", "9", "--output", "a.wav", cwd=files))
    ok(rtnmf("run", "--preset", "heartbeat", "--input", "part.wav", "--output", "b.wav", cwd=files))
    assert np.array_equal(sf.read(files / "a.wav")[0], sf.read(files / "b.wav")[0]) and sf.info(str(files / "a.wav")).frames == 7 * SR

    ok(rtnmf("train", "clip.wav", "--start", "2", "--end", "9", "-o", "ta.npz", "--iterations", "20", cwd=files))
    ok(rtnmf("train", "part.wav", "-o", "tb.npz", "--iterations", "20", cwd=files))
    a, b = Dictionary.load(files / "ta.npz"), Dictionary.load(files / "tb.npz")
    assert np.array_equal(a.W, b.W) and a.provenance["sources"] == ["clip.wav (2 s to 9 s)"]

    ok(rtnmf("audition", BUNDLED, "clip.wav", "--start", "4", "--end", "12", "-o", "aud", cwd=files))
    assert sf.info(str(files / "aud" / "mixture.wav")).frames == 8 * SR
    assert "clip.wav (4 s to 12 s)" in (files / "aud" / "index.html").read_text()


def test_evaluate_start_end_equals_scoring_the_trimmed_files(files):
    ok(rtnmf("run", "--preset", "heartbeat", "--input", "clip.wav", "--output", "est.wav", cwd=files))
    for name in ("heart", "est", "clip"):
        sf.write(files / f"{name}_cut.wav", sf.read(files / f"{name}.wav", dtype="float32")[0][3 * SR : 11 * SR], SR, subtype="FLOAT")
    part = json.loads(ok(rtnmf("evaluate", "--reference", "heart.wav", "--estimate", "est.wav", "--mixture", "clip.wav", "--start", "3",
                               "--end", "11", "--json", cwd=files)).stdout)
    cut = json.loads(ok(rtnmf("evaluate", "--reference", "heart_cut.wav", "--estimate", "est_cut.wav", "--mixture", "clip_cut.wav",
                              "--json", cwd=files)).stdout)
    for key in ("sdr", "si_sdr", "sir", "sar", "sdri", "si_sdri", "n_samples"):
        assert part[key] == pytest.approx(cut[key], abs=1e-6), key


@settings(max_examples=200, deadline=None)
@given(n_samples=st.integers(1, 10**6), rate=st.sampled_from([4000, 22050, 44100]),
       start=st.one_of(st.none(), st.floats(-1, 40), st.just(float("nan"))),
       end=st.one_of(st.none(), st.floats(-1, 40), st.just(float("inf"))))
def test_frames_between_gives_a_valid_part_or_one_clear_error(n_samples, rate, start, end):
    try:
        first, stop = frames_between(n_samples, rate, start, end)
    except ParameterError as exc:
        text = str(exc)
        assert text.startswith(("--start", "--end")) and len(text.splitlines()) == 1
        bad_number = any(v is not None and not (np.isfinite(v) and v >= 0) for v in (start, end))
        assert bad_number or (start is not None and end is not None and end <= start) or round((start or 0) * rate) >= n_samples
        return
    assert 0 <= first < stop <= n_samples
    assert first == (0 if start is None else round(start * rate))
    if end is not None:
        assert stop == max(min(n_samples, round(end * rate)), first + 1)


def test_load_reads_exactly_the_part(files):
    y = sf.read(files / "clip.wav", dtype="float32")[0]
    part, rate = load(files / "clip.wav", start=1.25, end=2.5)
    assert rate == SR and np.array_equal(part, y[5000:10000][:, None])
    info = AudioInfo(str(files / "clip.wav"), SR, 1, y.shape[0], "WAV", "FLOAT")
    assert frames_between(info.n_samples, SR, 1.25, 99) == (5000, y.shape[0])


# --------------------------------------------------------------------------------------
# hints that are real commands, and the whole flow they lead through


def test_every_next_hint_runs_as_printed(files, isolated_user_presets):
    trained = ok(rtnmf("train", "clip.wav", "-o", "song.npz", "--iterations", "40", "--start", "0", "--end", "16", cwd=files))
    [audition_command] = next_commands(trained.stdout)
    assert audition_command[:3] == ["audition", "song.npz", "clip.wav"] and "--start" in audition_command
    audition_command += ["--reference", "heart_alone.wav"]  # the option the hint mentions
    auditioned = ok(rtnmf(*audition_command, cwd=files))
    run_command, preset_command = next_commands(auditioned.stdout)
    assert run_command[0] == "run" and preset_command[:2] == ["preset", "new"]
    ran = ok(rtnmf(*run_command, cwd=files))
    assert next_commands(ran.stdout)[0][:2] == ["preset", "new"]
    saved = ok(rtnmf(*preset_command, cwd=files))
    [live_command] = next_commands(saved.stdout)
    assert live_command[:2] == ["run", "--preset"]
    output = run_command[run_command.index("--output") + 1]
    scores = json.loads(ok(rtnmf("evaluate", "--reference", "heart.wav", "--estimate", output, "--mixture", "clip.wav", "--end", "16",
                                 "--json", cwd=files)).stdout)
    assert scores["sdri"] > 6, scores  # the suggested components are the heart

    labelled = ok(rtnmf("train", "--target", "heart_alone.wav", "clip.wav", "-o", "lab.npz", "--iterations", "20", "--target-label",
                        "heart", cwd=files))
    for command in next_commands(labelled.stdout):
        ok(rtnmf(*command, cwd=files))


def test_a_closed_pipe_ends_quietly(files):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "realtime_nmf", "info", str(BUNDLED)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    process.stdout.close()  # the reader is gone before anything is written, as with '| head -0'
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)
    assert process.returncode == 141 and stderr == ""


# --------------------------------------------------------------------------------------
# evaluate: JSON and channels


def test_evaluate_json_scores_each_channel_of_multichannel_files(files):
    y = sf.read(files / "clip.wav", dtype="float32")[0]
    heart = sf.read(files / "heart.wav", dtype="float32")[0]
    sf.write(files / "mix2.wav", np.stack([y, 0.5 * y[::-1]], axis=1), SR, subtype="FLOAT")
    sf.write(files / "heart2.wav", np.stack([heart, 0.5 * heart[::-1]], axis=1), SR, subtype="FLOAT")
    ok(rtnmf("run", "--preset", "heartbeat", "--input", "mix2.wav", "--output", "est2.wav", cwd=files))
    est = sf.read(files / "est2.wav", dtype="float32")[0]
    result = json.loads(ok(rtnmf("evaluate", "--reference", "heart2.wav", "--estimate", "est2.wav", "--mixture", "mix2.wav", "--json",
                                 cwd=files)).stdout)
    assert len(result["channels"]) == 2 and result["mixture"] == "mix2.wav"
    signals = {"ref": np.stack([heart, 0.5 * heart[::-1]], 1), "est": est, "mix": np.stack([y, 0.5 * y[::-1]], 1)}
    for c, name in enumerate(("left", "right")):
        for prefix, signal in signals.items():
            sf.write(files / f"{prefix}_{name}.wav", signal[:, c], SR, subtype="FLOAT")
        mono = json.loads(ok(rtnmf("evaluate", "--reference", f"ref_{name}.wav", "--estimate", f"est_{name}.wav", "--mixture",
                                   f"mix_{name}.wav", "--json", cwd=files)).stdout)
        for key in ("sdr", "si_sdr", "sir", "sar", "sdri"):
            assert result["channels"][c][key] == pytest.approx(mono[key], abs=1e-6)
    assert result["sdri"] == pytest.approx(np.mean([ch["sdri"] for ch in result["channels"]]))
    text = ok(rtnmf("evaluate", "--reference", "heart2.wav", "--estimate", "est2.wav", "--mixture", "mix2.wav", cwd=files))
    assert "channel 1:" in text.stdout and "channel 2:" in text.stdout and "mean over the 2 channels:" in text.stdout
    assert "scored channel by channel" in text.stderr
    # a silent estimate: strict JSON, null where the score is not finite
    sf.write(files / "silent.wav", np.zeros_like(heart), SR)
    silent = ok(rtnmf("evaluate", "--reference", "heart.wav", "--estimate", "silent.wav", "--json", cwd=files)).stdout
    assert "Infinity" not in silent and json.loads(silent)["sdr"] is None
