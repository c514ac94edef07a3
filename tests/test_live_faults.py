"""Live runs that go wrong, through a real PortAudio stream on a headless JACK server.

The sound server is killed or frozen under a running ``rtnmf run`` (a server of the
test's own, see :class:`~tests.jack_harness.PrivateJackServer`), a recording runs out of
space, a block size cannot work, a channel does not exist. Each time the program must
end (the timeouts here detect hangs; they are not pace checks), say what happened in one
line, exit with the documented status and leave every recording finalised and valid.
"""

from __future__ import annotations

import re
import resource
import signal

import numpy as np
import pytest
import soundfile as sf

from realtime_nmf.errors import ExitCode

from .jack_harness import (SR, Terminal, _no_stray_processes, jack_server, loopback, private_jack, start_rtnmf,  # noqa: F401  (fixtures)
                           wait_for_recording)

pytestmark = pytest.mark.live

#: seconds within which a run must end after the server dies or a key is pressed: a hang detector, far above the ~2 s it takes
HANG = 20


def _valid_seconds(path) -> float:
    """Seconds of audio in a finalised, readable file (its header agrees with its data)."""
    info = sf.info(str(path))
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    assert data.shape[0] == info.frames and rate == SR
    assert np.all(np.isfinite(data))
    return info.frames / rate


def _no_part_files(folder) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_killing_the_sound_server_ends_the_run_and_keeps_the_recordings(private_jack, tmp_path):
    record, raw = tmp_path / "rec.wav", tmp_path / "raw.wav"
    process = start_rtnmf("run", "--preset", "heartbeat", "--allow-feedback", "--record", record, "--record-input", raw, env=private_jack.env)
    wait_for_recording(tmp_path, 1.0)
    private_jack.kill()
    stdout, stderr = process.communicate(timeout=HANG)
    assert process.returncode == ExitCode.DEVICE_LOST, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "audio device lost at" in line]
    assert len(lines) == 1, stderr
    lost_at = float(re.search(r"audio device lost at ([\d.]+) s", lines[0]).group(1))
    for path in (record, raw):
        seconds = _valid_seconds(path)
        assert seconds >= 1.0 and abs(seconds - lost_at) < 0.1, (seconds, lost_at)
        assert f"{path} holds {seconds:.1f} s" in lines[0]
    assert "(the audio device was lost)" in stdout and "finalised" in stdout
    _no_part_files(tmp_path)


@pytest.mark.parametrize("stop", ["watchdog", "q", "ctrl-c", "sigterm"])
def test_a_hung_sound_server_cannot_hang_the_run(private_jack, tmp_path, stop):
    """The server is frozen (SIGSTOP): it stays but answers nothing, and PortAudio's stop waits forever.

    Whether the watchdog notices it or the user presses q or Ctrl-C or sends SIGTERM
    first, the run ends, finalises the recording and reports the device.
    """
    record = tmp_path / "rec.wav"
    terminal = Terminal("run", "--preset", "heartbeat", "--allow-feedback", "--record", record, env=private_jack.env)
    terminal.wait_for("keys:")
    wait_for_recording(tmp_path, 0.5)
    private_jack.freeze()
    if stop == "q":
        terminal.type(b"q")
    elif stop == "ctrl-c":
        terminal.type(b"\x03")  # the terminal turns it into SIGINT, as for a user
    elif stop == "sigterm":
        terminal.process.send_signal(signal.SIGTERM)
    stdout, status = terminal.finish(timeout=HANG)
    assert status == ExitCode.DEVICE_LOST, terminal.shown
    assert "audio device lost at" in terminal.shown and "Traceback" not in terminal.shown
    assert _valid_seconds(record) >= 0.5
    assert f"recording: {record}" in stdout and "finalised" in stdout
    _no_part_files(tmp_path)


def test_a_recording_that_runs_out_of_space_is_reported_and_kept(jack_server, tmp_path):
    """The file size limit stands in for a full disk: the run goes on to the speakers, then exits 4."""
    record = tmp_path / "rec.wav"
    limit = 48000 * 2 * 4  # about a second of 48 kHz stereo float

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # writes beyond fail with EFBIG (Python ignores SIGXFSZ)

    process = start_rtnmf("run", "--preset", "heartbeat", "--allow-feedback", "--record", record, "--duration", "3", "--quiet",
                          preexec_fn=small_disk)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.RECORDING_FAILED, stderr
    assert "Traceback" not in stderr
    assert re.search(r"rtnmf: error: recording .*rec\.wav could not be written completely \(.*\); the file holds the first [\d.]+ s", stderr), stderr
    assert "FAILED after" in stdout and "live run: 3.0 s" in stdout
    assert 0 < _valid_seconds(record) < 1.1
    _no_part_files(tmp_path)


def test_block_sizes_are_checked_before_the_stream_opens(jack_server, tmp_path):
    process = start_rtnmf("run", "--preset", "heartbeat", "--allow-feedback", "--block-size", "2000000000", "--quiet")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.USER_ERROR and "Traceback" not in stderr
    assert "must be 0 (the audio host chooses) or 1 to 48000 samples" in stderr, stderr
    # one sample per callback: the Python callback alone costs more than a sample lasts, on any machine
    process = start_rtnmf("run", "--preset", "heartbeat", "--allow-feedback", "--block-size", "1", "--duration", "0.05", "--quiet")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert re.search(r"warning: with --block-size 1 the engine needs \d+ % of real time on this machine", stderr), stderr
    assert "live run: 0.1 s" in stdout


def test_input_and_output_channels_route_one_input_to_the_speakers_chosen(jack_server, loopback, stethoscope, tmp_path):
    """--input-channels 2 on the 2-in JACK device: only the second input is separated, and both outputs carry it
    (or only the second, with --output-channels 2)."""
    import soxr

    y = soxr.resample(stethoscope["mixture"][:16000], 4000, SR).astype(np.float32)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(len(y)) / SR)).astype(np.float32)
    fed = np.stack([tone, y], axis=1)  # the first input is a tone that must not be heard
    process = start_rtnmf("run", "--preset", "heartbeat", "--allow-feedback", "--input-channels", "2", "--record-input", tmp_path / "raw.wav",
                          "--record", tmp_path / "rec.wav", "--quiet")
    loopback.connect()
    captured = loopback.play(fed, freewheel=True)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    raw, _ = sf.read(tmp_path / "raw.wav", dtype="float32", always_2d=True)
    assert raw.shape[1] == 1
    start = int(np.flatnonzero(np.abs(raw[:, 0]) > 0)[0]) - int(np.flatnonzero(np.abs(y) > 0)[0])
    np.testing.assert_array_equal(raw[start : start + len(y), 0], y)  # exactly the second input
    recorded, _ = sf.read(tmp_path / "rec.wav", dtype="float32", always_2d=True)
    assert recorded.shape[1] == 1
    np.testing.assert_array_equal(captured[:, 0], captured[:, 1])  # one processed channel on both speakers
    assert np.abs(captured[:, 0]).max() > 1e-3
    # --output-channels 2: only the second speaker plays
    process = start_rtnmf("run", "--preset", "heartbeat", "--allow-feedback", "--input-channels", "2", "--output-channels", "2", "--quiet")
    loopback.connect()
    captured = loopback.play(fed, freewheel=True)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert not captured[:, 0].any() and np.abs(captured[:, 1]).max() > 1e-3
    process = start_rtnmf("run", "--preset", "heartbeat", "--allow-feedback", "--input-channels", "3", "--quiet")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.USER_ERROR
    assert "--input-channels 3: input device 0 (system) has 2 channel(s); choose from 1 to 2" in stderr, stderr
