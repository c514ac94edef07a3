"""realtime_nmf: real-time audio source separation with non-negative matrix factorisation.

Learn a dictionary of spectral templates from a recording, choose the components that
make up the sound you want (a heartbeat, a kick drum), and hear just that part of a
microphone signal or a file, frame by frame, with low latency.

Orientation: ``V (n_bins, n_frames) ~= W (n_bins, n_components) @ H (n_components, n_frames)``
(scikit-learn uses the transpose). Audio blocks are ``(n_samples, n_channels)`` float32.

Importing this package opens no audio device; :mod:`realtime_nmf.live` is the only module
that imports sounddevice.
"""

from ._version import __version__

from .dictionary import Dictionary
from .errors import (
    AudioFileError,
    DeviceError,
    DictionaryError,
    IncompleteOutputError,
    OutputError,
    ParameterError,
    PresetError,
    ProcessorError,
    RealtimeNMFError,
)
from .offline import process_file
from .presets import Preset, list_presets, load_preset, new_preset
from .processors import BandPass, Chain, Gain, HighPass, LowPass, NMFSeparator, Processor, process_array
from .training import learn_dictionary, learn_labelled_dictionary, train_dictionary, train_labelled_dictionary

__all__ = [
    "__version__",
    "Dictionary",
    "learn_dictionary",
    "train_dictionary",
    "learn_labelled_dictionary",
    "train_labelled_dictionary",
    "NMFSeparator",
    "Processor",
    "Chain",
    "Gain",
    "HighPass",
    "LowPass",
    "BandPass",
    "Preset",
    "load_preset",
    "new_preset",
    "list_presets",
    "process_array",
    "process_file",
    "RealtimeNMFError",
    "ParameterError",
    "AudioFileError",
    "OutputError",
    "IncompleteOutputError",
    "DictionaryError",
    "PresetError",
    "ProcessorError",
    "DeviceError",
]
