"""A private headless JACK server and a loopback harness for testing live audio without a sound card.

The server runs the dummy backend in synchronous mode (``-S``), so no samples are lost
between clients. Two JACK clients surround the program under test: a *feeder* whose
outputs replace the microphone (PortAudio's input ports) and a *recorder* that captures
what the program sends to the speakers (PortAudio's output ports), aligned with the feeder
by JACK frame time.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

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


def jack_env(name: str) -> dict:
    """Environment variables that point libjack (PortAudio, JACK-Client) at the server ``name``."""
    return dict(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1", JACK_NO_AUDIO_RESERVATION="1")


def _launch_jackd(name: str, log_path) -> subprocess.Popen:
    """Start jackd ``name`` and wait until a fresh PortAudio process sees its ``system`` device."""
    env = dict(os.environ, **jack_env(name))
    log = open(log_path, "w")
    # --no-realtime before -d (after "-d dummy", -r is the sample rate); -S: synchronous engine
    process = subprocess.Popen(["jackd", "--no-realtime", "-S", "-n", name, "-d", "dummy", "-r", str(SR), "-p", str(PERIOD), "-C", "2", "-P", "2"],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    ready = subprocess.run(["jack_wait", "-w", "-t", "10"], capture_output=True, env=env)
    if ready.returncode != 0:
        _terminate(process)
        raise RuntimeError(f"jackd did not start: {open(log_path).read()}")
    # the server answers before PortAudio clients always find it: wait until a fresh one does
    probe = "import sys, sounddevice as sd; sys.exit(0 if any(d['name'] == 'system' for d in sd.query_devices()) else 1)"
    deadline = time.time() + 20
    while subprocess.run([sys.executable, "-c", probe], capture_output=True, env=env).returncode != 0:
        if time.time() > deadline:
            _terminate(process)
            raise RuntimeError(f"PortAudio does not see the JACK server: {open(log_path).read()}")
        time.sleep(0.2)
    if process.poll() is not None:  # what answered was another live server of this name
        raise RuntimeError(f"jackd {name} exited: {open(log_path).read()}")
    return process


def _launch_named(prefix: str, folder) -> tuple[str, subprocess.Popen]:
    """Start jackd under the first free name of ``PREFIX-0`` .. ``PREFIX-3``.

    libjack's machine-wide registry holds eight servers. A server that dies without
    stopping (SIGKILL, or a test session killed at its time limit) leaves its entry behind,
    and jackd reclaims such an entry only for a server of the same name; fixed names
    keep the leftovers of earlier runs reusable instead of filling the registry.
    """
    errors = []
    for k in range(4):
        name = f"{prefix}-{k}"
        try:
            return name, _launch_jackd(name, folder / f"{name}.log")
        except RuntimeError as exc:  # a live server of that name (another test session): try the next one
            errors.append(str(exc))
    raise RuntimeError("no JACK server name was free: " + " | ".join(errors))


def _terminate(process: subprocess.Popen, timeout: float = 10.0) -> bool:
    """Stop a jackd; True if it had to be killed (then its registry entry is left behind: see PrivateJackServer)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)  # a stopped server cannot act on SIGTERM
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return process.returncode == -signal.SIGKILL


def start_jack_server(log_path) -> subprocess.Popen:
    """Start a private jackd (dummy backend, 48 kHz, period 256, 2 in/2 out) and point libjack at it.

    Sets ``JACK_DEFAULT_SERVER`` (and friends) in ``os.environ`` so that PortAudio,
    JACK-Client and child processes use it. Raises RuntimeError if it does not come up.
    """
    name, process = _launch_named("rtnmf-test", Path(log_path).parent)
    os.environ.update(jack_env(name))
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


