"""The live path through a real PortAudio stream on a headless JACK server (no sound card).

Each test runs ``rtnmf run`` in a subprocess, as a user would, while the loopback harness
feeds known audio into the stream's input and records its output (see jack_harness.py).
"""

from __future__ import annotations

import re
from pathlib import Path
import signal
import time

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import soxr

from realtime_nmf.presets import Preset
from realtime_nmf.training import learn_dictionary

from .jack_harness import SR, Terminal, _no_stray_processes, jack_server, loopback, start_rtnmf, wait_for_recording  # noqa: F401  (fixtures)

pytestmark = pytest.mark.live


def _preset_at(rate: int, folder, stethoscope, name: str) -> str:
    """A preset whose dictionary is trained at ``rate`` on the synthetic stethoscope recording."""
    y = soxr.resample(stethoscope["mixture"][:40000], 4000, rate).astype(np.float32)
    dictionary = learn_dictionary([y], rate, n_components=8, iterations=30)
    dictionary_path = dictionary.save(folder / f"{name}.npz")
    return str(Preset(name=name, dictionary_path=dictionary_path, keep=[0, 2, 5], settings={"iterations": 10}).save(folder / f"{name}.yaml"))


def _test_signal(stethoscope, rate: int, seconds: float) -> np.ndarray:
    y = soxr.resample(stethoscope["mixture"], 4000, rate).astype(np.float32)
    y = np.tile(y, int(np.ceil(seconds * rate / len(y))))[: int(seconds * rate)]
    return np.stack([y, 0.5 * y[::-1]], axis=1)


def _finish(process, sig=signal.SIGINT, timeout=60):
    """Stop a run with ``sig`` (None: wait for its end); check its exit status: 130 when stopped by a signal, else 0."""
    expected = 0
    if sig is not None and process.poll() is None:
        process.send_signal(sig)
        expected = 130
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == expected, stderr
    assert "Traceback" not in stderr
    return stdout


def _summary_number(summary: str, pattern: str) -> float:
    match = re.search(pattern, summary)
    assert match, (pattern, summary)
    return float(match.group(1))


def test_devices_are_listed(jack_server):
    process = start_rtnmf("devices")
    out = _finish(process, sig=None)
    assert "system" in out and "<>" in out and "JACK" in out


def test_freewheel_live_output_equals_file_mode(jack_server, loopback, stethoscope, tmp_path):
    """The stream's output is the file-mode output of the same input, delayed by the reported latency."""
    preset = _preset_at(SR, tmp_path, stethoscope, "p48")
    process = start_rtnmf("run", "--preset", preset, "--record", tmp_path / "live.wav", "--record-input", tmp_path / "input.wav", "--quiet",
                          "--allow-feedback")
    loopback.connect()
    fed = _test_signal(stethoscope, SR, 6.0)
    captured = loopback.play(fed, freewheel=True)
    summary = _finish(process)
    assert "engine errors: 0" in summary
    live, _ = sf.read(tmp_path / "live.wav", dtype="float32", always_2d=True)
    raw, _ = sf.read(tmp_path / "input.wav", dtype="float32", always_2d=True)
    # the engine saw exactly the fed signal (somewhere after the stream started)
    start = int(np.flatnonzero(np.abs(raw[:, 0]) > 0)[0])
    first = int(np.flatnonzero(np.abs(fed[:, 0]) > 0)[0])
    offset = start - first
    np.testing.assert_array_equal(raw[offset : offset + len(fed)], fed)
    # file mode on the same input, through the same preset
    assert _finish(start_rtnmf("run", "--preset", preset, "--input", tmp_path / "input.wav", "--output", tmp_path / "file.wav"), sig=None)
    reference, _ = sf.read(tmp_path / "file.wav", dtype="float32", always_2d=True)
    latency = int(_summary_number(summary, r"delays by ([\d.]+) samples"))
    assert latency == 2047  # n_fft 2048 at 48 kHz, no resampling
    n = min(len(live) - latency, len(reference))
    np.testing.assert_allclose(live[latency : latency + n], reference[:n], atol=2e-5)
    # and what reached the JACK "speakers" is what the engine recorded
    aligned = captured[: len(fed)]
    expected = live[offset : offset + len(fed)]
    np.testing.assert_allclose(aligned, expected, atol=1e-6)


