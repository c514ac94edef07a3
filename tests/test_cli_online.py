"""End-to-end tests of ``rtnmf train --online``: the options reach the library, the automatic switch, errors, a real recording."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from realtime_nmf import defaults
from realtime_nmf.cli import build_parser, main
from realtime_nmf.cli.train import default_max_memory, memory_size
from realtime_nmf.dictionary import Dictionary
from realtime_nmf.errors import RealtimeNMFError
from realtime_nmf.online_training import full_batch_memory, train_dictionary_online

from .test_cli import rtnmf


@pytest.fixture
def clip(stethoscope, tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, stethoscope["mixture"], 4000, subtype="FLOAT")
    return path


def test_online_cli_passes_its_options_to_the_library_and_saves_a_normal_dictionary(clip, tmp_path, capsys):
    out = tmp_path / "d.npz"
    options = ["--components", "6", "--beta", "1", "--seed", "3", "--batch-frames", "256", "--passes", "2", "--forget", "0.5"]
    assert main(["train", str(clip), "-o", str(out), "--online", *options]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "training online (--online)"
    assert "2 passes, forget 0.5" in printed and f"wrote {out}" in printed
    d = Dictionary.load(out)
    reference = train_dictionary_online([clip], n_components=6, beta=1.0, seed=3, batch_frames=256, passes=2, forget=0.5)
    np.testing.assert_array_equal(d.W, reference.W)
    assert (d.sample_rate, d.n_fft, d.hop_length, d.beta) == (reference.sample_rate, reference.n_fft, reference.hop_length, 1.0)
    p = d.provenance
    assert p["method"] == "online" and p["sources"] == ["clip.wav"]
    online = p["online"]
    assert (online["batch_frames"], online["passes"], online["forget"]) == (256, 2, 0.5)
    assert online["reason"] == "training online (--online)" and len(online["divergence_per_frame_by_pass"]) == 2
    # a normal dictionary: rtnmf info describes it, a preset is made from it and separates a file
    assert main(["info", str(out)]) == 0
    assert "online, 2 passes" in capsys.readouterr().out
    assert main(["preset", "new", "p", "--dictionary", str(out), "--keep", "0,1", "-o", str(tmp_path / "p.yaml")]) == 0
    assert main(["run", "--preset", str(tmp_path / "p.yaml"), "--input", str(clip), "--output", str(tmp_path / "o.wav")]) == 0
    assert sf.info(tmp_path / "o.wav").frames == sf.info(clip).frames


def test_unset_online_options_are_the_library_defaults(clip, tmp_path):
    assert main(["train", str(clip), "-o", str(tmp_path / "d.npz"), "--online", "--components", "4"]) == 0
    online = Dictionary.load(tmp_path / "d.npz").provenance["online"]
    assert (online["batch_frames"], online["passes"], online["forget"]) == (
        defaults.ONLINE_BATCH_FRAMES, defaults.ONLINE_PASSES, defaults.ONLINE_FORGET)


def test_online_training_is_chosen_when_full_batch_would_exceed_max_memory(clip, tmp_path, capsys):
    need = full_batch_memory([clip], 4000, 256, 64)
    below, above = f"{need // 1024 - 1}K", f"{need // 1024 + 1}K"
    assert main(["train", str(clip), "-o", str(tmp_path / "small.npz"), "--components", "4", "--max-memory", below, "--passes", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("full-batch training would need about ") and "more than --max-memory" in lines[0]
    assert "training online" in lines[0]
    small = Dictionary.load(tmp_path / "small.npz").provenance
    assert small["method"] == "online" and small["online"]["passes"] == 1 and small["online"]["reason"] == lines[0]
    # enough memory: full batch, and the online options are not used
    assert main(["train", str(clip), "-o", str(tmp_path / "big.npz"), "--components", "4", "--max-memory", above, "--passes", "1",
                 "--iterations", "5"]) == 0
    assert "training online" not in capsys.readouterr().out
    big = Dictionary.load(tmp_path / "big.npz").provenance
    assert "online" not in big and big["iterations"] == 5
    # the default limit is a fraction of this machine's memory: a short clip trains in memory
    assert main(["train", str(clip), "-o", str(tmp_path / "default.npz"), "--components", "4", "--iterations", "5"]) == 0
    assert "online" not in Dictionary.load(tmp_path / "default.npz").provenance
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert default_max_memory() <= int(physical * defaults.TRAIN_MAX_MEMORY_FRACTION)


def test_the_default_limit_follows_the_process_memory_limit():
    """ulimit -v (or a cluster job's cgroup limit) lowers the default --max-memory: half of 2 GiB here."""
    import subprocess
    import sys

    from .conftest import ROOT

    def limit():  # pragma: no cover - runs in the child
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    code = "from realtime_nmf.cli.train import default_max_memory; print(default_max_memory())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=limit,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) <= 1 << 30


def test_memory_sizes():
    assert memory_size("200M") == 200 * 2 ** 20 and memory_size("1.5G") == int(1.5 * 2 ** 30) and memory_size("512kib") == 512 * 1024
    assert memory_size("1000") == 1000 and memory_size("4 GB") == 4 * 2 ** 30 and memory_size("none") is None
    for bad in ("", "12X", "-5M", "0", "M", "1.2.3G"):
        with pytest.raises(RealtimeNMFError, match="is not a memory size"):
            memory_size(bad)


def test_low_latency_and_labelled_training_online(stethoscope, clip, tmp_path, capsys):
    assert main(["train", str(clip), "-o", str(tmp_path / "low.npz"), "--online", "--components", "4", "--passes", "1", "--latency-ms", "8"]) == 0
    assert main(["train", str(clip), "-o", str(tmp_path / "low_batch.npz"), "--components", "4", "--iterations", "5", "--latency-ms", "8"]) == 0
    low, low_batch = Dictionary.load(tmp_path / "low.npz"), Dictionary.load(tmp_path / "low_batch.npz")
    assert (low.latency_samples, low.hop_length, low.window) == (low_batch.latency_samples, low_batch.hop_length, low_batch.window)
    assert 1000 * low.latency_samples / low.sample_rate <= 8
    heart, lung = tmp_path / "heart.wav", tmp_path / "lung.wav"
    sf.write(heart, stethoscope["heart"], 4000, subtype="FLOAT")
    sf.write(lung, stethoscope["breath"] + stethoscope["hum"], 4000, subtype="FLOAT")
    capsys.readouterr()
    assert main(["train", "--target", str(heart), "--background", str(lung), str(clip), "-o", str(tmp_path / "l.npz"), "--online",
                 "--components", "6", "--target-components", "2", "--passes", "1", "--batch-frames", "512"]) == 0
    printed = capsys.readouterr().out
    assert "labels: target (2 components), background (4 components) (semi-supervised training)" in printed
    assert "mini-batches, divergence" in printed
    d = Dictionary.load(tmp_path / "l.npz")
    assert d.labels == ["target"] * 2 + ["background"] * 4
    assert d.provenance["training"] == "online" and [s["role"] for s in d.provenance["stages"]] == ["target", "background", "mixtures"]
    assert d.provenance["online"]["batch_frames"] == 512


ERRORS = [
    (["--passes", "2"], "--passes is for online training; add --online"),
    (["--batch-frames", "100", "--max-memory", "none"], "--batch-frames is for online training"),
    (["--online", "--max-memory", "1G"], "give --online (always online) or --max-memory SIZE"),
    (["--max-memory", "12X"], "--max-memory '12X' is not a memory size"),
    (["--online", "--forget", "2"], "forget=2.0 must be at least 0.0 and at most 1.0"),
    (["--online", "--passes", "0"], "passes=0 must be at least 1"),
    (["--online", "--passes", "9" * 4000], "must be at least 1 and at most 1000"),
    (["--max-memory", "9" * 400 + "G"], "is larger than any machine's memory"),
    (["--online", "--batch-frames", "0"], "batch_frames=0 must be at least 1"),
    (["--online", "--components", "100000"], "fewer than n_components=100000"),
    (["--online", "--latency-ms", "8", "--hop-length", "16"], "give a latency"),
    (["--online", "--start", "100"], "--start 100 is at or past the end"),
    (["--max-memory", "1K", "--start", "5", "--end", "2"], "--end 2 must be after --start 5"),
]


@pytest.mark.parametrize("args, message", ERRORS)
def test_bad_online_values_give_one_clear_line(args, message, clip, tmp_path):
    result = rtnmf("train", clip, "-o", "d.npz", *args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("rtnmf: error: ") and message in lines[-1], result.stderr
    assert not (tmp_path / "d.npz").exists()


def test_online_flags_parse_to_none_so_the_library_defaults_apply():
    args = build_parser().parse_args(["train", "x.wav", "-o", "d.npz"])
    assert (args.online, args.batch_frames, args.passes, args.forget) == (False, None, None, None)
    assert not hasattr(args, "max_memory")  # not given: the machine's default limit


def test_start_and_end_train_online_on_that_part_of_every_file(clip, tmp_path, capsys):
    """--start/--end online: the dictionary of the trimmed file, named with the part; the estimate of full batch is the part's."""
    y, sr = sf.read(clip, dtype="float32")
    trimmed = tmp_path / "trimmed.wav"
    sf.write(trimmed, y[2 * sr : 12 * sr], sr, subtype="FLOAT")
    assert main(["train", str(clip), "-o", str(tmp_path / "part.npz"), "--online", "--components", "4", "--passes", "1",
                 "--start", "2", "--end", "12"]) == 0
    assert "--start 2 --end 12" in capsys.readouterr().out  # the next: hint auditions the same part
    part = Dictionary.load(tmp_path / "part.npz")
    whole = train_dictionary_online([trimmed], n_components=4, passes=1)
    np.testing.assert_array_equal(part.W, whole.W)
    assert part.provenance["sources"] == ["clip.wav (2 s to 12 s)"] and part.provenance["duration_seconds"] == pytest.approx(10.0)
    assert full_batch_memory([clip], 4000, 256, 64, start=2, end=12) == full_batch_memory([trimmed], 4000, 256, 64)
    # labelled, every file's part
    heart = tmp_path / "heart.wav"
    sf.write(heart, y, sr, subtype="FLOAT")
    assert main(["train", "--target", str(heart), "--background", str(clip), "-o", str(tmp_path / "l.npz"), "--online",
                 "--components", "4", "--passes", "1", "--start", "2", "--end", "12"]) == 0
    stages = Dictionary.load(tmp_path / "l.npz").provenance["stages"]
    assert [s["sources"] for s in stages] == [["heart.wav (2 s to 12 s)"], ["clip.wav (2 s to 12 s)"]]
    assert [s["duration_seconds"] for s in stages] == pytest.approx([10.0, 10.0])
