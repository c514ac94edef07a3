"""Every default lives in realtime_nmf.defaults: the API, the command line and the preset schema read it from there.

In the spirit of python-soundfile's ``test_argspec.py``: each table row names a function
(or a command) and a parameter whose default must be one constant of
:mod:`realtime_nmf.defaults`, and the last test checks that every constant is covered.
"""

from __future__ import annotations

import inspect

import pytest

from realtime_nmf import defaults
from realtime_nmf.audition import audition
from realtime_nmf.batch import BatchRun
from realtime_nmf.cli import build_parser
from realtime_nmf.decompose import decompose, separate
from realtime_nmf.dictionary import Dictionary
from realtime_nmf.nmf import fit, initialize, solve_activations
from realtime_nmf.offline import process_file
from realtime_nmf.processors.latency import process_array
from realtime_nmf.processors.separator import SEPARATOR_PARAMETERS
from realtime_nmf.online_nmf import OnlineNMF, online_fit
from realtime_nmf.online_training import learn_dictionary_online
from realtime_nmf.training import learn_dictionary, learn_labelled_dictionary, resolve_stft_settings

#: (function, parameter, name of the constant in realtime_nmf.defaults)
API = [
    (fit, "n_components", "N_COMPONENTS"),
    (fit, "beta", "BETA"),
    (fit, "iterations", "TRAIN_ITERATIONS"),
    (fit, "tolerance", "TRAIN_TOLERANCE"),
    (fit, "init", "INIT"),
    (fit, "seed", "SEED"),
    (fit, "sparsity", "SPARSITY"),
    (initialize, "init", "INIT"),
    (initialize, "seed", "SEED"),
    (solve_activations, "beta", "BETA"),
    (solve_activations, "iterations", "CONVERGED_ITERATIONS"),
    (solve_activations, "tolerance", "CONVERGED_TOLERANCE"),
    (decompose, "iterations", "CONVERGED_ITERATIONS"),
    (decompose, "tolerance", "CONVERGED_TOLERANCE"),
    (decompose, "sparsity", "SPARSITY"),
    (separate, "mask", "MASK"),
    (separate, "mask_exponent", "MASK_EXPONENT"),
    (separate, "sparsity", "SPARSITY"),
    (separate, "iterations", "CONVERGED_ITERATIONS"),
    (separate, "tolerance", "CONVERGED_TOLERANCE"),
    (audition, "iterations", "CONVERGED_ITERATIONS"),
    (audition, "tolerance", "CONVERGED_TOLERANCE"),
    (process_file, "block_size", "BLOCK_SIZE"),
    (BatchRun, "pattern", "BATCH_PATTERN"),
    (resolve_stft_settings, "window", "WINDOW"),
    *[(function, name, constant) for function in (learn_dictionary, learn_labelled_dictionary) for name, constant in (
        ("n_components", "N_COMPONENTS"), ("beta", "BETA"), ("iterations", "TRAIN_ITERATIONS"), ("tolerance", "TRAIN_TOLERANCE"),
        ("window", "WINDOW"), ("power", "POWER"), ("init", "INIT"), ("seed", "SEED"), ("sparsity", "SPARSITY"))],
    (learn_labelled_dictionary, "target_label", "TARGET_LABEL"),
    (learn_labelled_dictionary, "background_label", "BACKGROUND_LABEL"),
    # online training: the same defaults as full batch, and its own
    *[(learn_dictionary_online, name, constant) for name, constant in (
        ("n_components", "N_COMPONENTS"), ("beta", "BETA"), ("window", "WINDOW"), ("power", "POWER"), ("init", "INIT"), ("seed", "SEED"),
        ("sparsity", "SPARSITY"))],
    *[(function, name.lower()[len("online_"):], name) for function in (online_fit, learn_dictionary_online) for name in (
        "ONLINE_BATCH_FRAMES", "ONLINE_PASSES", "ONLINE_FORGET", "ONLINE_SOLVER_ITERATIONS", "ONLINE_SOLVER_TOLERANCE",
        "ONLINE_RUN_FRAMES", "ONLINE_INIT_FRAMES")],
    (OnlineNMF, "solver_iterations", "ONLINE_SOLVER_ITERATIONS"),
    (OnlineNMF, "solver_tolerance", "ONLINE_SOLVER_TOLERANCE"),
]

#: separator parameter (preset key, ``rtnmf preset new`` flag) -> constant
SEPARATOR = {
    "mask": "MASK",
    "mask_exponent": "MASK_EXPONENT",
    "iterations": "SOLVER_ITERATIONS",
    "tolerance": "SOLVER_TOLERANCE",
    "sparsity": "SPARSITY",
    "flat_start": "FLAT_START",
    "batch_frames": "BATCH_FRAMES",
}