class PrivateJackServer:
    """A JACK server of one test's own, which the test may kill or freeze (the session's server stays up).

    Child processes started with ``env=server.env`` use it. A jackd killed with SIGKILL
    leaves its entry in libjack's machine-wide registry (eight servers at most) and its
    clients' semaphores in /dev/shm, which would make later servers or clients of that
    name fail; :meth:`close` starts and cleanly stops a server of the same name, which
    frees the entry, and deletes the semaphores of this name.
    """

    def __init__(self, folder):
        self.folder = folder
        self.name, self.process = _launch_named("rtnmf-private", folder)
        self.env = dict(os.environ, **jack_env(self.name))
        self.killed = False

    def kill(self) -> None:
        """SIGKILL: the server disappears the way a crashed one (or an unplugged card's) does."""
        self.process.kill()
        self.process.wait()
        self.killed = True

    def freeze(self) -> None:
        """SIGSTOP: the server stays but answers nothing (a hung sound server)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def close(self) -> None:
        if _terminate(self.process, timeout=30.0):  # a server that was frozen can take a while to let its dead client go
            self.killed = True
        if self.killed:
            with contextlib.suppress(RuntimeError):
                _terminate(_launch_jackd(self.name, self.folder / f"{self.name}-reclaim.log"))
        for path in glob.glob(f"/dev/shm/jack_sem.*_{glob.escape(self.name)}_*"):
            with contextlib.suppress(OSError):
                os.unlink(path)


@pytest.fixture
def private_jack(jack_server, tmp_path):
    """A JACK server for one test, to kill or freeze (see :class:`PrivateJackServer`)."""
    server = PrivateJackServer(tmp_path)
    yield server
    server.close()


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
        self.signal = None  # the feeder sends silence and the recorder waits while the next play is set up
        self.start, self.position = None, 0
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


def start_rtnmf(*args, cwd=None, extra_path=None, env=None, stdin=None, stderr=subprocess.PIPE, preexec_fn=None) -> subprocess.Popen:
    """Start ``rtnmf`` (this checkout) in a subprocess that sees the test's JACK server (or ``env``'s)."""
    env = dict(os.environ if env is None else env, PYTHONPATH=os.pathsep.join(str(p) for p in (ROOT, extra_path) if p))
    process = subprocess.Popen([sys.executable, "-m", "realtime_nmf", *map(str, args)], stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
                               text=True, env=env, cwd=cwd, preexec_fn=preexec_fn)
    _STARTED.append(process)
    return process


def wait_for_recording(folder, seconds: float, timeout: float = 60.0, channels: int = 2) -> None:
    """Readiness: wait until a recording in progress (its hidden .part file) holds ``seconds`` of 48 kHz float audio."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        parts = [p for p in folder.iterdir() if p.name.endswith(".part")]
        if parts and max(p.stat().st_size for p in parts) >= seconds * SR * channels * 4:
            return
        time.sleep(0.05)
    raise AssertionError(f"no recording in {folder} reached {seconds} s")


class Terminal:
    """``rtnmf`` on a pseudo-terminal (stdin and stderr; stdout, the summary, on a pipe), 80 columns wide.

    :meth:`wait_for` reads what the program shows until a text appears: the readiness
    signal tests wait on instead of sleeping.
    """

    def __init__(self, *args, env=None, columns: int = 80):
        import fcntl
        import pty
        import struct
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        def controlling_terminal():  # as in a shell: Ctrl-C typed on the terminal sends SIGINT to the program
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.process = start_rtnmf(*args, env=env, stdin=slave, stderr=slave, preexec_fn=controlling_terminal)
        os.close(slave)
        self.shown = ""

    def _read(self, timeout: float) -> bool:
        import select

        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # the program ended and closed the terminal
            return False
        self.shown += data.decode("utf-8", errors="replace")
        return bool(data)

    def wait_for(self, text: str, *, after: int = 0, timeout: float = 60.0) -> int:
        """Wait until ``text`` appears in what was shown after position ``after``; return the position after it."""
        deadline = time.time() + timeout
        while text not in self.shown[after:]:
            if time.time() > deadline or (not self._read(0.1) and text not in self.shown[after:]):
                raise AssertionError(f"{text!r} did not appear; the terminal showed:\n{self.shown[-3000:]}")
        return self.shown.index(text, after) + len(text)

    def type(self, keys: bytes) -> None:
        """Write ``keys`` in one write, as a paste or ``tmux send-keys`` does."""
        os.write(self.master, keys)

    def finish(self, timeout: float = 30.0) -> tuple[str, int]:
        """Wait for the program to end (a hang detector, not a pace check); return (stdout, exit status)."""
        deadline = time.time() + timeout
        while self.process.poll() is None and time.time() < deadline:
            self._read(0.1)
        if self.process.poll() is None:
            self.process.kill()
            raise AssertionError(f"rtnmf did not end within {timeout} s; the terminal showed:\n{self.shown[-3000:]}")
        while self._read(0.05):
            pass
        stdout = self.process.stdout.read()
        os.close(self.master)
        return stdout, self.process.returncode
