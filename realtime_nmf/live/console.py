"""The terminal side of a live run: keys, the status line, signals, and the loop that drives a session.

:func:`run_live` is what ``rtnmf run`` calls for live audio: it builds a session and
hands it to :func:`run_console`, which starts the
:class:`~realtime_nmf.live.session.LiveSession`, then every 20 ms reads the keys, polls the
session (which runs the watchdog), prints what happened and refreshes the status line,
until the run ends: ``--duration``, the end of the input file, ``q``, Ctrl-C, SIGTERM, a
lost device or a failed output. Keys: a component number and Enter keeps or drops it,
``s`` saves the kept components into the preset's file, ``n``/``p`` switch presets, ``b``
bypasses, ``q`` quits. Ctrl-C and SIGTERM only set a flag while the loop runs,
so the teardown always runs to its end; stopping takes at most about a second even
when the device hangs.
"""

from __future__ import annotations

import codecs
import os
import re
import select
import signal
import sys
import threading
import time

from ..presets import Preset
from .session import LiveOptions, LiveSession
from .summary import LiveStatus, LiveSummary

__all__ = ["run_live", "run_console", "Keyboard", "StatusLine", "format_status"]

_ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|O.|.)?")  # arrow keys, function keys: ignored


class Keyboard:
    """Key presses from a terminal without waiting (POSIX), read from the descriptor.

    Bytes are read with ``os.read`` into this object's own decoder, never through
    Python's buffered ``sys.stdin``, so every key of one write (a paste, fast typing,
    ``tmux send-keys 4 Enter``) is returned at once.

    Parameters
    ----------
    fd : int
        A terminal's file descriptor; it is put into cbreak mode (keys arrive one by
        one, Ctrl-C still interrupts) until :meth:`restore`.
    """

    def __init__(self, fd: int):
        import termios
        import tty

        self._fd = fd
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        self.closed = False  # the terminal went away (end of file)

    def read(self, timeout: float) -> str:
        """Every key typed since the last call, waiting up to ``timeout`` s for the first."""
        if self.closed:
            time.sleep(timeout)
            return ""
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return ""
        try:
            data = os.read(self._fd, 4096)
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return ""
        return _ESCAPE.sub("", self._decoder.decode(data))

    def restore(self) -> None:
        if self._saved is not None:
            import termios

            try:
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            except termios.error:
                pass
            self._saved = None


def _width(stream) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        import shutil

        return shutil.get_terminal_size().columns


class StatusLine:
    """One line redrawn in place on a terminal, or plain log lines every ``log_every`` s on a pipe or file.

    On a terminal the line is cut to the terminal's width (so it never wraps) and clears
    to the end of the line (so a shorter line leaves no stale tail); messages are printed
    above it.
    """

    def __init__(self, stream, *, log_every: float = 5.0):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.log_every = log_every
        self._logged = float("-inf")
        self._shown = ""
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "▁█…".encode(encoding)
            self.unicode = True
        except (UnicodeEncodeError, LookupError):
            self.unicode = False

    def fit(self, text: str) -> str:
        width = self.width  # the last column would wrap on some terminals
        if len(text) <= width:
            return text
        return text[: width - 1] + ("…" if self.unicode else ">")

    @property
    def width(self) -> int:
        """Columns a line may use (the terminal's width less one)."""
        return max(10, _width(self.stream) - 1)

    def show(self, text: str, *, force: bool = False) -> None:
        if self.tty:
            self._shown = text
            self.stream.write("\r" + self.fit(text) + "\x1b[K")
            self.stream.flush()
        elif force or time.monotonic() - self._logged >= self.log_every:
            self._logged = time.monotonic()
            self.stream.write(text + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        """A line that stays (an event, a warning), printed above the status line."""
        self.stream.write(("\r\x1b[K" if self.tty else "") + text + "\n")
        if self.tty and self._shown:
            self.stream.write(self.fit(self._shown) + "\x1b[K")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = ""


def format_status(status: LiveStatus, *, typed: str = "", unicode: bool = True, width: int | None = None) -> str:
    """The status line: time, preset, input level, load, xruns, then one meter per kept component.

    A meter is the component's index and a bar for its activation relative to the
    strongest kept component (``3▅``: component 3 at about 60 %). When ``width`` is given
    and the line is longer, the meters lose their indices (the bars stay in the order of
    the kept components); :meth:`StatusLine.fit` cuts what still does not fit.
    """
    bars = "▁▂▃▄▅▆▇█" if unicode else "_.:-=+*#"
    parts = [f"{status.seconds:6.1f} s"]
    if typed:
        parts.append(f"toggle {typed}_ (Enter)")
    parts.append(status.preset + (" BYPASS" if status.bypass else ""))
    parts.append(f"in {status.level_db:.0f} dBFS")
    parts.append(f"load p50/max {100 * status.load_p50:.0f}%/{100 * status.load_max:.0f}%")
    parts.append(f"xruns {status.xruns}")
    if status.errors:
        parts.append(f"errors {status.errors}")
    if status.failed_recordings:
        parts.append("RECORDING FAILED")
    line = " | ".join(parts)
    if not status.meters:
        return line
    levels = [bars[min(7, int(8 * level))] for _, level in status.meters]
    full = f"{line} | kept " + " ".join(f"{k}{bar}" for (k, _), bar in zip(status.meters, levels))
    if width is None or len(full) <= width:
        return full
    return f"{line} | kept " + "".join(levels)


def _help(session, stdin) -> str:
    preset = session.current_preset()
    lines = [f"live: {preset.name} at {session.device_rate} Hz (dictionary {preset.sample_rate} Hz), "
             f"{session.n_channels} channel(s) processed, {session.channels_out} out; Ctrl-C stops"]
    lines.append("status: time | preset | input peak | callback load (median/max of the last 200 blocks) | xruns | "
                 "kept: component index + its activation relative to the strongest")
    if stdin is not None and stdin.isatty():
        lines.append("keys: a component number + Enter keeps or drops it, s saves the kept ones into the preset file, "
                     "n/p next/previous preset, b bypass, q quit; "
                     "edits to the preset file are picked up")
    return "\n".join(lines)


class _Signals:
    """SIGINT, SIGTERM and SIGHUP: raise KeyboardInterrupt while starting, only set a flag while running and stopping."""

    def __init__(self):
        self.received: str | None = None
        self.raising = True
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):  # SIGHUP: the terminal closed
                if signum is not None:
                    self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name
        if self.raising:
            raise KeyboardInterrupt

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def _on_key(session, key: str, typed: str) -> tuple[bool, str]:
    """Act on one key; returns (quit, digits typed so far)."""
    if key in "qQ":
        return True, typed
    if key.isdigit():
        return False, typed + key
    if key in "\r\n":
        if typed:
            session.toggle_component(int(typed))
        return False, ""
    if key in "\x7f\b":
        return False, typed[:-1]
    if key == "n":
        session.switch_preset(+1)
    elif key == "p":
        session.switch_preset(-1)
    elif key == "b":
        session.toggle_bypass()
    elif key == "s":
        session.save_selection()
    return False, typed


