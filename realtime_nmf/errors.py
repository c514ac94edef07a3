"""Exception hierarchy: every error realtime_nmf raises on purpose derives from one root.

A user's mistake (a bad file, a bad preset, a bad number) raises a subclass of
:class:`RealtimeNMFError` whose message says what is wrong and how to fix it; the
command-line program prints that message on one line and exits non-zero, without a
traceback.
"""

from __future__ import annotations

__all__ = [
    "RealtimeNMFError",
    "ParameterError",
    "AudioFileError",
    "OutputError",
    "DictionaryError",
    "PresetError",
    "ProcessorError",
    "DeviceError",
]


class RealtimeNMFError(Exception):
    """Root of every exception realtime_nmf raises on purpose."""


class ParameterError(RealtimeNMFError, ValueError):
    """A value given to a function, a command or a preset is out of range or of the wrong type."""


class AudioFileError(RealtimeNMFError, OSError):
    """An audio file cannot be read or written."""


class OutputError(RealtimeNMFError, OSError):
    """An output file (dictionary, preset, audio) cannot be written: bad folder, no permission, disk full."""


class DictionaryError(RealtimeNMFError):
    """A dictionary file is missing, truncated, corrupt, foreign or inconsistent."""


class PresetError(RealtimeNMFError, ValueError):
    """A preset is missing, not valid YAML, or does not follow the preset schema."""


class ProcessorError(RealtimeNMFError):
    """A processor name is not registered, or a processor cannot be built."""


class DeviceError(RealtimeNMFError):
    """An audio device does not exist, is busy, or refuses the requested settings."""
