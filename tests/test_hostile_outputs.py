"""Nothing a user made is lost: interrupted runs, killed runs, audition folders, output folders checked first.

A finished output appears under its name only when complete; an interrupted run keeps
what it did under ``NAME.partial.EXT`` and never touches an earlier ``NAME.EXT``; a killed
run's hidden temporary file is cleared by the next run to that name; ``audition`` never
deletes or overwrites files it did not write; output folders are checked before the work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from realtime_nmf.presets import bundled_preset_dir

from .hostile import ROOT, assert_cli_error, cli

SR = 4000


@pytest.fixture(scope="module")
def long_input(tmp_path_factory):
    """30 minutes of noise at 4 kHz: long enough to be interrupted."""
    path = tmp_path_factory.mktemp("long") / "long.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", SR, 1, "PCM_16") as handle:
        for _ in range(60):
            handle.write((0.1 * rng.standard_normal(120000)).astype(np.float32))
    return path


def _start_run(input_path, output):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-m", "realtime_nmf", "run", "--preset", "heartbeat", "--input", str(input_path),
                                "--output", str(output), "--force"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(f".{output.name}.") for p in output.parent.iterdir()):
        time.sleep(0.05)
    time.sleep(1.0)  # let it write a few blocks
    return process


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("earlier", [True, False])
def test_an_interrupted_run_never_replaces_a_complete_output(long_input, tmp_path, signum, earlier):
    output = tmp_path / "out.wav"
    if earlier:
        sf.write(output, np.full(SR, 0.25, np.float32), SR)  # the complete result of an earlier run
    before = output.read_bytes() if earlier else None
    process = _start_run(long_input, output)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    partial = tmp_path / "out.partial.wav"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"interrupted: {partial} holds the first ") and lines[-1].endswith(
        f"{output} was left as it was" if earlier else f"nothing was written to {output}"), stderr
    info = sf.info(str(partial))  # valid and finalised
    assert 0 < info.frames < 60 * 120000 and sf.read(partial)[0].shape[0] == info.frames
    if earlier:
        assert output.read_bytes() == before
    else:
        assert not output.exists()
    assert _hidden(tmp_path) == []


def test_a_killed_run_leaves_the_earlier_output_and_the_next_run_clears_its_temporary(long_input, tmp_path, capfd, stethoscope):
    output = tmp_path / "out.wav"
    sf.write(output, np.full(SR, 0.25, np.float32), SR)
    before = output.read_bytes()
    process = _start_run(long_input, output)
    process.kill()
    process.communicate(timeout=60)
    assert output.read_bytes() == before
    assert len(_hidden(tmp_path)) == 1  # what SIGKILL leaves: a hidden temporary file, never the output's name
    short = tmp_path / "short.wav"
    sf.write(short, stethoscope["mixture"][:SR], SR)
    code, _, err = cli(["run", "--preset", "heartbeat", "--input", short, "--output", output, "--force"], capfd)
    assert code == 0, err
    assert _hidden(tmp_path) == [] and sf.info(str(output)).frames == SR


def test_a_temporary_file_of_a_running_writer_is_not_touched(tmp_path, stethoscope, capfd):
    from realtime_nmf.audio import AudioWriter

    output = tmp_path / "out.wav"
    busy = AudioWriter(output, SR, 1)  # another writer, alive, in this process
    short = tmp_path / "short.wav"
    sf.write(short, stethoscope["mixture"][:SR], SR)
    code, _, err = cli(["run", "--preset", "heartbeat", "--input", short, "--output", output], capfd)
    assert code == 0, err
    busy.write(np.zeros((10, 1), np.float32))
    assert busy.finish() == output and sf.info(str(output)).frames == 10


# --------------------------------------------------------------------------------------
# audition folders


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory, stethoscope):
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    sf.write(path, stethoscope["mixture"][: 2 * SR], SR, subtype="FLOAT")
    return path


def test_audition_refuses_a_folder_of_the_users_files(short_clip, tmp_path, capfd):
    folder = tmp_path / "mine"
    folder.mkdir()
    files = {"component_00.wav": b"my own recording", "index.html": b"<html>my page</html>", "notes.txt": b"notes"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    assert_cli_error(["audition", bundled_preset_dir() / "stethoscope.npz", short_clip, "-o", folder], capfd,
                     rf"'{folder}' holds files that rtnmf audition did not write \(component_00\.wav, index\.html, notes\.txt\); "
                     rf"give an empty or new folder, e\.g\. '{folder}/audition'")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files


def test_audition_reuses_its_own_folder_and_keeps_the_users_files_there(short_clip, small_dictionary, tmp_path, capfd):
    import dataclasses

    folder = tmp_path / "new" / "audition"  # made, with its parents
    many = dataclasses.replace(small_dictionary, W=np.tile(small_dictionary.W, (1, 2)), labels=[], provenance={})
    many.save(tmp_path / "twenty.npz")
    small_dictionary.save(tmp_path / "ten.npz")
    code, _, err = cli(["audition", tmp_path / "twenty.npz", short_clip, "-o", folder], capfd)
    assert code == 0, err
    assert (folder / "component_19.wav").exists()
    (folder / "my notes.txt").write_text("the user's own file")
    assert_cli_error(["audition", tmp_path / "ten.npz", short_clip, "-o", folder], capfd, "holds an earlier audition; give --force")
    code, _, err = cli(["audition", tmp_path / "ten.npz", short_clip, "-o", folder, "--force"], capfd)
    assert code == 0, err
    names = {p.name for p in folder.iterdir()}
    assert "component_09.wav" in names and "component_10.wav" not in names and "component_19.wav" not in names
    assert (folder / "my notes.txt").read_text() == "the user's own file"


# --------------------------------------------------------------------------------------
# output folders checked before the work


@pytest.mark.parametrize("output, pattern", [
    ("missing/folder/x.npz", r"the folder '.*missing/folder' does not exist; create it first"),
    ("x.txt", r"dictionary file '.*x\.txt' must end in \.npz"),
    ("adir.npz", r"is a folder; give a file name"),
    ("pipe.npz", r"is a named pipe \(FIFO\); give a file name"),
])
def test_train_checks_its_output_before_training(short_clip, tmp_path, monkeypatch, capfd, output, pattern):
    import realtime_nmf.training as training

    (tmp_path / "adir.npz").mkdir()
    os.mkfifo(tmp_path / "pipe.npz")
    calls = []
    monkeypatch.setattr(training, "train_dictionary", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(training, "train_labelled_dictionary", lambda *a, **k: calls.append(a))
    monkeypatch.chdir(tmp_path)
    assert_cli_error(["train", short_clip, "-o", output], capfd, pattern)
    assert_cli_error(["train", "--target", short_clip, "-o", output], capfd, pattern)
    assert calls == []


def test_run_and_preset_new_check_their_outputs_first(short_clip, small_dictionary, tmp_path, capfd, isolated_user_presets):
    small_dictionary.save(tmp_path / "d.npz")
    assert_cli_error(["run", "--preset", "heartbeat", "--input", short_clip, "--output", tmp_path / "no" / "o.wav"], capfd,
                     "does not exist; create it first")
    assert_cli_error(["preset", "new", "p", "--dictionary", tmp_path / "d.npz", "--keep", "0", "-o", tmp_path / "no" / "p.yaml"], capfd,
                     "does not exist; create it first")
    assert not (tmp_path / "no").exists() and list(isolated_user_presets.iterdir()) == []