def run_console(session, *, quiet: bool = False, stdin=None, stderr=None, refresh: float = 0.25) -> LiveSummary:
    """Start ``session``, run it until it ends, stop it and return its summary.

    Parameters
    ----------
    session : LiveSession
    quiet : bool
        No help, no status line, no keys (warnings and events are still in the summary).
    stdin, stderr : file objects, optional
        Default ``sys.stdin`` (keys, when it is a terminal) and ``sys.stderr``.
    """
    stdin = sys.stdin if stdin is None else stdin
    stderr = sys.stderr if stderr is None else stderr
    line = StatusLine(stderr)
    for warning in session.warnings:
        line.message(f"warning: {warning}")
    signals = _Signals()
    keys = None
    try:
        try:
            session.start()
        except BaseException:
            session.discard()
            raise
        signals.raising = False
        if not quiet and stdin is not None and stdin.isatty():
            try:
                keys = Keyboard(stdin.fileno())
            except Exception:  # not a POSIX terminal
                keys = None
        if not quiet:
            line.message(_help(session, stdin))
        reason, typed, shown_events, refreshed = None, "", 0, time.monotonic()
        interval = refresh if line.tty else line.log_every
        try:
            while reason is None:
                text = keys.read(0.02) if keys is not None else (time.sleep(0.02) or "")
                for key in text:
                    quit_now, typed = _on_key(session, key, typed)
                    if quit_now:
                        reason = "quit"
                        break
                if signals.received:
                    reason = "interrupted"
                reason = reason or session.poll()
                if not quiet:
                    for event in session.events[shown_events:]:
                        line.message(event)
                    shown_events = len(session.events)
                    now = time.monotonic()
                    if now - refreshed >= interval or (text and line.tty):
                        refreshed = now
                        line.show(format_status(session.status(), typed=typed, unicode=line.unicode,
                                                width=line.width if line.tty else None), force=True)
        except BaseException:
            session.stop("interrupted")  # a bug in the loop: still finalise the recordings
            raise
        if keys is not None:
            keys.restore()
        line.clear()
        return session.stop(reason)
    finally:
        if keys is not None:
            keys.restore()
        line.clear()
        signals.restore()


def run_live(presets: list[Preset], options: LiveOptions, **console) -> LiveSummary:
    """Open the devices, run until the end (with the status line unless ``options.quiet``), return the summary.

    ``console`` is passed to :func:`run_console` (``stdin``, ``stderr``, ``refresh``).
    """
    return run_console(LiveSession(presets, options), quiet=options.quiet, **console)
