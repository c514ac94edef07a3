"""The live console and checks without a device: keys, the status line, device names, exit codes, refusals."""

from __future__ import annotations

import io
import os
import pty

import numpy as np
import pytest

from realtime_nmf.cli import main
from realtime_nmf.errors import EXIT_CODES, DeviceError, ExitCode
from realtime_nmf.live.console import Keyboard, StatusLine, format_status
from realtime_nmf.live.summary import LiveStatus


def test_keys_of_one_write_are_all_read_at_once():
    """A digit, Enter and a letter written together come back together (not one per wait)."""
    master, slave = pty.openpty()
    keyboard = Keyboard(slave)
    try:
        os.write(master, b"4\nn\x1b[Aq")  # an arrow key in between is dropped
        assert keyboard.read(5.0) == "4\nnq"
        assert keyboard.read(0.01) == ""
        os.write(master, "é1\r".encode())
        assert keyboard.read(5.0) == "é1\n"  # the terminal turns Enter (\r) into \n
    finally:
        keyboard.restore()
        os.close(master)
        os.close(slave)


def _status(**changes) -> LiveStatus:
    values = dict(seconds=12.3, level_db=-23.4, preset="heartbeat", bypass=False, meters=[(k, k / 15) for k in range(16)],
                  load_p50=0.041, load_max=0.35, xruns=2, errors=0, failed_recordings=0)
    values.update(changes)
    return LiveStatus(**values)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_the_status_line_fits_the_terminal_and_clears_what_it_replaces(columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))
    stream = _Terminal()
    line = StatusLine(stream)
    line.show(format_status(_status(), width=line.width, typed="1"))
    line.show(format_status(_status(meters=[], preset="p"), width=line.width))  # shorter: must not leave the old tail
    redraws = stream.getvalue().split("\r")[1:]
    assert len(redraws) == 2
    for text in redraws:
        assert text.endswith("\x1b[K") and len(text) - len("\x1b[K") < columns
    assert "load p50/max 4%/35%" in format_status(_status())
    assert "kept 0▁ 1▁ 2▂" in format_status(_status())  # index, then the bar
    assert "toggle 1_" in redraws[0]


def test_without_a_terminal_the_status_is_a_plain_line_now_and_then():
    stream = io.StringIO()
    line = StatusLine(stream, log_every=3600.0)
    for _ in range(5):
        line.show(format_status(_status()))
    line.message("12.3 s: switched to breath")
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.splitlines() == [format_status(_status()), "12.3 s: switched to breath"]


class _FakeDevices:
    """Stands in for sounddevice: two devices whose names share a prefix."""

    class default:
        device = (0, 0)

    def query_devices(self, index=None):
        devices = [dict(index=0, name="systemx", max_input_channels=2, max_output_channels=2, hostapi=0, default_samplerate=48000.0),
                   dict(index=1, name="system", max_input_channels=2, max_output_channels=2, hostapi=0, default_samplerate=48000.0),
                   dict(index=2, name="USB Audio", max_input_channels=1, max_output_channels=0, hostapi=0, default_samplerate=44100.0)]
        return devices if index is None else devices[index]

    def query_hostapis(self):
        return [dict(name="JACK Audio Connection Kit")]


def test_an_exact_device_name_wins_over_a_longer_name_that_contains_it(monkeypatch):
    from realtime_nmf.live import devices as live_devices

    monkeypatch.setattr(live_devices, "sounddevice_module", lambda: _FakeDevices())
    assert live_devices.find_device("system", "input") == 1
    assert live_devices.find_device("SYSTEMX", "output") == 0
    assert live_devices.find_device("usb", "input") == 2
    with pytest.raises(DeviceError, match="'syst' matches several input devices"):
        live_devices.find_device("syst", "input")
    with pytest.raises(DeviceError, match="no output device has 'usb' in its name"):
        live_devices.find_device("usb", "output")


def test_exit_codes_are_distinct_and_documented(capsys):
    codes = [code for code, _ in EXIT_CODES]
    assert len(set(codes)) == len(codes)
    assert (ExitCode.OK, ExitCode.USER_ERROR, ExitCode.INTERRUPTED) == (0, 1, 130)
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = capsys.readouterr().out
    for code, meaning in EXIT_CODES:
        assert f"{code:>3}  {meaning}" in help_text


@pytest.mark.parametrize("args, message", [
    (["run", "--preset", "heartbeat"], "use headphones and pass --allow-feedback, or --output FILE"),
    (["run", "--preset", "heartbeat", "--input", "{clip}", "--output", "{clip}"], "--output '{clip}' is the input file (--input) under this or another name"),
    (["run", "--preset", "heartbeat", "--record", "x.wav", "--record-input", "x.wav", "--allow-feedback"],
     "--record and --record-input both name 'x.wav'"),
    (["run", "--preset", "heartbeat", "--input", "mic", "--output", "x.wav", "--record", "./x.wav"], "--output and --record both name"),
    (["run", "--preset", "{preset}", "--input", "mic", "--output", "{preset}"], "is the input file (--preset mine)"),
    (["run", "--preset", "heartbeat", "--input-channels", "0", "--allow-feedback"], "--input-channels '0' must list channels counted from 1"),
    (["run", "--preset", "heartbeat", "--input", "{clip}", "--output", "o.wav", "--input-channels", "1"], "--input-channels is for live runs"),
    (["train", "{clip}", "-o", "d.npz", "--threads", "many"], None),
])
def test_runs_that_would_destroy_a_file_or_feed_back_are_refused(args, message, tmp_path, capsys, monkeypatch):
    import soundfile as sf

    monkeypatch.chdir(tmp_path)
    clip = tmp_path / "clip.wav"
    sf.write(clip, np.zeros(4000, np.float32), 4000)
    before = clip.read_bytes()
    preset = tmp_path / "mine.yaml"
    from realtime_nmf.presets import load_preset

    load_preset("heartbeat").save(preset)
    args = [a.format(clip=clip, preset=preset) for a in args]
    files = sorted(p.name for p in tmp_path.iterdir())
    if message is None:  # malformed: argparse's status
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == ExitCode.USAGE
        return
    assert main(args) == ExitCode.USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("rtnmf: error: ") and message.format(clip=clip, preset=preset) in err, err
    assert clip.read_bytes() == before and not (tmp_path / "x.wav").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == files  # nothing written, nothing half-written
