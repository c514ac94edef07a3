"""A private headless JACK server and a loopback harness for testing live audio without a sound card.

The server runs the dummy backend in synchronous mode (``-S``), so no samples are lost
between clients. Two JACK clients surround the program under test: a *feeder* whose
outputs replace the microphone (PortAudio's input ports) and a *recorder* that captures
what the program sends to the speakers (PortAudio's output ports), aligned with the feeder
by JACK frame time.
"""

from __future__ import annotations

import ctypes.util
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from .conftest import ROOT

SR = 48000
PERIOD = 256


def _portaudio_missing() -> str | None:
    if ctypes.util.find_library("portaudio") is None:
        return "the PortAudio library is not installed (apt-get install libportaudio2; tools/run_tests.sh does it as root)"
    if shutil.which("jackd") is None:
        return "the JACK server is not installed (apt-get install jackd2; tools/run_tests.sh does it as root)"
    try:
        import jack  # noqa: F401
    except Exception as exc:  # the JACK-Client package or libjack missing
        return f"the JACK-Client package cannot be used ({exc})"
    return None


def start_jack_server(log_path) -> subprocess.Popen:
    """Start a private jackd (dummy backend, 48 kHz, period 256, 2 in/2 out) and point libjack at it.

    Sets ``JACK_DEFAULT_SERVER`` (and friends) in ``os.environ`` so that PortAudio,
    JACK-Client and child processes use it. Raises RuntimeError if it does not come up.
    """
    name = f"rtnmf-test-{os.getpid()}"
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1", JACK_NO_AUDIO_RESERVATION="1")
    log = open(log_path, "w")
    # --no-realtime before -d (after "-d dummy", -r is the sample rate); -S: synchronous engine
    process = subprocess.Popen(["jackd", "--no-realtime", "-S", "-n", name, "-d", "dummy", "-r", str(SR), "-p", str(PERIOD), "-C", "2", "-P", "2"],
                               stdout=log, stderr=subprocess.STDOUT)
    log.close()
    ready = subprocess.run(["jack_wait", "-w", "-t", "10"], capture_output=True)
    if ready.returncode != 0:
        stop_jack_server(process)
        raise RuntimeError(f"jackd did not start: {open(log_path).read()}")
    # the server answers before PortAudio clients always find it: wait until a fresh one does
    probe = "import sys, sounddevice as sd; sys.exit(0 if any(d['name'] == 'system' for d in sd.query_devices()) else 1)"
    deadline = time.time() + 20
    while subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode != 0:
        if time.time() > deadline:
            stop_jack_server(process)
            raise RuntimeError(f"PortAudio does not see the JACK server: {open(log_path).read()}")
        time.sleep(0.2)
    if "sounddevice" in sys.modules:  # PortAudio looks for JACK only when it initialises
        sd = sys.modules["sounddevice"]
        sd._terminate()
        sd._initialize()
    return process


