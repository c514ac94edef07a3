"""The plugin host: the processor interface with its latency contract, the chain, the registry and the built-ins.

- :mod:`~realtime_nmf.processors.base`: :class:`Processor` and its declared :class:`Parameter`;
- :mod:`~realtime_nmf.processors.latency`: running a processor over data, latency compensated;
- :mod:`~realtime_nmf.processors.chain`: :class:`Chain`, processors in series (itself a processor);
- :mod:`~realtime_nmf.processors.registry`: processors by name, built-in and from other packages;
- :mod:`~realtime_nmf.processors.effects`: gain and Butterworth filters;
- :mod:`~realtime_nmf.processors.separator`: :class:`NMFSeparator` and its :class:`Masker`.

The hosts that run them: :mod:`realtime_nmf.offline` (files) and :mod:`realtime_nmf.live`
(the audio callback).
"""

from .base import Parameter, Processor
from .chain import Chain
from .latency import compensated_blocks, process_array
from .effects import BandPass, Gain, HighPass, LowPass
from .registry import ENTRY_POINT_GROUP, available_processors, get_processor_class
from .separator import Masker, NMFSeparator

__all__ = [
    "Parameter",
    "Processor",
    "Chain",
    "NMFSeparator",
    "Masker",
    "process_array",
    "compensated_blocks",
    "Gain",
    "HighPass",
    "LowPass",
    "BandPass",
    "ENTRY_POINT_GROUP",
    "available_processors",
    "get_processor_class",
]
