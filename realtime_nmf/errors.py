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
    "IncompleteOutputError",
    "DictionaryError",
    "PresetError",
    "ProcessorError",
    "DeviceError",
    "ExitCode",
    "EXIT_CODES",
    "exit_code_table",
]


class RealtimeNMFError(Exception):
    """Root of every exception realtime_nmf raises on purpose."""


class ParameterError(RealtimeNMFError, ValueError):
    """A value given to a function, a command or a preset is out of range or of the wrong type."""


class AudioFileError(RealtimeNMFError, OSError):
    """An audio file cannot be read or written."""


class OutputError(RealtimeNMFError, OSError):
    """An output file (dictionary, preset, audio) cannot be written: bad folder, no permission, disk full."""


class IncompleteOutputError(OutputError):
    """An output file failed while being written (disk full, device removed): exit status 4, not 1."""


class DictionaryError(RealtimeNMFError):
    """A dictionary file is missing, truncated, corrupt, foreign or inconsistent."""


class PresetError(RealtimeNMFError, ValueError):
    """A preset is missing, not valid YAML, or does not follow the preset schema."""


class ProcessorError(RealtimeNMFError):
    """A processor name is not registered, or a processor cannot be built."""


class DeviceError(RealtimeNMFError):
    """An audio device does not exist, is busy, or refuses the requested settings."""


class ExitCode:
    """Exit statuses of the ``rtnmf`` command, the same for every mode (files and live audio).

    When several apply, the first in this order wins: ``RECORDING_FAILED``,
    ``DEVICE_LOST``, ``INTERRUPTED``.
    """

    #: the run finished (end of the input, ``--duration`` or ``q``)
    OK = 0
    #: a user's mistake: a bad option, file, preset or device; nothing was run
    USER_ERROR = 1
    #: malformed command-line arguments (argparse)
    USAGE = 2
    #: the audio device was lost or stopped answering during a live run
    DEVICE_LOST = 3
    #: an output file or recording could not be written completely (disk full, device removed)
    RECORDING_FAILED = 4
    #: stopped by Ctrl-C or SIGTERM (files hold what was processed until then)
    INTERRUPTED = 130
    #: the reader of the standard output went away (``rtnmf info X | head``), as SIGPIPE ends other tools
    BROKEN_PIPE = 141


#: ``(status, meaning)`` for ``rtnmf run --help`` and the README.
EXIT_CODES = (
    (ExitCode.OK, "done: end of the input, --duration reached, or q"),
    (ExitCode.USER_ERROR, "a user error (bad option, file, preset or device); nothing was run"),
    (ExitCode.USAGE, "malformed arguments"),
    (ExitCode.DEVICE_LOST, "the audio device was lost or stopped answering; recordings hold what arrived until then"),
    (ExitCode.RECORDING_FAILED, "an output file or recording could not be written completely (e.g. disk full)"),
    (ExitCode.INTERRUPTED, "stopped by Ctrl-C or SIGTERM; files hold what was processed until then"),
    (ExitCode.BROKEN_PIPE, "the reader of the output went away (rtnmf info X | head); ended quietly"),
)


def exit_code_table() -> str:
    """The exit statuses, one per line (the epilog of ``rtnmf run --help``)."""
    return "\n".join(f"  {status:>3}  {meaning}" for status, meaning in EXIT_CODES)
