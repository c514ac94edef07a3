"""End-to-end tests of the rtnmf command: workflow, real recordings, errors, interruption."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import termios
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from realtime_nmf import defaults
from realtime_nmf.cli import build_parser, main
from realtime_nmf.dictionary import Dictionary
from realtime_nmf.evaluate import sdr, select_components, snr
from realtime_nmf.decompose import component_signals
from realtime_nmf.processors.separator import SEPARATOR_PARAMETERS

from .conftest import ROOT, data_path


def rtnmf(*args, timeout=300, **kwargs):
    """Run the installed-style command in a fresh interpreter; return the completed process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "realtime_nmf", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


@pytest.fixture
def clip(stethoscope, tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, stethoscope["mixture"], 4000, subtype="FLOAT")
    return path


def test_workflow_train_preset_run_info(clip, tmp_path, capsys, isolated_user_presets):
    dictionary_path = tmp_path / "heart.npz"
    assert main(["train", str(clip), "-o", str(dictionary_path), "--components", "8", "--beta", "1", "--iterations", "40"]) == 0
    out = capsys.readouterr().out
    assert "final divergence" in out and str(dictionary_path) in out
    d = Dictionary.load(dictionary_path)
    assert d.n_components == 8 and d.sample_rate == 4000 and d.n_fft == 256 and d.hop_length == 64
    assert d.provenance["sources"] == ["clip.wav"] and d.provenance["iterations"] == 40

    assert main(["preset", "new", "heartbeat", "--dictionary", str(dictionary_path), "--keep", "0,3,5", "--iterations", "12"]) == 0
    assert (isolated_user_presets / "heartbeat.yaml").exists()
    assert main(["presets"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"^heartbeat +user", listing, re.M) and "breath" in listing and "(shadowed by the user preset)" in listing

    output = tmp_path / "heart_only.wav"
    assert main(["run", "--preset", "heartbeat", "--input", str(clip), "--output", str(output), "--block-size", "300"]) == 0
    info = sf.info(str(output))
    assert (info.samplerate, info.channels, info.frames) == (4000, 1, sf.info(str(clip)).frames)
    assert info.subtype == "FLOAT"

    assert main(["info", "heartbeat"]) == 0
    text = capsys.readouterr().out
    assert "keep           3 of 8 components: 0, 3, 5" in text and "iterations 12" in text and "63.8 ms" in text
    assert main(["info", str(dictionary_path)]) == 0
    assert "Kullback-Leibler" in capsys.readouterr().out


def test_run_resamples_and_keeps_channels_and_length(stethoscope, tmp_path):
    import soxr

    stereo = np.stack([stethoscope["mixture"], stethoscope["mixture"][::-1]], axis=1)
    stereo_8k = soxr.resample(stereo, 4000, 8000).astype(np.float32)[:-3]  # an odd length
    path = tmp_path / "in8k.flac"
    sf.write(path, stereo_8k, 8000, subtype="PCM_24")
    out = tmp_path / "out.flac"
    assert main(["run", "--preset", "heartbeat", "--input", str(path), "--output", str(out)]) == 0
    y, sr = sf.read(out, always_2d=True)
    assert sr == 8000 and y.shape == stereo_8k.shape
    assert sf.info(str(out)).subtype == "PCM_24"
    # the heartbeat survives the round trip through 4 kHz and stays time-aligned
    heart_8k = soxr.resample(stethoscope["heart"], 4000, 8000)[: y.shape[0]]
    assert sdr(heart_8k[40000:], y[40000:, 0]) > sdr(heart_8k[40000:], stereo_8k[40000:, 0]) + 3


@pytest.mark.parametrize("triple, training", [(t, []) for t in ("0087", "0111", "0113", "0114", "0116", "0118")]
                         + [("0087", ["--online", "--batch-frames", "512"])])
def test_real_heart_lung_mixture_end_to_end(triple, training, tmp_path):
    """Train (full batch, or online) on one half of an HLS-CMDS mixture, keep the heart components, separate the other half."""
    folder = data_path("hls_cmds", "exact_sum_mix")
    import csv

    gains = {row["triple"]: float(row["gain_g"]) for row in csv.DictReader(open(folder.parent / "ground_truth_mixing.csv")) if row["gain_g"]}
    mixture, sr = sf.read(folder / f"M{triple}.wav", dtype="float32")
    heart = gains[triple] * sf.read(folder / f"H{triple}.wav", dtype="float32")[0]
    half = mixture.shape[0] // 2
    sf.write(tmp_path / "first.wav", mixture[:half], sr, subtype="FLOAT")
    sf.write(tmp_path / "second.wav", mixture[half:], sr, subtype="FLOAT")

    assert main(["train", str(tmp_path / "first.wav"), "-o", str(tmp_path / "d.npz"), "--components", "16", "--beta", "1", *training]) == 0
    # the listener: keep the components that sound like the heart of the first half
    d = Dictionary.load(tmp_path / "d.npz")
    assert np.isfinite(d.W).all() and (not training or d.provenance["method"] == "online")
    keep = select_components(component_signals(d, mixture[:half]), heart[:half])
    assert 0 < len(keep) < d.n_components
    assert main(["preset", "new", "heart", "--dictionary", str(tmp_path / "d.npz"), "--keep", ",".join(map(str, keep)),
                 "-o", str(tmp_path / "heart.yaml")]) == 0
    assert main(["run", "--preset", str(tmp_path / "heart.yaml"), "--input", str(tmp_path / "second.wav"),
                 "--output", str(tmp_path / "out.wav")]) == 0
    estimate, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert estimate.shape == mixture[half:].shape
    assert sdr(heart[half:], estimate) > sdr(heart[half:], mixture[half:])


ERRORS = [
    (["train", "missing.wav", "-o", "d.npz"], "audio file 'missing.wav' does not exist"),
    (["train", "{clip}", "-o", "d.npz", "--components", "0"], "components=0 must be at least 1"),
    (["train", "{clip}", "-o", "d.npz", "--beta", "-1"], "beta=-1.0 must be a number >= 0"),
    (["train", "{clip}", "-o", "d.npz", "--n-fft", "256", "--hop-length", "512"], "hop_length=512 is larger than n_fft=256"),
    (["train", "{clip}", "-o", "nowhere/d.npz", "--iterations", "2"], "the folder 'nowhere' does not exist"),
    (["train", "{text}", "-o", "d.npz"], "cannot read '{text}' as audio"),
    (["run", "--preset", "heartbeat", "--input", "{clip}", "--output", "o.wav", "--block-size", "0"], "block_size=0 must be a whole number from 1"),
    (["run", "--preset", "nosuch", "--input", "{clip}", "--output", "o.wav"], "no preset named 'nosuch'; available: breath, heartbeat"),
    (["run", "--preset", "heartbeat", "--input", "{clip}", "--output", "o.xyz"], "cannot tell the audio format from 'o.xyz'"),
    (["run", "--preset", "heartbeat", "--input", "{clip}", "--output", "o.wav", "--duration", "3"], "--duration is for live runs"),
    (["info", "nothing.npz"], "dictionary file 'nothing.npz' does not exist"),
    (["preset", "new", "x", "--dictionary", "{text}", "--keep", "0"], "not a realtime_nmf dictionary"),
]


@pytest.mark.parametrize("args, message", ERRORS)
def test_user_errors_give_one_clear_line_and_no_traceback(args, message, clip, tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    args = [a.format(clip=clip, text=text) for a in args]
    message = message.format(text=text)
    result = rtnmf(*args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("rtnmf: error: ") and message in lines[-1], result.stderr
    assert not (tmp_path / "d.npz").exists() and not (tmp_path / "o.wav").exists()


def test_malformed_arguments_exit_2(tmp_path):
    result = rtnmf("train", cwd=tmp_path)
    assert result.returncode == 2 and "usage:" in result.stderr and "Traceback" not in result.stderr


def test_cli_defaults_match_the_library_defaults():
    parser = build_parser()
    train = parser.parse_args(["train", "x.wav", "-o", "d.npz"])
    assert (train.n_components, train.beta, train.iterations, train.tolerance, train.init, train.seed, train.sparsity) == (
        defaults.N_COMPONENTS, defaults.BETA, defaults.TRAIN_ITERATIONS, defaults.TRAIN_TOLERANCE, defaults.INIT,
        defaults.SEED, defaults.SPARSITY)
    run = parser.parse_args(["run", "--preset", "p"])
    assert run.block_size is None  # file mode then uses defaults.BLOCK_SIZE, live mode lets the host choose
    assert {name: spec.default for name, spec in SEPARATOR_PARAMETERS.items()} == {
        "mask": defaults.MASK, "mask_exponent": defaults.MASK_EXPONENT, "iterations": defaults.SOLVER_ITERATIONS,
        "tolerance": defaults.SOLVER_TOLERANCE, "sparsity": defaults.SPARSITY, "flat_start": defaults.FLAT_START,
        "batch_frames": defaults.BATCH_FRAMES}
    import inspect

    from realtime_nmf.nmf import fit
    from realtime_nmf.training import learn_dictionary

    for function in (fit, learn_dictionary):
        params = inspect.signature(function).parameters
        assert params["n_components"].default == defaults.N_COMPONENTS
        assert params["beta"].default == defaults.BETA
        assert params["iterations"].default == defaults.TRAIN_ITERATIONS


def test_demo_runs_from_scratch(tmp_path):
    result = rtnmf("demo", "-o", tmp_path / "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "SDR" in out and "latency        63.8 ms" in out and "x real time" in out
    line = next(line for line in out.splitlines() if line.strip().startswith("SDR"))
    numbers = [float(token) for token in line.replace("(", " ").replace(")", " ").split() if token[0] in "+-" and token[1:2].isdigit()]
    assert numbers[1] > numbers[0] + 6.0, line
    for name in ("stethoscope_mixture.wav", "heart_only.wav", "stethoscope.npz", "demo-heartbeat.yaml"):
        assert (tmp_path / "demo" / name).exists()
    # the demo's preset runs as is
    again = rtnmf("run", "--preset", tmp_path / "demo" / "demo-heartbeat.yaml", "--input", tmp_path / "demo" / "stethoscope_mixture.wav",
                  "--output", tmp_path / "again.wav", cwd=tmp_path)
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_file_run_leaves_a_valid_file(signum, tmp_path):
    long_input = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(long_input, "w", 4000, 1, "PCM_16") as handle:
        for _ in range(60):  # 30 minutes at 4 kHz
            handle.write((0.1 * rng.standard_normal(120000)).astype(np.float32))
    output = tmp_path / "out.wav"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "realtime_nmf", "run", "--preset", "heartbeat", "--input", str(long_input),
                                "--output", str(output)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    partial = tmp_path / "out.partial.wav"  # what was done, kept apart: the output's name only ever holds a complete file
    assert not output.exists()
    info = sf.info(str(partial))  # a valid, finalised file
    assert 0 < info.frames < 60 * 120000
    data, _ = sf.read(partial)
    assert data.shape[0] == info.frames
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())


def test_interrupted_training_writes_no_dictionary(tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(clip, np.random.default_rng(0).uniform(-0.5, 0.5, 4000 * 600).astype(np.float32), 4000)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    master, slave = pty.openpty()  # the progress bar shows on a terminal: its first divergence says training has begun
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a terminal of no width gets no bar
    process = subprocess.Popen([sys.executable, "-m", "realtime_nmf", "train", str(clip), "-o", str(tmp_path / "d.npz"),
                                "--iterations", "100000", "--tolerance", "0"], stdout=subprocess.PIPE, stderr=slave, text=True, env=env)
    os.close(slave)
    shown = b""
    try:
        deadline = time.time() + 120
        while b"divergence=" not in shown and time.time() < deadline and process.poll() is None:
            if select.select([master], [], [], 0.1)[0]:
                shown += os.read(master, 65536)
        assert b"divergence=" in shown, shown.decode(errors="replace")
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
        while select.select([master], [], [], 0.1)[0]:
            try:
                shown += os.read(master, 65536)
            except OSError:
                break
    finally:
        os.close(master)
    stderr = shown.decode(errors="replace")
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert "interrupted" in stderr
    assert list(tmp_path.iterdir()) == [clip]


def test_importing_the_package_touches_no_audio_device():
    code = "import sys, realtime_nmf, realtime_nmf.cli, realtime_nmf.offline; print('sounddevice' in sys.modules, 'matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_file_mode_works_without_portaudio_and_live_mode_says_what_is_missing(clip, tmp_path):
    blocked = "import sys; sys.modules['sounddevice'] = None; from realtime_nmf.cli import main; sys.exit(main(sys.argv[1:]))"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    file_mode = subprocess.run([sys.executable, "-c", blocked, "run", "--preset", "heartbeat", "--input", str(clip), "--output", str(tmp_path / "o.wav")],
                               capture_output=True, text=True, env=env)
    assert file_mode.returncode == 0, file_mode.stderr
    live = subprocess.run([sys.executable, "-c", blocked, "run", "--preset", "heartbeat", "--allow-feedback"], capture_output=True, text=True, env=env)
    assert live.returncode == 1 and "Traceback" not in live.stderr
    assert "live audio needs the sounddevice package" in live.stderr


def test_devices_without_any_device_is_an_error(monkeypatch, capsys):
    import realtime_nmf.live.devices

    monkeypatch.setattr(realtime_nmf.live, "device_table", lambda: "no audio devices found (no sound card, or no sound server running)")
    assert main(["devices"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("rtnmf: error: no audio devices found") and not captured.out


def test_bundled_presets_work_from_a_non_editable_install(tmp_path):
    """Build and install the package (not editable) into a folder and use a bundled preset from elsewhere."""
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet", "--target", str(target), str(ROOT)],
                           capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.fail(build.stderr)
    code = ("import realtime_nmf.presets as p; d = p.bundled_preset_dir(); print(d); "
            "print(p.load_preset('heartbeat').keep_indices)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(target)))
    assert result.returncode == 0, result.stderr
    folder, keep = result.stdout.splitlines()
    assert Path(folder).is_relative_to(target)
    assert keep.startswith("[")


def test_low_latency_workflow_train_info_preset_run(clip, tmp_path, capsys, isolated_user_presets):
    """rtnmf train --latency-ms: the asymmetric windows end to end; keep-all file mode gives the input back, aligned, exact length."""
    dictionary_path = tmp_path / "low.npz"
    assert main(["train", str(clip), "-o", str(dictionary_path), "--components", "8", "--iterations", "30", "--latency-ms", "8"]) == 0
    out = capsys.readouterr().out
    assert "latency 31 samples = 7.75 ms (asymmetric windows, synthesis over the last 32 samples)" in out
    d = Dictionary.load(dictionary_path)
    assert (d.n_fft, d.hop_length, d.window, d.latency_samples) == (256, 16, "asymmetric", 31)
    assert main(["info", str(dictionary_path)]) == 0
    assert "latency        31 samples = 7.8 ms (algorithmic: asymmetric windows" in capsys.readouterr().out
    assert main(["preset", "new", "low", "--dictionary", str(dictionary_path), "--keep", "all"]) == 0
    assert main(["info", "low"]) == 0
    assert "latency        31 samples = 7.8 ms" in capsys.readouterr().out
    output = tmp_path / "all.wav"
    assert main(["run", "--preset", "low", "--input", str(clip), "--output", str(output), "--block-size", "333"]) == 0
    x, _ = sf.read(str(clip), dtype="float32")
    y, _ = sf.read(str(output), dtype="float32")
    assert y.shape == x.shape and snr(x, y) > 60.0  # latency compensated: the input itself
    assert main(["train", str(clip), "-o", str(tmp_path / "bad.npz"), "--latency-ms", "8", "--hop-length", "32"]) == 1
    assert "not both" in capsys.readouterr().err
