"""rtnmf batch on one machine: the tree, the manifest, resuming, failures, refusals, determinism."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from realtime_nmf import load_preset, process_file
from realtime_nmf.batch import COLUMNS, BatchRun, PresetPayload
from realtime_nmf.batch.executors import usable_cores
from realtime_nmf.batch.inputs import MANIFEST_NAME, STAGING_NAME
from realtime_nmf.errors import OutputError, ParameterError

from .conftest import ROOT
from .batch_helpers import RECORDINGS, rows, rtnmf, same_bytes, write_recordings


@pytest.fixture(scope="module")
def tree(tmp_path_factory, stethoscope):
    folder = tmp_path_factory.mktemp("recordings")
    rels = write_recordings(folder, stethoscope["mixture"])
    (folder / "patients" / "notes.txt").write_text("not audio, not matched by the pattern")
    (folder / ".hidden.wav").write_bytes(b"hidden files are skipped")
    return folder, [rel for rel in rels if rel.endswith(".wav")]


@pytest.fixture(scope="module")
def reference(tree, tmp_path_factory):
    """Every input through ``rtnmf run`` (one fresh interpreter per file), as a user's shell loop would."""
    folder, rels = tree
    out = tmp_path_factory.mktemp("run")
    for rel in rels:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        done = rtnmf("run", "--preset", "heartbeat", "--input", folder / rel, "--output", out / rel)
        assert done.returncode == 0, done.stderr
    return out


def run(folder, out, *args, **kwargs):
    return rtnmf("batch", "--preset", "heartbeat", folder, "-o", out, *args, **kwargs)


@pytest.mark.parametrize("jobs", [1, 2])
def test_outputs_mirror_the_tree_and_equal_rtnmf_run_byte_for_byte(tree, reference, tmp_path, jobs):
    folder, rels = tree
    out = tmp_path / "out"
    done = run(folder, out, "--jobs", jobs)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{len(rels)} ok"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")) == sorted(
        rels + [MANIFEST_NAME])
    assert same_bytes(out, reference, rels) == []
    assert not (out / STAGING_NAME).exists()


def test_the_manifest_has_a_row_per_input_with_every_column(tree, tmp_path):
    folder, rels = tree
    out = tmp_path / "out"
    assert run(folder, out, "--jobs", 2).returncode == 0
    header = (out / MANIFEST_NAME).read_text().splitlines()[0]
    assert header.split(",") == list(COLUMNS) == ["input", "output", "status", "message", "duration", "sample_rate", "channels",
                                                  "realtime_factor", "seconds", "worker", "preset_hash", "input_size",
                                                  "input_mtime", "version"]
    found = rows(out)
    assert sorted(found) == sorted(rels)
    expected = {rel: (seconds, rate, channels) for rel, seconds, rate, channels, _ in RECORDINGS}
    hashes = {row.preset_hash for row in found.values()}
    assert hashes == {PresetPayload.from_preset(load_preset("heartbeat")).hash}
    for rel, row in found.items():
        seconds, rate, channels = expected[rel]
        assert (row.status, row.output) == ("ok", rel)
        assert float(row.duration) == pytest.approx(seconds, abs=1e-3)
        assert (int(row.sample_rate), int(row.channels)) == (rate, channels)
        # the manifest writes processing time to the microsecond: the factor agrees with it to rounding
        assert float(row.realtime_factor) == pytest.approx(float(row.duration) / float(row.seconds), rel=0.01)
        assert int(row.input_size) == (folder / rel).stat().st_size
        assert row.input_mtime.endswith("Z") and row.version
        assert row.worker.rsplit(":", 1)[1].isdigit() and int(row.worker.rsplit(":", 1)[1]) != os.getpid()
        assert ("resampled" in row.message) == (rate != 4000)