def stop_jack_server(process: subprocess.Popen) -> None:
    """Stop the server (after PortAudio in this process has let go of it)."""
    if "sounddevice" in sys.modules:  # PortAudio must let go of JACK before jackd stops
        sys.modules["sounddevice"]._terminate()
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if "sounddevice" in sys.modules:
        sys.modules["sounddevice"]._initialize()


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory):
    """A private headless JACK server for the session (skips with the reason when it cannot run here)."""
    reason = _portaudio_missing()
    if reason:
        pytest.skip(reason)
    saved = {key: os.environ.get(key) for key in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER", "JACK_NO_AUDIO_RESERVATION")}
    try:
        process = start_jack_server(tmp_path_factory.mktemp("jack") / "jackd.log")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield os.environ["JACK_DEFAULT_SERVER"]
    finally:
        stop_jack_server(process)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Loopback:
    """feeder:out_i -> PortAudio:in_i (the microphone); PortAudio:out_i -> recorder:in_i (the speakers)."""

    _count = 0

    def __init__(self, channels: int = 2):
        import jack

        Loopback._count += 1
        tag = f"{os.getpid()}-{Loopback._count}"
        self.channels = channels
        self.feeder = jack.Client(f"feeder-{tag}", no_start_server=True)
        self.recorder = jack.Client(f"recorder-{tag}", no_start_server=True)
        self.outs = [self.feeder.outports.register(f"out_{i}") for i in range(channels)]
        self.ins = [self.recorder.inports.register(f"in_{i}") for i in range(channels)]
        self.signal = None
        self.recording = None
        self.total = self.tail = 0
        self.loop = False
        self.start = None
        self.position = 0
        self.done = threading.Event()
        self.feeder.set_process_callback(self._feed)
        self.recorder.set_process_callback(self._record)
        self.feeder.activate()
        self.recorder.activate()

    def _feed(self, frames):
        if self.signal is None:
            for port in self.outs:
                port.get_array().fill(0)
            return
        if self.start is None:
            self.start = self.feeder.last_frame_time
        n = max(0, min(frames, self.total - self.position))
        for i, port in enumerate(self.outs):
            array = port.get_array()
            if self.loop:
                index = (self.position + np.arange(n)) % len(self.signal)
                array[:n] = self.signal[index, i % self.signal.shape[1]]
            else:
                array[:n] = self.signal[self.position : self.position + n, i % self.signal.shape[1]]
            array[n:] = 0
        self.position += frames
        if self.recording is None and self.position >= self.total + self.tail:
            self.done.set()

    def _record(self, frames):
        if self.start is None or self.recording is None or self.recording.shape[0] == 0:
            return
        offset = self.recorder.last_frame_time - self.start
        if offset < 0:
            return
        if offset >= len(self.recording):
            self.done.set()
            return
        n = min(frames, len(self.recording) - offset)
        for i, port in enumerate(self.ins):
            self.recording[offset : offset + n, i] = port.get_array()[:n]

    def connect(self, timeout: float = 30.0) -> None:
        """Wait for a PortAudio stream's ports to appear, then wire the feeder and recorder to them."""
        def ports():
            inputs = [p for p in self.feeder.get_ports(is_audio=True, is_input=True) if re.match(r"^PortAudio[^:]*:in_\d+$", p.name)]
            outputs = [p for p in self.feeder.get_ports(is_audio=True, is_output=True) if re.match(r"^PortAudio[^:]*:out_\d+$", p.name)]
            return inputs, outputs

        deadline = time.time() + timeout
        while time.time() < deadline:
            inputs, outputs = ports()
            if inputs or outputs:
                time.sleep(0.2)  # an input and output stream registers both sides
                inputs, outputs = ports()
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no PortAudio stream appeared on the JACK server")
        for i, port in enumerate(inputs):
            for source in self.feeder.get_all_connections(port):
                self.feeder.disconnect(source, port)  # drop the dummy capture's silence
            self.feeder.connect(self.outs[i % self.channels], port)
        for i, port in enumerate(outputs[: self.channels]):
            self.feeder.connect(port, self.ins[i])

    def play(self, signal: np.ndarray, *, tail: int = SR, freewheel: bool = False, timeout: float | None = None,
             total: int | None = None, record: bool = True) -> np.ndarray | None:
        """Feed ``signal`` (n, channels) as the microphone; return what reached the speakers, aligned with it.

        With ``total`` longer than the signal, the signal is repeated; with ``record=False``
        nothing is kept (for long soak runs) and None is returned.
        """
        signal = np.asarray(signal, np.float32)
        if signal.ndim == 1:
            signal = signal[:, None]
        self.total = int(total or len(signal))
        self.loop = self.total > len(signal)
        self.tail = tail
        self.recording = np.zeros((self.total + tail, self.channels), np.float32) if record else None
        self.done.clear()
        if freewheel:
            self.feeder.set_freewheel(True)
        try:
            self.signal = np.ascontiguousarray(signal)
            if not self.done.wait(timeout or 10 + 3 * (self.total + tail) / SR):
                raise AssertionError("the JACK loopback timed out")
        finally:
            if freewheel:
                self.feeder.set_freewheel(False)
        return self.recording

    def close(self) -> None:
        for client in (self.feeder, self.recorder):
            client.deactivate()
            client.close()


@pytest.fixture
def loopback(jack_server):
    harness = Loopback()
    yield harness
    harness.close()


_STARTED: list = []


@pytest.fixture(autouse=True)
def _no_stray_processes():
    """Kill any rtnmf process a failing test left running (it would hold JACK ports)."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def start_rtnmf(*args, cwd=None, extra_path=None) -> subprocess.Popen:
    """Start ``rtnmf`` (this checkout) in a subprocess that sees the test's JACK server."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in (ROOT, extra_path) if p))
    process = subprocess.Popen([sys.executable, "-m", "realtime_nmf", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=cwd)
    _STARTED.append(process)
    return process
