"""The ``rtnmf`` command: parses arguments and assembles the library's pieces, nothing more.

Each subcommand's parser sits beside its command, one module per topic: ``train``,
``audition``, ``presets`` (``preset new``, ``presets``, ``info``), ``run`` (``run``,
``devices``), ``batch``, ``evaluate``, ``demo``.

A user's mistake ends the program with one line ``rtnmf: error: ...`` and exit status 1
(2 for malformed arguments); Ctrl-C, SIGTERM or SIGHUP ends it with status 130 after
finalising any output file (an interrupted file ``run`` keeps its output as ``NAME.partial.EXT``);
a lost audio device gives 3 and an output that could not be written completely 4
(:class:`realtime_nmf.errors.ExitCode`, listed by ``rtnmf run --help``); a reader that goes
away (``rtnmf info X | head``) ends it quietly with status 141, as SIGPIPE ends other
command-line tools.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from .._version import __version__
from ..errors import ExitCode, IncompleteOutputError, RealtimeNMFError
from . import audition, batch, demo, evaluate, presets, run, train
from .audition import AUDITION_ORDERS
from .common import exit_now, on_sigterm

__all__ = ["main", "build_parser", "AUDITION_ORDERS"]


def build_parser() -> argparse.ArgumentParser:
    """The ``rtnmf`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="rtnmf",
        description="Real-time audio source separation with NMF: train a dictionary, pick components, separate files or live audio.",
    )
    parser.add_argument("--version", action="version", version=f"realtime_nmf {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    train.add_parser(commands)
    audition.add_parser(commands)
    presets.add_parsers(commands)
    run.add_parsers(commands)
    batch.add_parser(commands)
    evaluate.add_parser(commands)
    demo.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rtnmf`` command. Returns the exit status (:class:`realtime_nmf.errors.ExitCode`).

    A live run does not return: once its recordings are finalised and its summary
    printed, the process ends with ``os._exit`` and the run's status (PortAudio may not
    let the interpreter exit after a lost device, and the run must end within a second of
    ``q`` or Ctrl-C whatever the device does).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    names = [name for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]  # a closed terminal ends a run like SIGTERM
    previous = {name: signal.signal(getattr(signal, name), on_sigterm) for name in names}
    try:
        status = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe can still be caught
    except BrokenPipeError:
        _silence_stdout()
        status = ExitCode.BROKEN_PIPE
    except IncompleteOutputError as exc:
        print(f"rtnmf: error: {exc}", file=sys.stderr)
        status = ExitCode.RECORDING_FAILED
    except RealtimeNMFError as exc:
        print(f"rtnmf: error: {exc}", file=sys.stderr)
        status = ExitCode.USER_ERROR
    except MemoryError:
        print("rtnmf: error: not enough memory for this; use shorter audio, fewer components or a smaller n_fft", file=sys.stderr)
        status = ExitCode.USER_ERROR
    except KeyboardInterrupt:
        print("rtnmf: interrupted; nothing half-written was left behind", file=sys.stderr)
        status = ExitCode.INTERRUPTED
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)
    devices = sys.modules.get(f"{__package__.rpartition('.')[0]}.live.devices")
    if devices is not None and devices.portaudio_stuck():
        exit_now(status)  # a PortAudio call never returned (a hung sound server): a normal exit would wait for it
    return status


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's last flush finds no closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
