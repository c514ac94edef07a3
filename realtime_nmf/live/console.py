"""The terminal side of a live run: the key loop, the status line, the help text.

:func:`run_live` is what ``rtnmf run`` calls for a live run: it builds a
:class:`~realtime_nmf.live.session.LiveSession`, starts its stream, reads keys without
waiting (a component number and Enter toggles it, ``s`` saves the kept components into
the preset's file, ``n``/``p`` switch presets, ``b`` bypasses, ``q`` quits), redraws the
status line and returns the session's summary.
"""

from __future__ import annotations

import select
import sys
import time

import numpy as np

from ..presets import Preset
from .session import LiveOptions, LiveSession, LiveSummary

__all__ = ["run_live", "status_line", "help_text"]


def status_line(session: LiveSession, elapsed: float) -> str:
    """One line: time, input level, preset and meters of the kept components, callback load, xruns."""
    stats = session.engine.stats
    peak = stats.input_peak
    stats.input_peak = 0.0
    level = 20 * np.log10(max(peak, 1e-6))
    loads = stats.loads(last=200)
    meter = ""
    separator = session.separator()
    if separator is not None:
        h = separator.activations.mean(axis=1)
        kept = separator.keep
        top = max(float(h.max()), 1e-12)
        bars = " ▁▂▃▄▅▆▇█"
        meter = "".join(bars[min(8, int(9 * float(h[k]) / top))] for k in kept[:24])
    name = session.current_preset().name + (" BYPASS" if session.engine.bypass else "")
    parts = [f"{elapsed:7.1f} s", f"in {level:6.1f} dBFS", f"{name} [{meter}]",
             f"load {100 * (np.median(loads) if loads.size else 0):4.1f}%/{100 * (loads.max() if loads.size else 0):5.1f}%",
             f"xruns {stats.xruns}"]
    if stats.errors:
        parts.append(f"errors {stats.errors}")
    return " | ".join(parts)


def help_text(session: LiveSession, interactive: bool) -> str:
    """What is running and which keys do what."""
    preset = session.current_preset()
    lines = [f"live: {preset.name} at {session.device_rate} Hz (dictionary {preset.sample_rate} Hz), "
             f"{session.channels_in} in / {session.channels_out} out channels; Ctrl-C stops"]
    if interactive:
        lines.append("keys: a component number + Enter toggles it, s saves the kept ones into the preset file, n/p next/previous "
                     "preset, b bypass, q quit; edits to the preset file are picked up")
    if session.input_device is not None and session.output_device is not None:
        lines.append("use headphones: a microphone next to speakers feeds back")
    return "\n".join(lines)


def run_live(presets: list[Preset], options: LiveOptions) -> LiveSummary:
    """Open the devices, run until --duration, the end of the input file, 'q' or Ctrl-C; return the summary."""
    session = LiveSession(presets, options)
    stream = session.open_stream()
    interrupted = False
    keys = _Keyboard() if (not options.quiet and sys.stdin.isatty()) else None
    typed = ""
    try:
        with stream:
            if not options.quiet:
                print(help_text(session, sys.stdin.isatty()), file=sys.stderr)
            last_status = 0.0
            while True:
                key = keys.read(0.02) if keys is not None else (time.sleep(0.02) or "")
                if key:
                    if key == "q":
                        break
                    if key.isdigit():
                        typed += key
                    elif key in "\r\n" and typed:
                        session.toggle_component(int(typed))
                        typed = ""
                    elif key == "n":
                        session.switch_preset(+1)
                    elif key == "p":
                        session.switch_preset(-1)
                    elif key == "b":
                        session.toggle_bypass()
                    elif key == "s":
                        session.save_selection()
                if session.finished():
                    break
                now = time.monotonic()
                if now - last_status >= 0.25:
                    last_status = now
                    session.housekeeping()
                    if not options.quiet:
                        message = f" | {session.messages[-1]}" if session.messages else ""
                        line = status_line(session, session.audio_seconds) + message + (f" | toggle {typed}_" if typed else "")
                        print("\r" + line[:200].ljust(100), end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if keys is not None:
            keys.restore()
        if not options.quiet:
            print(file=sys.stderr)
        session.close()
    return session.summary(stream, interrupted)


class _Keyboard:
    """Single key presses from a terminal without waiting (POSIX); a no-op elsewhere."""

    def __init__(self):
        self._saved = None
        try:
            import termios
            import tty

            self._fd = sys.stdin.fileno()
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
        except Exception:
            self._saved = None

    def read(self, timeout: float) -> str:
        if self._saved is None:
            time.sleep(timeout)
            return ""
        ready, _, _ = select.select([sys.stdin], [], [], timeout)
        return sys.stdin.read(1) if ready else ""

    def restore(self) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._saved = None
