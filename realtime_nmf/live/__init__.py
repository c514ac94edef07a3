"""Live audio: a preset's chain in the PortAudio callback, microphone (or a file) to speakers (or a file).

- :mod:`~realtime_nmf.live.engine`: :class:`LiveEngine`, the callback body on arrays
  (resampling in the stream, switching, bypass, recording hand-off), with no device;
- :mod:`~realtime_nmf.live.devices`: the only module that imports sounddevice: devices,
  rates, the stream;
- :mod:`~realtime_nmf.live.session`: :class:`LiveSession`, one run: switching presets and
  components, reloading edited presets, the summary; never prints;
- :mod:`~realtime_nmf.live.console`: :func:`run_live`, the keys and the status line;
- :mod:`~realtime_nmf.live.recorder`: the threads that write recordings and read an input
  file, off the audio thread.

Importing this package imports neither sounddevice nor PortAudio.
"""

from .console import run_live
from .devices import device_table, find_device
from .engine import LiveEngine, LiveStats
from .session import LiveOptions, LiveSession, LiveSummary

__all__ = ["run_live", "device_table", "find_device", "LiveEngine", "LiveStats", "LiveOptions", "LiveSession", "LiveSummary"]