def test_a_rerun_skips_what_is_done_and_redoes_what_changed(tree, tmp_path):
    source, rels = tree
    folder = tmp_path / "in"
    shutil.copytree(source, folder)
    out = tmp_path / "out"
    assert run(folder, out, "--jobs", 1).returncode == 0
    first = {rel: (out / rel).stat().st_mtime_ns for rel in rels}
    again = run(folder, out, "--jobs", 1)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"0 ok, {len(rels)} skipped (done by an earlier run)"
    assert {row.status for row in rows(out).values()} == {"skipped"}
    assert {rel: (out / rel).stat().st_mtime_ns for rel in rels} == first
    # an edited input, a deleted output: those two are redone, the rest skipped (a skipped row counts as done)
    changed, deleted = rels[0], rels[1]
    data, rate = sf.read(folder / changed, dtype="float32")
    sf.write(folder / changed, data[::-1].copy(), rate, subtype="PCM_16")
    (out / deleted).unlink()
    third = run(folder, out, "--jobs", 2)
    assert third.returncode == 0, third.stderr
    statuses = {rel: row.status for rel, row in rows(out).items()}
    assert statuses == {rel: "ok" if rel in (changed, deleted) else "skipped" for rel in rels}
    # another preset (another selection): everything is redone
    preset = load_preset("heartbeat")
    other = tmp_path / "other.yaml"
    preset.keep = [0]
    preset.save(other)
    fourth = rtnmf("batch", "--preset", other, folder, "-o", out, "--jobs", 2)
    assert fourth.returncode == 0, fourth.stderr
    assert {row.status for row in rows(out).values()} == {"ok"}
    assert {row.preset_hash for row in rows(out).values()} == {PresetPayload.from_preset(load_preset(str(other))).hash}


def test_failures_stay_per_file_and_are_retried_only_when_asked(tree, tmp_path):
    source, rels = tree
    folder = tmp_path / "in"
    shutil.copytree(source, folder)
    (folder / "patients" / "broken.wav").write_bytes(b"RIFF not really")
    (folder / "only_bad").mkdir()
    (folder / "only_bad" / "empty.wav").write_bytes(b"")
    out = tmp_path / "out"
    done = run(folder, out, "--jobs", 2)
    assert done.returncode == 1
    assert done.stdout.strip() == f"{len(rels)} ok, 2 errors: see {out.resolve() / MANIFEST_NAME}"
    assert "error: patients/broken.wav: cannot read" in done.stderr and "Traceback" not in done.stderr
    found = rows(out)
    assert found["only_bad/empty.wav"].status == "error" and "empty" in found["only_bad/empty.wav"].message
    assert not (out / "only_bad").exists(), "folders are created only for successes"
    assert not (out / "patients" / "broken.wav").exists()
    # a rerun leaves recorded failures alone (same input, same preset) and says so
    again = run(folder, out, "--jobs", 2, "--quiet")
    assert again.returncode == 1 and again.stderr == ""
    assert "2 errors (2 failed in an earlier run and were not retried; --retry-failed retries them)" in again.stdout
    # repaired, and retried on request
    shutil.copy(folder / "a.wav", folder / "patients" / "broken.wav")
    third = run(folder, out, "--jobs", 2, "--retry-failed")
    assert third.returncode == 1
    found = rows(out)
    assert found["patients/broken.wav"].status == "ok" and found["only_bad/empty.wav"].status == "error"
    assert (out / "patients" / "broken.wav").read_bytes() == (out / "a.wav").read_bytes()


def test_an_output_the_manifest_does_not_know_is_replaced_only_with_overwrite(tree, tmp_path):
    folder, rels = tree
    out = tmp_path / "out"
    (out / "patients" / "p01").mkdir(parents=True)
    (out / "patients" / "p01" / "visit1.wav").write_bytes(b"somebody else's file")
    done = run(folder, out, "--jobs", 1)
    assert done.returncode == 1
    row = rows(out)["patients/p01/visit1.wav"]
    assert row.status == "error" and "--overwrite" in row.message
    assert (out / "patients" / "p01" / "visit1.wav").read_bytes() == b"somebody else's file"
    forced = run(folder, out, "--jobs", 2, "--overwrite")
    assert forced.returncode == 0, forced.stderr
    assert {row.status for row in rows(out).values()} == {"ok"}
    sf.info(str(out / "patients" / "p01" / "visit1.wav"))


def test_outputs_that_would_become_inputs_are_refused(tree, tmp_path):
    source, rels = tree
    folder = tmp_path / "in"
    shutil.copytree(source, folder)
    same = run(folder, folder)
    assert same.returncode == 1 and "is the input folder" in same.stderr
    inside = run(folder, folder / "filtered")
    assert inside.returncode == 1 and "would match the outputs as inputs" in inside.stderr
    assert not (folder / "filtered").exists()
    # a pattern that cannot reach the output folder is fine, and the output folder is never walked
    top = run(folder, folder / "filtered", "--pattern", "*.wav", "--jobs", 1)
    assert top.returncode == 0, top.stderr
    assert sorted(rows(folder / "filtered")) == ["a.wav"]
    nested = run(folder, folder / "patients" / "out", "--pattern", "patients/p0?/*.wav", "--jobs", 1)
    assert nested.returncode == 0, nested.stderr
    assert sorted(rows(folder / "patients" / "out")) == ["patients/p01/visit1.wav", "patients/p01/visit2.wav", "patients/p02/visit1.wav"]
    # the input folder inside the output folder: an output that would land in the input folder is an error row
    parent = tmp_path / "study"
    shutil.copytree(source, parent / "raw" / "raw")
    (parent / "raw" / "a.wav").unlink(missing_ok=True)
    nest = rtnmf("batch", "--preset", "heartbeat", parent / "raw", "-o", parent, "--jobs", 1)
    assert nest.returncode == 1
    found = rows(parent)
    assert all(row.status == "error" and "inside the input folder" in row.message for row in found.values())
    assert (parent / "raw" / "raw" / "a.wav").read_bytes() == (source / "a.wav").read_bytes()


