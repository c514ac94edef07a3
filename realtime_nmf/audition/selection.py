"""The data with which the audition page mixes and plays the ticked components itself.

A page opened from disk (``file://``) may not read the audio files beside it from a script
(browsers refuse ``fetch`` of local files), but it may run a script beside it. So the page
loads ``selection.js``, written here: the clip as analysed (mono, at the dictionary's
rate), the templates ``W``, the activations ``H`` and the STFT settings and windows. From
them the page's player (``assets/player.js``) recomputes, for any set of ticked
components ``K``, exactly what :func:`realtime_nmf.decompose.iter_component_signals` gives
with ``explained_only`` summed over ``K``: the clip's STFT times
``sum_K W_k h_k / (max(W H, V) + eps)``, resynthesised by overlap-add with the
least-squares synthesis window; and the rest, the clip minus that sum. Both play from one
position, so switching between them (or ticking another component) while playing keeps
the place.

The numbers are float32, little-endian, base64-encoded; the file is about four bytes per
sample of the clip, whatever the number of components.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from .. import defaults
from .._atomic import atomic_write
from ..dictionary import Dictionary
from ..stft import analysis_window, synthesis_window

__all__ = ["write_selection_data", "selection_data", "GLOBAL_NAME"]

#: The JavaScript global the data file defines.
GLOBAL_NAME = "RTNMF_SELECTION"


def _base64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def selection_data(dictionary: Dictionary, y: np.ndarray, H: np.ndarray) -> dict:
    """What ``selection.js`` holds, as JSON-ready data.

    Parameters
    ----------
    dictionary : Dictionary
    y : np.ndarray [shape=(n_samples,)]
        The clip as analysed.
    H : np.ndarray [shape=(n_components, n_frames)]
        Its activations (:func:`realtime_nmf.decompose.decompose`).
    """
    d = dictionary
    return {
        "sample_rate": d.sample_rate,
        "n_fft": d.n_fft,
        "hop_length": d.hop_length,
        "power": d.power,
        "eps": defaults.EPS,
        "length": int(y.shape[0]),
        "n_components": d.n_components,
        "n_frames": int(H.shape[1]),
        "analysis_window": _base64(analysis_window(d.window, d.n_fft, d.hop_length)),
        "synthesis_window": _base64(synthesis_window(d.window, d.n_fft, d.hop_length)),
        "W": _base64(d.W),  # (n_bins, n_components), row-major
        "H": _base64(H),  # (n_components, n_frames), row-major
        "y": _base64(y),
    }


def write_selection_data(path: str | Path, dictionary: Dictionary, y: np.ndarray, H: np.ndarray) -> Path:
    """Write ``selection.js`` (see the module docstring) atomically.

    Returns
    -------
    Path
    """
    text = f"window.{GLOBAL_NAME} = {json.dumps(selection_data(dictionary, y, H))};\n"
    path = Path(path)
    with atomic_write(path, "w") as handle:
        handle.write(text)
    return path