def test_real_time_run_reports_its_latency(jack_server, loopback, stethoscope, tmp_path):
    """Ten seconds in real time with the bundled 4 kHz preset on a 48 kHz device (resampled in the stream).

    The delay the summary reports is the measured one. Pace is not asserted (a shared
    machine slows real time down): the summary prints it, and python -m tools.benchmarks.live_pace measures it.
    """
    process = start_rtnmf("run", "--preset", "heartbeat", "--duration", "10", "--block-size", "256", "--record", tmp_path / "rec.wav",
                          "--quiet", "--allow-feedback")
    loopback.connect()
    fed = _test_signal(stethoscope, SR, 6.0)
    captured = loopback.play(fed, tail=SR // 2)
    summary = _finish(process, sig=None)
    assert "engine errors: 0" in summary and "blocks lost: 0" in summary
    info = sf.info(str(tmp_path / "rec.wav"))
    assert info.frames == 10 * SR and info.samplerate == SR
    # measured input-to-output delay against the file-mode output of the fed signal
    sf.write(tmp_path / "fed.wav", fed, SR, subtype="FLOAT")
    assert _finish(start_rtnmf("run", "--preset", "heartbeat", "--input", tmp_path / "fed.wav", "--output", tmp_path / "file.wav"), sig=None)
    reference, _ = sf.read(tmp_path / "file.wav", dtype="float32", always_2d=True)
    a, b = captured[SR : 5 * SR, 0], reference[SR : 5 * SR, 0]
    correlation = scipy.signal.correlate(a, b, mode="full", method="fft")
    measured = int(scipy.signal.correlation_lags(len(a), len(b), mode="full")[np.argmax(correlation)])
    reported = _summary_number(summary, r"delays by ([\d.]+) samples") + 256  # the engine, then one fixed block
    assert abs(measured - reported) <= 0.0015 * SR, (measured, reported, summary)


def test_device_selection_by_name_and_index_and_a_missing_device(jack_server, tmp_path):
    for device in ("system", "0"):
        out = _finish(start_rtnmf("run", "--preset", "heartbeat", "--input-device", device, "--output-device", device, "--duration", "0.5", "--quiet",
                                  "--allow-feedback"), sig=None)
        assert "live run: 0.5 s" in out
    process = start_rtnmf("run", "--preset", "heartbeat", "--input-device", "USB microphone", "--duration", "0.5", "--allow-feedback")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1 and "Traceback" not in stderr
    assert "no input device has 'USB microphone' in its name" in stderr and "system" in stderr
    process = start_rtnmf("run", "--preset", "heartbeat", "--output-device", "7", "--duration", "0.5", "--allow-feedback")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1 and "there is no audio device 7" in stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_during_a_live_recording_leaves_a_valid_file(jack_server, tmp_path, signum):
    process = start_rtnmf("run", "--preset", "heartbeat", "--record", tmp_path / "rec.wav", "--quiet", "--allow-feedback")
    wait_for_recording(tmp_path, 0.5)
    summary = _finish(process, sig=signum)
    assert "recording:" in summary and "finalised" in summary and "(stopped by Ctrl-C or a signal)" in summary
    info = sf.info(str(tmp_path / "rec.wav"))
    assert info.frames > SR // 2
    assert sf.read(tmp_path / "rec.wav")[0].shape[0] == info.frames


def test_dictionary_at_22050_hz_on_a_48_khz_device(jack_server, loopback, stethoscope, tmp_path):
    """The device refuses 22.05 kHz, so the stream resamples both ways; the output matches file mode."""
    preset = _preset_at(22050, tmp_path, stethoscope, "p22")
    process = start_rtnmf("run", "--preset", preset, "--quiet", "--allow-feedback")
    loopback.connect()
    fed = _test_signal(stethoscope, SR, 5.0)
    captured = loopback.play(fed, freewheel=True)
    summary = _finish(process)
    assert "processing at 22050 Hz (resampled in the stream, " in summary and "engine errors: 0" in summary
    sf.write(tmp_path / "fed.wav", fed, SR, subtype="FLOAT")
    assert _finish(start_rtnmf("run", "--preset", preset, "--input", tmp_path / "fed.wav", "--output", tmp_path / "file.wav"), sig=None)
    reference, _ = sf.read(tmp_path / "file.wav", dtype="float32", always_2d=True)
    delay = int(round(_summary_number(summary, r"delays by ([\d.]+) samples")))
    best = max(range(delay - 3, delay + 4), key=lambda d: float(np.dot(captured[d + SR : d + 4 * SR, 0], reference[SR : 4 * SR, 0])))
    a, b = captured[best + SR : best + 4 * SR, 0], reference[SR : 4 * SR, 0]
    snr = 10 * np.log10(np.sum(b**2) / np.sum((a - b) ** 2))
    assert snr > 25.0, snr


def test_keys_and_edits_switch_components_and_presets_while_running(jack_server, stethoscope, tmp_path):
    """Keys typed in a terminal (several in one write, as a paste or tmux send-keys gives them) and an edit on disk."""
    import yaml

    first = _preset_at(SR, tmp_path, stethoscope, "p48")
    second = tmp_path / "p48b.yaml"
    second.write_text(Path(first).read_text().replace("keep: [0, 2, 5]", "keep: [3]"))
    terminal = Terminal("run", "--preset", first, "--preset", second, "--allow-feedback")
    at = terminal.wait_for("keys:")  # the stream runs and the keyboard is read
    terminal.type(b"1\nn")  # a component number, Enter and a preset switch in one write
    at = terminal.wait_for("switched to p48b", after=at)
    assert "keeping components 0,1,2,5" in terminal.shown
    data = yaml.safe_load(second.read_text())
    data["keep"] = [1, 4]
    second.write_text(yaml.safe_dump(data))
    at = terminal.wait_for("p48b changed on disk: reloading", after=at)
    at = terminal.wait_for("switched to p48b", after=at)
    terminal.type(b"bq")
    stdout, status = terminal.finish()
    assert status == 0, terminal.shown
    assert "Traceback" not in terminal.shown
    events = "\n".join(line for line in stdout.splitlines() if line.startswith("event:"))
    for text in ("keeping components 0,1,2,5", "switched to p48b", "p48b changed on disk: reloading", "bypass on"):
        assert text in events, events
    assert "engine errors: 0" in stdout
    # the status line fits the 80-column terminal: no redraw is longer than a line
    redraws = [part.split("\x1b[K")[0] for part in terminal.shown.split("\r") if "load p50/max" in part]
    assert redraws and max(len(line) for line in redraws) < 80, max(redraws, key=len)


def test_a_refused_switch_changes_nothing(jack_server, stethoscope, tmp_path):
    """A preset edited on disk into one that cannot run in this stream is refused once; the old one keeps running."""
    first = _preset_at(SR, tmp_path, stethoscope, "p48")
    second = tmp_path / "p48b.yaml"
    second.write_text(Path(first).read_text().replace("keep: [0, 2, 5]", "keep: [3]"))
    other = Path(_preset_at(22050, tmp_path, stethoscope, "p22"))
    terminal = Terminal("run", "--preset", first, "--preset", second, "--allow-feedback")
    at = terminal.wait_for("keys:")
    terminal.type(b"n")
    at = terminal.wait_for("switched to p48b", after=at)
    second.write_text(other.read_text())  # now a 22.05 kHz dictionary: cannot run in a 48 kHz stream
    at = terminal.wait_for("not switched", after=at)
    terminal.type(b"p")
    at = terminal.wait_for("switched to p48\r", after=at)  # an event line (the terminal ends lines with \r\n)
    terminal.type(b"n")  # back to the p48b that was running, not the refused edit
    at = terminal.wait_for("switched to p48b", after=at)
    terminal.type(b"q")
    stdout, status = terminal.finish()
    assert status == 0, terminal.shown
    events = [line for line in stdout.splitlines() if line.startswith("event:")]
    assert sum("changed on disk" in line for line in events) == 1, events  # the refused edit is not retried
    assert sum("not switched" in line for line in events) == 1, events
    last_status = [part for part in terminal.shown.split("\r") if "load p50/max" in part][-1]
    assert "| p48b |" in last_status, last_status
    assert not any("keeping components" in line for line in events)
    # and presets that cannot run together are refused at the start, naming the fix
    process = start_rtnmf("run", "--preset", first, "--preset", other, "--allow-feedback", "--quiet")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1 and "Traceback" not in stderr
    assert "must share their dictionary's sample rate" in stderr and "rtnmf run --preset p22" in stderr, stderr


def test_a_failing_processor_does_not_stop_the_stream(jack_server, stethoscope, tmp_path):
    """A third-party processor that raises now and then: those blocks are silent, counted and named; the run goes on."""
    import textwrap

    plugin = tmp_path / "plugins"
    (plugin / "rtnmf_faulty").mkdir(parents=True)
    (plugin / "rtnmf_faulty" / "__init__.py").write_text(textwrap.dedent("""
        from realtime_nmf.processors import Processor

        class Faulty(Processor):
            name = "faulty"

            def _allocate(self):
                self.calls = 0

            def _process(self, block, out):
                self.calls += 1
                if self.calls % 50 == 0:
                    raise ValueError("processor fault for the test")
                out[...] = block
    """))
    (plugin / "rtnmf_faulty-1.0.dist-info").mkdir()
    (plugin / "rtnmf_faulty-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: rtnmf-faulty\nVersion: 1.0\n")
    (plugin / "rtnmf_faulty-1.0.dist-info" / "entry_points.txt").write_text("[realtime_nmf.processors]\nfaulty = rtnmf_faulty:Faulty\n")
    preset = Path(_preset_at(SR, tmp_path, stethoscope, "p48"))
    preset.write_text(preset.read_text() + "chain: [faulty, nmf]\n")
    process = start_rtnmf("run", "--preset", preset, "--duration", "3", "--record", tmp_path / "rec.wav", "--quiet", "--allow-feedback",
                          extra_path=plugin)
    summary = _finish(process, sig=None)
    errors = int(_summary_number(summary, r"engine errors: (\d+)"))
    assert errors >= 5 and "ValueError: processor fault for the test" in summary
    assert sf.info(str(tmp_path / "rec.wav")).frames == 3 * SR


def test_a_file_to_the_speakers_and_the_microphone_to_a_file(jack_server, loopback, stethoscope, tmp_path):
    """--input FILE plays a file through the engine to the output device; --input mic --output FILE records the result."""
    preset = _preset_at(SR, tmp_path, stethoscope, "p48")
    fed = _test_signal(stethoscope, SR, 3.0)
    sf.write(tmp_path / "in.wav", fed, SR, subtype="FLOAT")
    assert _finish(start_rtnmf("run", "--preset", preset, "--input", tmp_path / "in.wav", "--output", tmp_path / "file.wav"), sig=None)
    reference, _ = sf.read(tmp_path / "file.wav", dtype="float32", always_2d=True)

    # a file to the speakers: what reaches the JACK output is the file-mode output, delayed by the engine
    process = start_rtnmf("run", "--preset", preset, "--input", tmp_path / "in.wav", "--quiet")
    loopback.connect()
    captured = loopback.play(np.zeros((6 * SR, 2), np.float32), freewheel=False)
    summary = _finish(process, sig=None)  # ends by itself after the file
    assert "engine errors: 0" in summary
    heard = np.flatnonzero(np.abs(captured[:, 0]) > 1e-4)
    assert heard.size > SR  # the stream started before the harness listened: compare a second from the middle
    segment = captured[heard[0] + SR // 2 : heard[0] + SR // 2 + SR // 2, 0]
    correlation = scipy.signal.correlate(reference[:, 0], segment, mode="valid", method="fft")
    offset = int(np.argmax(correlation))
    expected = reference[offset : offset + len(segment), 0]
    assert 10 * np.log10(np.sum(expected**2) / np.sum((segment - expected) ** 2)) > 40.0
    assert int(_summary_number(summary, r"delays by ([\d.]+) samples")) == 2047

    # the microphone to a file, for a given duration
    process = start_rtnmf("run", "--preset", preset, "--input", "mic", "--output", tmp_path / "mic.wav", "--duration", "2", "--quiet")
    loopback.connect()
    loopback.play(fed, tail=SR)
    summary = _finish(process, sig=None)
    assert "engine errors: 0" in summary and "mic.wav" in summary
    assert sf.info(str(tmp_path / "mic.wav")).frames == 2 * SR