def test_the_pattern_matches_as_a_recursive_glob_does(tmp_path):
    import glob

    names = ["a.wav", "b.WAV", "c.wav.bak", "d.flac", "x/a.wav", "x/y/b.wav", "x/y/z/c.wav", "x/.h/a.wav", ".h.wav", "x1/a.wav",
             "x2/q.wav", "[odd].wav"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    out = tmp_path.parent / (tmp_path.name + "-out")
    for pattern in ["**/*.wav", "*.wav", "x/**/*.wav", "x/*/*.wav", "x?/*.wav", "x[12]/*.wav", "x[!1]/*.wav", "**/a.*", "**/*",
                    "x/**", "**/y/*.wav"]:
        from realtime_nmf.batch.inputs import BatchLayout, walk

        expected = sorted(p for p in glob.glob(pattern, root_dir=tmp_path, recursive=True) if (tmp_path / p).is_file())
        assert sorted(walk(BatchLayout(tmp_path, out, pattern))) == expected, pattern
    for bad in ["", "/abs/*.wav", "../*.wav"]:
        with pytest.raises(ParameterError, match="pattern"):
            BatchLayout(tmp_path, out, bad)


def test_a_file_list_from_a_file_or_standard_input(tree, tmp_path):
    folder, rels = tree
    listing = tmp_path / "list.txt"
    listing.write_text(f"# chosen recordings\n{rels[0]}\n\n{folder / rels[1]}\n{rels[0]}\nmissing.wav\n{tmp_path / 'elsewhere.wav'}\n")
    out = tmp_path / "out"
    done = run(folder, out, "--files", listing, "--jobs", 2)
    assert done.returncode == 1
    found = rows(out)
    assert {rel: row.status for rel, row in found.items()} == {rels[0]: "ok", rels[1]: "ok", "missing.wav": "error",
                                                               str(tmp_path / "elsewhere.wav"): "error"}
    assert "does not exist" in found["missing.wav"].message
    assert "not inside the input folder" in found[str(tmp_path / "elsewhere.wav")].message
    assert "1 duplicate input(s) ignored" in done.stdout
    piped = run(folder, tmp_path / "piped", "--files", "-", "--jobs", 1, input="\n".join(rels) + "\n")
    assert piped.returncode == 0, piped.stderr
    assert sorted(rows(tmp_path / "piped")) == sorted(rels)


def test_jobs_defaults_to_the_usable_cores_and_options_are_checked(tree, tmp_path):
    folder, _ = tree
    preset = load_preset("heartbeat")
    assert BatchRun(preset, folder, tmp_path / "o").jobs == usable_cores() == len(os.sched_getaffinity(0))
    with pytest.raises(ParameterError, match="--jobs"):
        BatchRun(preset, folder, tmp_path / "o", jobs=0)
    with pytest.raises(ParameterError, match="exclude each other"):
        BatchRun(preset, folder, tmp_path / "o", overwrite=True, retry_failed=True)
    with pytest.raises(ParameterError, match="input folder"):
        BatchRun(preset, tmp_path / "nowhere", tmp_path / "o")
    with pytest.raises(ParameterError, match="no input found"):
        BatchRun(preset, folder, tmp_path / "o", pattern="*.mp3").run()
    assert not (tmp_path / "o").exists()


def test_workers_build_the_preset_from_its_content_with_blas_on_one_thread(tree, tmp_path, stethoscope):
    folder, rels = tree
    # a preset whose files are gone once it is loaded: the payload carries all a worker needs
    preset = load_preset("heartbeat")
    shutil.copy(preset.dictionary_path, tmp_path / "d.npz")
    preset.dictionary_path = tmp_path / "d.npz"
    preset.save(tmp_path / "p.yaml")
    loaded = load_preset(str(tmp_path / "p.yaml"))
    payload = PresetPayload.from_preset(loaded)
    (tmp_path / "d.npz").unlink()
    (tmp_path / "p.yaml").unlink()
    assert payload.hash == PresetPayload.from_preset(load_preset("heartbeat")).hash  # the same content, wherever its files are
    described = load_preset("heartbeat")
    described.description = "another description"
    assert PresetPayload.from_preset(described).hash == payload.hash
    described.settings = dict(described.settings, iterations=3)
    assert PresetPayload.from_preset(described).hash != payload.hash
    rebuilt = pickle.loads(pickle.dumps(payload)).load()
    process_file(rebuilt.build(), folder / rels[0], tmp_path / "content.wav", processing_rate=rebuilt.sample_rate)
    process_file(preset.build(), folder / rels[0], tmp_path / "named.wav", processing_rate=preset.sample_rate)
    assert (tmp_path / "content.wav").read_bytes() == (tmp_path / "named.wav").read_bytes()


def test_local_workers_pin_blas_to_one_thread(tmp_path):
    # in a fresh interpreter without the thread variables the test suite sets, so that BLAS would use every core
    code = ("import sys; from threadpoolctl import threadpool_info; from realtime_nmf import load_preset; "
            "from realtime_nmf.batch import PresetPayload; from realtime_nmf.batch.executors import local_pool\n"
            "if __name__ == '__main__':\n"
            "    import numpy\n"
            "    here = [e['num_threads'] for e in threadpool_info() if e['user_api'] == 'blas']\n"
            "    with local_pool(1, PresetPayload.from_preset(load_preset('heartbeat'))) as pool:\n"
            "        there = [e['num_threads'] for e in pool.submit(threadpool_info).result() if e['user_api'] == 'blas']\n"
            "    print(max(here), max(there))\n")
    (tmp_path / "probe.py").write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, str(tmp_path / "probe.py")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    here, there = map(int, done.stdout.split())
    assert there == 1
    assert here == usable_cores() or usable_cores() == 1  # the parent's BLAS is left as it was


def test_files_in_flight_are_bounded(tmp_path, stethoscope):
    folder = tmp_path / "in"
    y = stethoscope["mixture"][:2000]
    for index in range(40):
        (folder / f"f{index // 10}").mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"f{index // 10}" / f"{index:03d}.wav", y, 4000, subtype="PCM_16")
    summary = BatchRun(load_preset("heartbeat"), folder, tmp_path / "out", jobs=2).run()
    assert (summary.ok, summary.exit_status) == (40, 0)
    assert 1 <= summary.peak_in_flight <= 4


