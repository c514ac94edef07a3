"""Live audio: a preset's chain in the PortAudio callback, microphone (or a file) to speakers (or a file).

- :mod:`~realtime_nmf.live.engine`: :class:`LiveEngine`, the callback body on arrays
  (resampling in the stream, channel routing, switching, bypass, recording hand-off),
  with no device;
- :mod:`~realtime_nmf.live.devices`: the only module that imports sounddevice: devices,
  rates, the stream, and the bounded waits that keep a lost device from hanging the run;
- :mod:`~realtime_nmf.live.session`: :class:`LiveSession`, one run: checks at the start,
  switching presets and components, reloading edited presets, the watchdog; never prints;
- :mod:`~realtime_nmf.live.summary`: what a run reports: the status line's numbers and
  the summary with its exit status;
- :mod:`~realtime_nmf.live.console`: :func:`run_live`, the keys, the status line, signals;
- :mod:`~realtime_nmf.live.recorder`: the threads that write recordings and read an input
  file, off the audio thread.

Importing this package imports neither sounddevice nor PortAudio.
"""

from .console import run_live
from .devices import device_table, find_device, portaudio_stuck
from .engine import LiveEngine, LiveStats
from .session import LiveOptions, LiveSession
from .summary import LiveSummary

__all__ = ["run_live", "device_table", "find_device", "portaudio_stuck", "LiveEngine", "LiveStats", "LiveOptions", "LiveSession",
           "LiveSummary"]
