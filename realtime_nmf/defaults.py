"""The one place where default settings live.

The Python API, the command-line program and the preset schema all read their defaults
from here, so they cannot drift apart (``tests/test_defaults.py`` checks it).
"""

from __future__ import annotations

import math

#: Guard against division by zero and denormal numbers in every NMF update, mask and
#: divergence (added to denominators, used as the floor of activations and templates).
EPS = 1e-10

# --- training -------------------------------------------------------------------------
N_COMPONENTS = 16
#: beta 0.5, between Kullback-Leibler (1) and Itakura-Saito (0): the best of the divergences tried
#: on the heart+lung and drum benchmarks (python -m tools.benchmarks.quality; docs/quality.md),
#: as FitzGerald, Cranitch and Coyle (2009) found for musical sources.
BETA = 0.5
TRAIN_ITERATIONS = 200
TRAIN_TOLERANCE = 1e-4
INIT = "nndsvda"
SEED = 0
SPARSITY = 0.0
WINDOW = "hann"
#: Labels of a dictionary learned with target and background examples (``rtnmf train --target``).
TARGET_LABEL = "target"
BACKGROUND_LABEL = "background"
POWER = 1.0  # magnitude spectrogram
#: Target window length in seconds when ``n_fft`` is not given (see :func:`default_n_fft`).
WINDOW_SECONDS = 0.05
#: hop = n_fft // HOP_DIVISOR when the hop length is not given.
HOP_DIVISOR = 4

# --- separation (streaming engine) -----------------------------------------------------
SOLVER_ITERATIONS = 10
SOLVER_TOLERANCE = 0.0
BATCH_FRAMES = 8
FLAT_START = 0.2
MASK = "ratio"
MASK_EXPONENT = 1.0

# --- offline solves to convergence (decompose, audition, benchmarks) -------------------
#: Most updates, and the relative change of the activations that counts as converged,
#: wherever "solved to convergence" is meant: realtime_nmf.decompose, audition, the
#: benchmarks' offline reference.
CONVERGED_ITERATIONS = 500
CONVERGED_TOLERANCE = 1e-6

# --- hosting --------------------------------------------------------------------------
#: Samples per block in file mode (the output does not depend on it). Large enough that a block
#: holds a whole batch of frames at any common hop: with 1024, ``rtnmf run`` at hop 256 solved
#: batches of 4 and cost 2.1x the engine's batched cost per frame; with 16384, 1.2x.
BLOCK_SIZE = 16384
#: Inputs ``rtnmf batch`` takes from a folder: every WAV file at any depth.
BATCH_PATTERN = "**/*.wav"

# --- limits ---------------------------------------------------------------------------
#: Sample rates realtime_nmf reads (audio files, dictionaries), in Hz: a header claiming
#: another rate is refused (a WAV saying 2 GHz, or 1 Hz, which would resample a small
#: file into an enormous one).
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768000


def default_n_fft(sample_rate: float) -> int:
    """FFT size used when none is given: the power of two closest to 50 ms.

    Examples: 256 at 4 kHz, 512 at 8 kHz, 1024 at 16 and 22.05 kHz, 2048 at 44.1 and
    48 kHz.
    """
    return int(2 ** round(math.log2(WINDOW_SECONDS * float(sample_rate))))


def default_hop_length(n_fft: int) -> int:
    """Hop length used when none is given: a quarter of the window (75 % overlap)."""
    return max(1, int(n_fft) // HOP_DIVISOR)
