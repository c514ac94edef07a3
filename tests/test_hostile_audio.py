"""Hostile audio files: headers that lie about length or rate, truncated streams, devices, and outputs past 4 GiB.

Header claims are checked before anything is allocated; reads trust the samples actually
decoded, never the claimed length; a file that decodes to less than it announces is an
error (training, audition, evaluation) or a clearly stated partial read (``run``).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import realtime_nmf.audio as audio
from realtime_nmf import load_preset, process_file
from realtime_nmf.errors import AudioFileError, OutputError, ParameterError
from realtime_nmf.presets import bundled_preset_dir

from .hostile import (assert_cli_error, assert_one_line_error, cli, flac_claiming, mp3_claiming, rtnmf, sparse_wav, wav_header,
                      write_wav_claiming)

SR = 4000


@pytest.fixture
def signal(stethoscope):
    return stethoscope["mixture"][: 2 * SR].copy()


@pytest.fixture
def music_rate_signal(signal):
    import soxr

    return soxr.resample(signal, SR, 44100).astype(np.float32)


# --------------------------------------------------------------------------------------
# lengths: claims checked before allocation, the decoded data trusted


def test_a_flac_claiming_2_to_the_35_samples(signal, tmp_path, capfd):
    path = flac_claiming(tmp_path / "claim.flac", signal, SR, 2**35)
    assert sf.info(str(path)).frames == 2**35  # what libsndfile reports from the header
    with pytest.raises(AudioFileError, match=r"announces 34359738368 samples \(99\.4 days\); at most 1073741824 samples are loaded at once"):
        audio.load(path)
    result = rtnmf("train", path, "-o", tmp_path / "d.npz", memory_limit=2 << 30)
    assert_one_line_error(result, "announces 34359738368 samples")
    # file mode streams what is really there: the output holds the decoded 2 s, and says so
    code, out, err = cli(["run", "--preset", "heartbeat", "--input", path, "--output", tmp_path / "o.wav"], capfd)
    assert code == 0, err
    assert sf.info(str(tmp_path / "o.wav")).frames == signal.shape[0]
    assert (f"warning: '{path}' announces 34359738368 samples (99.4 days) but holds only {signal.shape[0]} (2.00 s): it is truncated "
            f"or damaged; {tmp_path / 'o.wav'} holds the 2.00 s it had") in err


def test_an_mp3_whose_xing_header_claims_2_to_the_24_frames(music_rate_signal, tmp_path, capfd):
    path = mp3_claiming(tmp_path / "claim.mp3", music_rate_signal, 44100, frames=2**24)
    claimed = sf.info(str(path)).frames
    assert claimed > 10**10
    with pytest.raises(AudioFileError, match=f"announces {claimed} samples"):
        audio.load(path)
    code, out, err = cli(["run", "--preset", "heartbeat", "--input", path, "--output", tmp_path / "o.wav"], capfd)
    assert code == 0, err
    decoded = sf.info(str(tmp_path / "o.wav")).frames
    assert abs(decoded - music_rate_signal.shape[0]) < 2 * 1152  # not hours of padding
    assert f"announces {claimed} samples (" in err and f"but holds only {decoded} (" in err


def test_a_truncated_mp3_is_stated_not_padded(music_rate_signal, tmp_path, capfd):
    path = mp3_claiming(tmp_path / "cut.mp3", music_rate_signal, 44100, keep_bytes=0.5)
    claimed = sf.info(str(path)).frames
    with pytest.raises(AudioFileError, match=rf"cut\.mp3' announces {claimed} samples \(2\.00 s\) but holds only \d+ \(0\.\d+ s\): it is truncated or damaged"):
        audio.load(path)
    code, out, err = cli(["run", "--preset", "heartbeat", "--input", path, "--output", tmp_path / "o.wav"], capfd)
    assert code == 0, err
    y, _ = sf.read(tmp_path / "o.wav")
    assert y.shape[0] < 0.7 * claimed
    assert np.abs(y[-2000:]).max() > 0  # no silent tail made up for the missing half
    assert "truncated or damaged" in err
    assert_cli_error(["train", path, "-o", tmp_path / "d.npz", "--iterations", "2"], capfd, "truncated or damaged")


def test_a_truncated_flac_is_an_error_for_training_and_a_stated_partial_run(signal, tmp_path, capfd):
    signal = np.tile(signal, 5)  # 10 s: many FLAC frames, half of them whole
    whole = tmp_path / "whole.flac"
    sf.write(whole, signal, SR, subtype="PCM_16")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert_cli_error(["train", cut, "-o", tmp_path / "d.npz", "--iterations", "2"], capfd, "truncated or damaged")
    code, out, err = cli(["run", "--preset", "heartbeat", "--input", cut, "--output", tmp_path / "o.flac"], capfd)
    assert code == 0, err
    frames = sf.info(str(tmp_path / "o.flac")).frames
    assert 0 < frames < signal.shape[0] and "truncated or damaged" in err
    # a file of which not one sample decodes gives no output, and says why
    cut.write_bytes(whole.read_bytes()[:300])
    assert_cli_error(["run", "--preset", "heartbeat", "--input", cut, "--output", tmp_path / "o2.flac"], capfd,
                     r"holds only 0 \(0\.00 s\): it is truncated or damaged: not one sample could be decoded; nothing was written")
    assert not (tmp_path / "o2.flac").exists()
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), SR)
    assert_cli_error(["run", "--preset", "heartbeat", "--input", empty, "--output", tmp_path / "o3.flac"], capfd,
                     "a FLAC file cannot be empty; write a .wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.flac", "empty.wav", "o.flac", "whole.flac"]


def test_a_flac_of_unknown_length_is_read_whole(signal, tmp_path, capfd):
    path = flac_claiming(tmp_path / "unknown.flac", signal, SR, 0)  # 0: the encoder did not know the length
    y, sr = audio.load(path)
    assert y.shape[0] == signal.shape[0]
    code, out, err = cli(["run", "--preset", "heartbeat", "--input", path, "--output", tmp_path / "o.wav"], capfd)
    assert code == 0 and "warning" not in err, err
    assert sf.info(str(tmp_path / "o.wav")).frames == signal.shape[0]


def test_a_wav_over_4_gib_is_refused_for_loading_before_allocation(tmp_path):
    path = sparse_wav(tmp_path / "huge.wav", 5 << 30)  # 5 GiB, sparse
    assert path.stat().st_blocks * 512 < 1 << 20
    claimed = sf.info(str(path)).frames  # libsndfile reads an open-ended data chunk as 2**31 - 1 frames
    assert claimed > 1 << 30
    with pytest.raises(AudioFileError, match=rf"announces {claimed} samples .*; at most 1073741824 samples are loaded at once"):
        audio.load(path)
    # full batch refuses to load it
    result = rtnmf("train", path, "-o", tmp_path / "d.npz", "--max-memory", "none", memory_limit=2 << 30)
    assert_one_line_error(result, "at most 1073741824 samples are loaded at once")
    # by default rtnmf train sees that full batch cannot hold it and reads it online, saying so first (stopped there)
    import signal
    import subprocess
    import sys

    from .conftest import ROOT

    process = subprocess.Popen([sys.executable, "-m", "realtime_nmf", "train", str(path), "-o", str(tmp_path / "d.npz")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1"))
    first = process.stdout.readline()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert first.startswith("full-batch training would need about ") and "training online" in first, first
    assert process.returncode == 130 and not (tmp_path / "d.npz").exists()


def test_decoded_data_beyond_the_limit_is_refused_while_reading(signal, tmp_path, monkeypatch):
    path = tmp_path / "x.wav"
    sf.write(path, np.tile(signal, 4), SR)
    monkeypatch.setattr(audio, "MAX_LOAD_SAMPLES", signal.shape[0])
    with pytest.raises(AudioFileError, match=rf"at most {signal.shape[0]} samples are loaded at once"):
        audio.load(path)
    path = flac_claiming(tmp_path / "u.flac", np.tile(signal, 4), SR, 0)  # unknown length: found out while decoding
    with pytest.raises(AudioFileError, match=r"holds more than .* samples"):
        audio.load(path)


# --------------------------------------------------------------------------------------
# rates and channels


@pytest.mark.parametrize("rate", [2_000_000_000, 1, 999, 800_000])
def test_a_header_claiming_an_absurd_sample_rate_is_refused(signal, tmp_path, capfd, rate):
    path = write_wav_claiming(tmp_path / "rate.wav", signal, sample_rate=rate)
    pattern = rf"declares a sample rate of {rate} Hz; realtime_nmf reads 1000 to 768000 Hz"
    with pytest.raises(AudioFileError, match=pattern):
        audio.audio_info(path)
    for args in (["run", "--preset", "heartbeat", "--input", path, "--output", tmp_path / "o.wav"],
                 ["train", path, "-o", tmp_path / "d.npz"], ["audition", bundled_preset_dir() / "stethoscope.npz", path, "-o", tmp_path / "a"],
                 ["evaluate", "--reference", path, "--estimate", path]):
        assert_cli_error(args, capfd, pattern)
    assert not (tmp_path / "o.wav").exists()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rate=st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([4000, 44100, 768000, 768001, 999, 1000])),
       channels=st.one_of(st.integers(0, 65535), st.integers(1, 8)), bits=st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64, 255]),
       format_tag=st.sampled_from([0, 1, 3, 6, 7, 0x11, 0x55, 0xFFFE, 12345]),
       data_size=st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 4096)), payload=st.integers(0, 4096))
def test_any_wav_header_is_refused_or_read_as_it_really_is(tmp_path, rate, channels, bits, format_tag, data_size, payload):
    path = tmp_path / "h.wav"
    path.write_bytes(wav_header(sample_rate=rate, channels=channels, bits=bits, data_size=data_size, format_tag=format_tag)
                     + bytes(range(256)) * (payload // 256) + bytes(payload % 256))
    try:
        info = audio.audio_info(path)
    except AudioFileError as exc:
        assert "\n" not in str(exc)
        return
    assert 1000 <= info.sample_rate <= 768000 and 1 <= info.n_channels <= audio.MAX_CHANNELS
    try:
        y, _ = audio.load(path)
    except (AudioFileError, ParameterError) as exc:
        assert "\n" not in str(exc)
        return
    assert y.dtype == np.float32 and y.nbytes <= 64 * (payload + 64)  # what the file holds, never what it claims


# --------------------------------------------------------------------------------------
# what a path is


def test_a_fifo_as_input_is_refused_at_once(tmp_path):
    fifo = tmp_path / "in.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioFileError, match=r"is a named pipe \(FIFO\), not an audio file"):
        audio.audio_info(fifo)
    result = rtnmf("run", "--preset", "heartbeat", "--input", fifo, "--output", tmp_path / "o.wav", timeout=60)
    assert_one_line_error(result, "named pipe")


def test_a_device_as_input_is_refused():
    with pytest.raises(AudioFileError, match=r"'/dev/zero' is a character device, not an audio file"):
        audio.audio_info("/dev/zero")


@pytest.mark.parametrize("target, pattern", [("/dev/null", r"'/dev/null' is a character device; give a file name"),
                                             ("{fifo}", r"is a named pipe \(FIFO\); give a file name")])
def test_outputs_that_are_not_regular_files_are_refused(signal, tmp_path, capfd, target, pattern):
    fifo = tmp_path / "out.wav"
    os.mkfifo(fifo)
    target = target.format(fifo=fifo)
    before = os.stat(target)
    source = tmp_path / "in.wav"
    sf.write(source, signal, SR)
    with pytest.raises(OutputError, match=pattern):
        audio.AudioWriter(target, SR, 1)
    assert_cli_error(["run", "--preset", "heartbeat", "--input", source, "--output", target], capfd, pattern)
    after = os.stat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_output_that_is_the_input_by_another_name_is_refused(signal, tmp_path, capfd):
    source = tmp_path / "in.wav"
    sf.write(source, signal, SR)
    before = source.read_bytes()
    os.link(source, tmp_path / "hard.wav")
    os.symlink(source, tmp_path / "soft.wav")
    for name in ("hard.wav", "soft.wav"):
        with pytest.raises(Exception, match="is the input file"):
            process_file(load_preset("heartbeat").build(), source, tmp_path / name, processing_rate=SR)
        assert_cli_error(["run", "--preset", "heartbeat", "--input", source, "--output", tmp_path / name], capfd, "is the input file")
    assert source.read_bytes() == before


# --------------------------------------------------------------------------------------
# outputs past 4 GiB (generated streams into a sparse file: no 4 GiB of disk, a few seconds)


class _SparseFile:
    """A file object that seeks over blocks of zero bytes instead of writing them (the file stays sparse)."""

    def __init__(self, path):
        self._file = open(path, "w+b")
        self.size = 0

    def write(self, data):
        view = memoryview(data).cast("B")
        position = self._file.tell()
        words = view.nbytes // 8
        if view.nbytes > 65536 and not np.frombuffer(view[: 8 * words], np.uint64).any() and not any(view[8 * words :]):
            self._file.seek(view.nbytes, 1)
        else:
            self._file.write(view)
        self.size = max(self.size, position + view.nbytes)
        return view.nbytes

    def read(self, n=-1):
        return self._file.read(n)

    def seek(self, offset, whence=0):
        return self._file.seek(offset, whence)

    def tell(self):
        return self._file.tell()

    def close(self):
        self._file.truncate(self.size)
        self._file.close()


@pytest.fixture
def sparse_outputs(monkeypatch):
    """Make every audio file written by path go through :class:`_SparseFile`."""
    real = sf.SoundFile

    class Sparse(real):
        def __init__(self, file, mode="r", *args, **kwargs):
            self._sink = None
            if isinstance(file, (str, os.PathLike)) and "w" in mode:
                self._sink = file = _SparseFile(file)
            super().__init__(file, mode, *args, **kwargs)

        def close(self):
            super().close()
            if self._sink is not None:
                self._sink.close()
                self._sink = None

    monkeypatch.setattr(sf, "SoundFile", Sparse)


FOUR_GIB_FLOATS = (1 << 30) + (1 << 20)  # float samples: just over 4 GiB of data


def _stream_zeros(writer, n, tail):
    block = np.zeros((1 << 24, 1), np.float32)
    written = 0
    while written < n:
        count = min(block.shape[0], n - written)
        writer.write(block[:count])
        written += count
    writer.write(tail)


@pytest.mark.parametrize("hint", [FOUR_GIB_FLOATS + 100, None])
def test_a_wav_past_4_gib_becomes_rf64_and_reads_back_whole(tmp_path, sparse_outputs, hint):
    path = tmp_path / "big.wav"
    tail = np.full((100, 1), 0.5, np.float32)
    with audio.AudioWriter(path, 8000, 1, subtype="FLOAT", expected_samples=hint) as writer:
        _stream_zeros(writer, FOUR_GIB_FLOATS, tail)
    info = sf.info(str(path))
    assert info.format == "RF64" and info.frames == FOUR_GIB_FLOATS + 100
    assert path.stat().st_size > 4 << 30 and path.stat().st_blocks * 512 < 64 << 20
    with sf.SoundFile(str(path)) as handle:
        handle.seek(info.frames - 100)
        np.testing.assert_array_equal(handle.read(100, dtype="float32"), tail[:, 0])


def test_a_small_wav_stays_a_plain_wav(tmp_path):
    path = audio.write(tmp_path / "small.wav", np.zeros(1000, np.float32), 8000)
    assert sf.info(str(path)).format == "WAV" and path.read_bytes()[:4] == b"RIFF"


@pytest.mark.parametrize("name, subtype, expected", [("a.wav", "FLOAT", None), ("a.wav", "FLOAT", 3000), ("a.wav", "DOUBLE", 3000),
                                                     ("a.aiff", "FLOAT", 3000), ("a.caf", "FLOAT", None)])
def test_float_outputs_are_the_same_bytes_every_time(tmp_path, name, subtype, expected):
    """libsndfile stamps the time of writing into a float file's PEAK chunk: zeroed, the same audio is the same file."""
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (3000, 2)).astype(np.float32)
    files = []
    for run in range(2):
        with audio.AudioWriter(tmp_path / f"{run}-{name}", 8000, 2, subtype=subtype, expected_samples=expected) as writer:
            writer.write(x)
        files.append(writer.path.read_bytes())
        np.testing.assert_array_equal(sf.read(str(writer.path), dtype="float32")[0], x)
        if run == 0:
            time.sleep(1.1)  # the stamp counts seconds
    assert files[0] == files[1]
    # WAV and AIFF of a known length keep their PEAK chunk (the peaks, a zero time); CAF and the RF64-capable WAV have none
    assert (b"PEAK" in files[0]) is (expected is not None and name != "a.caf")


