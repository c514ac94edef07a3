"""Frames read from files a run at a time equal the frames of the whole spectrogram."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

from realtime_nmf.audio import load
from realtime_nmf.errors import AudioFileError, ParameterError
from realtime_nmf.file_frames import FrameReader, OpenFiles, read_runs, resampled_length
from realtime_nmf.stft import magnitude_spectrogram


def _write(path, rng, sample_rate, seconds, channels=1, subtype="FLOAT"):
    y = (0.2 * rng.standard_normal((int(sample_rate * seconds) + 37, channels))).astype(np.float32)
    y[: sample_rate // 10] *= np.linspace(0, 1, sample_rate // 10)[:, None]  # not stationary
    sf.write(path, y, sample_rate, subtype=subtype)
    return path


def _whole(path, sample_rate, n_fft, hop, power=1.0):
    return magnitude_spectrogram(load(path, sample_rate=sample_rate, mono=True)[0], n_fft, hop, power=power)


@pytest.mark.parametrize("n_fft, hop, power", [(256, 64, 1.0), (256, 100, 2.0), (512, 512 // 3, 1.0), (128, 32, 1.0)])
def test_same_rate_runs_equal_the_whole_spectrogram_exactly(tmp_path, rng, n_fft, hop, power):
    path = _write(tmp_path / "a.wav", rng, 4000, 3.1, channels=2)
    whole = _whole(path, 4000, n_fft, hop, power)
    reader = FrameReader(path, sample_rate=4000, n_fft=n_fft, hop_length=hop, power=power)
    assert reader.n_frames == whole.shape[1] and reader.n_samples == sf.info(str(path)).frames
    n = reader.n_frames
    runs = [(0, 0, 1), (0, 0, n), (0, 5, 19), (0, n - 3, n), (0, 1, 2), (0, n // 2, n // 2 + 20)]
    expected = np.concatenate([whole[:, a:b] for _, a, b in runs], axis=1)
    np.testing.assert_array_equal(read_runs([reader], runs), expected)
    np.testing.assert_array_equal(reader.read(3, 11), whole[:, 3:11])


@pytest.mark.parametrize("chunk", [1, 7, 64, 100000])
def test_streamed_chunks_equal_the_whole_spectrogram_for_any_chunk_size(tmp_path, rng, chunk):
    path = _write(tmp_path / "a.wav", rng, 4000, 2.3)
    whole = _whole(path, 4000, 256, 64)
    reader = FrameReader(path, sample_rate=4000, n_fft=256, hop_length=64)
    starts, parts = zip(*reader.chunks(chunk))
    assert list(starts) == list(range(0, whole.shape[1], chunk))
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)


@pytest.mark.parametrize("file_rate, rate", [(8000, 4000), (2000, 4000), (44100, 22050), (48000, 22050), (22050, 4000)])
def test_resampled_files_match_the_whole_resampled_file(tmp_path, rng, file_rate, rate):
    path = _write(tmp_path / "r.wav", rng, file_rate, 2.7, channels=2)
    n_fft = 1024 if rate > 10000 else 256
    whole = _whole(path, rate, n_fft, n_fft // 4)
    reader = FrameReader(path, sample_rate=rate, n_fft=n_fft, hop_length=n_fft // 4)
    assert reader.n_frames == whole.shape[1]
    scale = float(whole.max())
    # streamed through StreamResampler: the whole resampled file's frames
    np.testing.assert_allclose(np.concatenate([v for _, v in reader.chunks(33)], axis=1), whole, rtol=0, atol=1e-5 * scale)
    # random access, each piece resampled with context: equal up to float32 rounding
    n = reader.n_frames
    runs = [(0, 0, 9), (0, 17, 50), (0, n - 12, n), (0, n // 3, n // 3 + 1)]
    expected = np.concatenate([whole[:, a:b] for _, a, b in runs], axis=1)
    np.testing.assert_allclose(read_runs([reader], runs), expected, rtol=0, atol=1e-5 * scale)


def test_resampled_length_is_the_length_soxr_gives(rng):
    for sr_in, sr_out in ((44100, 4000), (8000, 4000), (44100, 22050), (16000, 44100)):
        for n in rng.integers(50, 20000, 12):
            assert resampled_length(n, sr_in, sr_out) == len(soxr.resample(np.zeros(int(n), np.float32), sr_in, sr_out, quality="HQ"))


def test_signals_and_files_give_the_same_frames_and_runs_of_several_clips_keep_their_order(tmp_path, rng):
    path = _write(tmp_path / "a.wav", rng, 4000, 1.5)
    y = load(path, mono=True)[0]
    from_file = FrameReader(path, sample_rate=4000, n_fft=256, hop_length=64)
    from_signal = FrameReader(y[:3000], sample_rate=4000, n_fft=256, hop_length=64, name="part")
    runs = [(1, 4, 9), (0, 30, 35), (1, 0, 2), (0, 2, 3)]
    parts = [from_signal.read(4, 9), from_file.read(30, 35), from_signal.read(0, 2), from_file.read(2, 3)]
    with OpenFiles(size=1) as files:
        np.testing.assert_array_equal(read_runs([from_file, from_signal], runs, files), np.concatenate(parts, axis=1))
    np.testing.assert_array_equal(from_signal.read(0, from_signal.n_frames), magnitude_spectrogram(y[:3000], 256, 64))


def test_bad_requests_raise_clear_errors(tmp_path, rng):
    path = _write(tmp_path / "a.wav", rng, 4000, 1.0)
    reader = FrameReader(path, sample_rate=4000, n_fft=256, hop_length=64)
    with pytest.raises(ParameterError, match="outside"):
        reader.read(0, reader.n_frames + 1)
    with pytest.raises(ParameterError, match="mono"):
        FrameReader(np.zeros((10, 2)), sample_rate=4000, n_fft=256, hop_length=64)
    other = FrameReader(path, sample_rate=4000, n_fft=512, hop_length=128)
    with pytest.raises(ParameterError, match="same"):
        read_runs([reader, other], [(0, 0, 2), (1, 0, 2)])
    with pytest.raises(AudioFileError, match="does not exist"):
        FrameReader(tmp_path / "missing.wav", sample_rate=4000, n_fft=256, hop_length=64)
    # a file that shrinks after it was opened for training
    sf.write(path, np.zeros(100, np.float32), 4000)
    with pytest.raises(AudioFileError, match="truncated or changed"):
        reader.read(reader.n_frames - 2, reader.n_frames)


@pytest.mark.parametrize("file_rate, rate", [(4000, 4000), (8000, 4000), (44100, 22050)])
@pytest.mark.parametrize("start, end", [(0.5, 2.0), (None, 1.3), (1.1, None), (0.25, 99.0)])
def test_a_part_of_a_file_equals_the_part_loaded_whole(tmp_path, rng, file_rate, rate, start, end):
    """--start/--end: the frames of a part equal those of load(start, end), as full-batch training reads it."""
    path = _write(tmp_path / "p.wav", rng, file_rate, 2.6, channels=2)
    n_fft = 1024 if rate > 10000 else 256
    whole = magnitude_spectrogram(load(path, sample_rate=rate, mono=True, start=start, end=end)[0], n_fft, n_fft // 4)
    reader = FrameReader(path, sample_rate=rate, n_fft=n_fft, hop_length=n_fft // 4, start=start, end=end)
    assert reader.n_frames == whole.shape[1]
    streamed = np.concatenate([v for _, v in reader.chunks(29)], axis=1)
    n = reader.n_frames
    runs = [(0, 0, n), (0, n // 3, n // 3 + 7), (0, n - 2, n)]
    expected = np.concatenate([whole[:, a:b] for _, a, b in runs], axis=1)
    if file_rate == rate:  # the same samples: exactly
        np.testing.assert_array_equal(streamed, whole)
        np.testing.assert_array_equal(read_runs([reader], runs), expected)
    else:
        scale = float(whole.max())
        np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(read_runs([reader], runs), expected, rtol=0, atol=1e-4 * scale)


def test_a_part_of_a_signal_and_bad_parts(rng):
    y = rng.standard_normal(4000 * 3).astype(np.float32)
    part = FrameReader(y, sample_rate=4000, n_fft=256, hop_length=64, start=1.0, end=2.5)
    np.testing.assert_array_equal(part.read(0, part.n_frames), magnitude_spectrogram(y[4000:10000], 256, 64))
    with pytest.raises(ParameterError, match="--start 5 is at or past the end"):
        FrameReader(y, sample_rate=4000, n_fft=256, hop_length=64, start=5.0)
    with pytest.raises(ParameterError, match="--end 1 must be after --start 2"):
        FrameReader(y, sample_rate=4000, n_fft=256, hop_length=64, start=2.0, end=1.0)
