"""Live audio: microphone (or a file) -> the streaming engine -> speakers (or a file).

The pieces: :mod:`realtime_nmf.live_devices` (PortAudio: devices, rates, the stream; the
only module that imports sounddevice), :mod:`realtime_nmf.live_session` (a run: engine,
recordings, switching, the watchdog), :mod:`realtime_nmf.live_console` (keys, status
line, the loop) and :mod:`realtime_nmf.live_summary` (what a run reports).
"""

from __future__ import annotations

from .live_devices import device_table, find_device, portaudio_stuck
from .live_session import LiveOptions, LiveSession
from .live_summary import LiveSummary

__all__ = ["LiveOptions", "LiveSession", "LiveSummary", "device_table", "find_device", "portaudio_stuck", "run_live"]


def run_live(presets, options: LiveOptions, **console) -> LiveSummary:
    """Open the devices, run until the end (printing the status line), return the summary."""
    from .live_console import run_console

    return run_console(LiveSession(presets, options), quiet=options.quiet, **console)