def test_formats_that_cannot_hold_4_gib_are_refused_before_writing(tmp_path, monkeypatch):
    with pytest.raises(OutputError, match=r"would hold 4\.0 GiB of audio; AIFF holds at most 4 GiB: write \.wav \(RF64\), \.w64, \.caf or \.flac"):
        audio.AudioWriter(tmp_path / "big.aiff", 8000, 1, subtype="FLOAT", expected_samples=FOUR_GIB_FLOATS)
    with pytest.raises(OutputError, match=r"would hold 8\.0 GiB of audio; AIFF holds at most 4 GiB"):
        audio.AudioWriter(tmp_path / "big.aiff", 8000, 2, subtype="PCM_32", expected_samples=1 << 30)
    assert list(tmp_path.iterdir()) == []
    # a stream that turns out longer than announced is stopped before the block that would pass the limit (the limit
    # lowered here to 1 MiB, so the test writes 1 MiB instead of 4 GiB: the check is the same)
    monkeypatch.setattr(audio, "_FOUR_GIB", 1 << 20)
    block = np.zeros((1 << 16, 1), np.float32)  # 256 KiB
    for name, pattern in (("big.aiff", r"it would pass 4 GiB; AIFF holds at most 4 GiB"),
                          ("plain.wav", r"the audio grew to more than announced and would pass 4 GiB; WAV holds at most 4 GiB")):
        writer = audio.AudioWriter(tmp_path / name, 8000, 1, subtype="FLOAT", expected_samples=1000)
        for _ in range(4):
            writer.write(block)
        with pytest.raises(OutputError, match=pattern):
            writer.write(block[:1])
        assert writer.samples_written == 4 * block.shape[0]
        writer.abort()
        assert list(tmp_path.iterdir()) == []
