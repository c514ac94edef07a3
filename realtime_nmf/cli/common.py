"""What every ``rtnmf`` command shares: progress bars, flags generated from parameter tables, signals."""

from __future__ import annotations

import argparse
import os
import sys

from ..processors.base import Parameter

__all__ = ["Interrupted", "on_sigterm", "progress_bar", "add_parameter_flags", "given_parameters", "flag_of", "threads_argument", "exit_now",
           "add_force_flag"]


class Interrupted(KeyboardInterrupt):
    """Raised by the SIGTERM handler so a termination finalises files like Ctrl-C does."""


def on_sigterm(signum, frame):
    raise Interrupted()


def progress_bar(total: int, unit: str, description: str):
    """A tqdm bar on stderr, shown only when stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=description, leave=False, disable=None, dynamic_ncols=True,
                unit_scale=unit == "samples")


def flag_of(name: str) -> str:
    """The command-line flag of a parameter: ``mask_exponent`` -> ``--mask-exponent``."""
    return "--" + name.replace("_", "-")


_METAVARS = {int: "N", float: "X", str: "TEXT"}


def add_parameter_flags(group, parameters: dict[str, Parameter]) -> None:
    """Add one flag per declared parameter, named after it, its default and help taken from the declaration.

    The flags default to None (not given), so that only what the user typed overrides a
    preset; :func:`given_parameters` collects them.
    """
    for name, spec in parameters.items():
        kind = spec.kind
        default = f"{spec.default:g}" if kind is float else spec.default
        if kind is bool:
            group.add_argument(flag_of(name), dest=name, default=None, action=argparse.BooleanOptionalAction,
                               help=f"{spec.doc} (default {default})")
            continue
        group.add_argument(flag_of(name), dest=name, type=kind, default=None, choices=spec.choices,
                           metavar=None if spec.choices else _METAVARS.get(kind, "VALUE"), help=f"{spec.doc} (default {default})")


def given_parameters(args: argparse.Namespace, parameters: dict[str, Parameter]) -> dict:
    """The parameters of ``parameters`` that were given on the command line."""
    return {name: getattr(args, name) for name in parameters if getattr(args, name, None) is not None}


def threads_argument(value: str) -> int:
    """``--threads N``: 1 or more, or 0 for the BLAS library's own default (one per core)."""
    try:
        threads = int(value)
    except ValueError:
        threads = -1
    if threads < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of threads (1 or more, or 0 for one per core)")
    return threads


def exit_now(status: int) -> None:
    """End the process at once with ``status`` (files must be finalised), skipping the exit handlers.

    For live runs: a hung PortAudio would block the interpreter's exit forever, and the
    interpreter's own teardown must not delay the end of a run that ``q`` or Ctrl-C ended.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(int(status))


def add_force_flag(parser, what: str) -> None:
    """``--force``: replace ``what`` when it exists (see :func:`realtime_nmf._atomic.check_new_file`)."""
    parser.add_argument("--force", action="store_true", help=f"replace {what} if it exists (by default an existing file is never replaced)")