#: ``rtnmf train`` destination -> constant
TRAIN_CLI = {
    "n_components": "N_COMPONENTS",
    "beta": "BETA",
    "iterations": "TRAIN_ITERATIONS",
    "tolerance": "TRAIN_TOLERANCE",
    "init": "INIT",
    "seed": "SEED",
    "sparsity": "SPARSITY",
}

#: Dictionary fields with a default -> constant
DICTIONARY = {"window": "WINDOW", "beta": "BETA", "power": "POWER"}

#: Constants that are not parameter defaults: they are checked by the tests named here.
NOT_PARAMETERS = {
    "EPS": "test_nmf (the epsilon of every update)",
    "WINDOW_SECONDS": "test_window_length_defaults",
    "HOP_DIVISOR": "test_window_length_defaults",
    "MIN_SAMPLE_RATE": "test_hostile_audio, test_hostile_dictionary (the rates a file may declare)",
    "MAX_SAMPLE_RATE": "test_hostile_audio, test_hostile_dictionary (the rates a file may declare)",
    "TRAIN_MAX_MEMORY_FRACTION": "test_train_cli_online_defaults (rtnmf train's default --max-memory)",
}


@pytest.mark.parametrize("function, name, constant", API, ids=[f"{f.__name__}.{n}" for f, n, _ in API])
def test_api_defaults_come_from_defaults(function, name, constant):
    parameter = inspect.signature(function).parameters[name]
    assert parameter.default == getattr(defaults, constant), f"{function.__module__}.{function.__name__}({name}=...)"


def test_process_array_block_size_defaults_to_the_file_block():
    # None means defaults.BLOCK_SIZE (the result does not depend on it)
    assert inspect.signature(process_array).parameters["block_size"].default is None


def test_separator_parameters_presets_and_cli_share_the_defaults():
    assert {name: spec.default for name, spec in SEPARATOR_PARAMETERS.items()} == {
        name: getattr(defaults, constant) for name, constant in SEPARATOR.items()}
    # rtnmf preset new: one flag per separator parameter, None when not given (the preset then stores nothing)
    parser = build_parser()
    args = parser.parse_args(["preset", "new", "p", "--dictionary", "d.npz", "--keep", "0"])
    assert all(getattr(args, name) is None for name in SEPARATOR_PARAMETERS)
    flags = {action.dest for action in _subparser(parser, "preset", "new")._actions}
    assert set(SEPARATOR_PARAMETERS) <= flags


def test_train_cli_defaults_are_the_library_defaults():
    args = build_parser().parse_args(["train", "x.wav", "-o", "d.npz"])
    assert {dest: getattr(args, dest) for dest in TRAIN_CLI} == {dest: getattr(defaults, c) for dest, c in TRAIN_CLI.items()}
    assert args.sample_rate is None and args.n_fft is None and args.hop_length is None  # chosen from the audio


def test_train_cli_online_defaults():
    import os

    from realtime_nmf.cli.train import default_max_memory

    args = build_parser().parse_args(["train", "x.wav", "-o", "d.npz"])
    # not given: None, so that learn_dictionary_online's defaults (checked above) apply and a stray flag is told
    assert (args.online, args.batch_frames, args.passes, args.forget) == (False, None, None, None)
    assert not hasattr(args, "max_memory")
    from realtime_nmf.cli.train import memory_available

    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < memory_available() <= physical
    assert default_max_memory() == int(memory_available() * defaults.TRAIN_MAX_MEMORY_FRACTION)


def test_batch_cli_default_pattern_is_the_library_default():
    args = build_parser().parse_args(["batch", "--preset", "p", "in", "-o", "out"])
    assert args.pattern == defaults.BATCH_PATTERN and args.jobs is None  # None: the usable cores


def test_dictionary_field_defaults():
    fields = Dictionary.__dataclass_fields__
    assert {name: fields[name].default for name in DICTIONARY} == {name: getattr(defaults, c) for name, c in DICTIONARY.items()}


def test_window_length_defaults():
    assert defaults.default_n_fft(4000) == 256 and defaults.default_n_fft(44100) == 2048
    assert defaults.default_n_fft(1 / defaults.WINDOW_SECONDS * 1024) == 1024
    assert defaults.default_hop_length(2048) == 2048 // defaults.HOP_DIVISOR


def test_every_default_is_covered():
    constants = {name for name, value in vars(defaults).items() if name.isupper() and not name.startswith("_")}
    covered = {c for _, _, c in API} | set(SEPARATOR.values()) | set(TRAIN_CLI.values()) | set(DICTIONARY.values()) | set(NOT_PARAMETERS)
    covered.add("BLOCK_SIZE")
    assert constants == covered, f"defaults not covered by a test: {sorted(constants - covered)}; stale rows: {sorted(covered - constants)}"


def _subparser(parser, *names):
    for name in names:
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return parser
