"""The plugin host's processors: the interface, the chain, the registry and the built-ins."""

from .base import Parameter, Processor
from .chain import Chain
from .effects import BandPass, Gain, HighPass, LowPass
from .registry import ENTRY_POINT_GROUP, available_processors, get_processor_class
from .separator import NMFSeparator

__all__ = [
    "Parameter",
    "Processor",
    "Chain",
    "NMFSeparator",
    "Gain",
    "HighPass",
    "LowPass",
    "BandPass",
    "ENTRY_POINT_GROUP",
    "available_processors",
    "get_processor_class",
]
