"""Processor registry: built-in processors plus those other packages register by entry point.

A third-party package makes a processor available to presets by declaring, in its
``pyproject.toml``::

    [project.entry-points."realtime_nmf.processors"]
    tremolo = "my_package.effects:Tremolo"

where ``Tremolo`` subclasses :class:`realtime_nmf.processors.Processor`. Presets can name
only registered processors; an import path in a preset is never followed.
"""

from __future__ import annotations

import re

from ..errors import ProcessorError
from .base import Processor
from .effects import BandPass, Gain, HighPass, LowPass
from .separator import NMFSeparator

__all__ = ["ENTRY_POINT_GROUP", "available_processors", "get_processor_class", "BUILTIN_PROCESSORS"]

ENTRY_POINT_GROUP = "realtime_nmf.processors"

BUILTIN_PROCESSORS: dict[str, type[Processor]] = {cls.name: cls for cls in (NMFSeparator, Gain, HighPass, LowPass, BandPass)}

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


def _entry_points() -> dict:
    import importlib.metadata  # only when a preset names a processor that is not built in (about 20 ms)

    found = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if _NAME.match(entry_point.name) and entry_point.name not in BUILTIN_PROCESSORS:
            found[entry_point.name] = entry_point
    return found


def available_processors() -> list[str]:
    """Names of every processor a preset can use: built-in ones, then registered ones."""
    return list(BUILTIN_PROCESSORS) + sorted(_entry_points())


def get_processor_class(name: str) -> type[Processor]:
    """The processor class registered under ``name``.

    Raises
    ------
    ProcessorError
        If no processor has that name (the message lists the known names), or if the
        registered object is not a :class:`Processor` subclass or fails to import.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ProcessorError(
            f"{name!r} is not a processor name; presets name registered processors such as "
            f"{', '.join(available_processors())}, never import paths"
        )
    if name in BUILTIN_PROCESSORS:
        return BUILTIN_PROCESSORS[name]
    entry_point = _entry_points().get(name)
    if entry_point is None:
        raise ProcessorError(f"no processor is registered as {name!r}; available: {', '.join(available_processors())}")
    try:
        cls = entry_point.load()
    except Exception as exc:  # a broken third-party package must not crash the host
        raise ProcessorError(f"processor {name!r} ({entry_point.value}) failed to load: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Processor)):
        raise ProcessorError(f"processor {name!r} ({entry_point.value}) is not a realtime_nmf Processor subclass")
    return cls