def test_stale_partial_files_are_removed_and_two_runs_never_share_a_folder(tree, tmp_path):
    import fcntl

    folder, rels = tree
    out = tmp_path / "out"
    (out / STAGING_NAME).mkdir(parents=True)
    (out / STAGING_NAME / "0badc0de-3.wav").write_bytes(b"half a file from a killed run")
    (out / STAGING_NAME / ".0badc0de-4.wav.x1y2.part").write_bytes(b"")
    assert run(folder, out, "--jobs", 1).returncode == 0
    assert not (out / STAGING_NAME).exists()
    with open(out / ".rtnmf-batch.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(OutputError, match="another rtnmf batch"):
            BatchRun(load_preset("heartbeat"), folder, out).run()


def test_output_folder_must_be_a_folder(tree, tmp_path):
    folder, _ = tree
    (tmp_path / "file").write_text("x")
    done = run(folder, tmp_path / "file")
    assert done.returncode == 1 and "-o takes a folder" in done.stderr


def test_a_manifest_that_is_not_ours_is_left_alone(tree, tmp_path):
    folder, _ = tree
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_NAME).write_text("name,value\nx,1\n")
    done = run(folder, out, "--jobs", 1)
    assert done.returncode == 1 and "is not an rtnmf batch manifest" in done.stderr
    assert (out / MANIFEST_NAME).read_text() == "name,value\nx,1\n"


def test_process_file_outputs_are_the_same_whatever_ran_before(tree, tmp_path):
    # what makes a worker's reused chain safe: process_file prepares (and so resets) it for every file
    folder, rels = tree
    preset = load_preset("heartbeat")
    chain = preset.build()
    for rel in rels:
        process_file(chain, folder / rel, tmp_path / "reused.wav", processing_rate=preset.sample_rate)
    process_file(preset.build(), folder / rels[-1], tmp_path / "fresh.wav", processing_rate=preset.sample_rate)
    assert (tmp_path / "reused.wav").read_bytes() == (tmp_path / "fresh.wav").read_bytes()
    assert np.abs(sf.read(tmp_path / "fresh.wav")[0]).max() > 0
