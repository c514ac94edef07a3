"""Hostile command-line values: every numeric flag of every command, fed NaN, infinities, huge and odd numbers.

Each value ends in a valid result (exit 0), one line ``rtnmf: error: ...`` (exit 1) or
argparse's usage message (exit 2): never a traceback, a hang or an allocation of what
the number asks for.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from realtime_nmf.cli import main

SR = 4000
VALUES = ["nan", "inf", "-inf", "-1", "0", "0.5", "1e30", "1e400", "9" * 5000, "", "\uff11\uff12", "0x10", "3"]


@pytest.fixture(scope="module")
def files(tmp_path_factory, stethoscope):
    folder = tmp_path_factory.mktemp("cli")
    sf.write(folder / "clip.wav", stethoscope["mixture"][: 2 * SR], SR, subtype="FLOAT")
    sf.write(folder / "heart.wav", stethoscope["heart"][: 2 * SR], SR, subtype="FLOAT")
    from realtime_nmf.training import learn_dictionary

    learn_dictionary([stethoscope["mixture"][: 2 * SR]], SR, n_components=4, iterations=5).save(folder / "d.npz")
    return folder


COMMANDS = {
    "train": (["train", "{d}/clip.wav", "-o", "{out}/t.npz", "--iterations", "3"],
              ["--n-components", "--beta", "--iterations", "--tolerance", "--n-fft", "--hop-length", "--seed", "--sparsity",
               "--sample-rate"]),
    "train --online": (["train", "{d}/clip.wav", "-o", "{out}/t.npz", "--online", "--passes", "1", "--n-components", "4"],
                       ["--batch-frames", "--passes", "--forget", "--start", "--end", "--n-components", "--sample-rate", "--latency-ms"]),
    "train --max-memory": (["train", "{d}/clip.wav", "-o", "{out}/t.npz", "--max-memory", "1K", "--passes", "1", "--n-components", "4"],
                           ["--max-memory"]),
    "train --target": (["train", "--target", "{d}/heart.wav", "{d}/clip.wav", "-o", "{out}/t.npz", "--iterations", "3", "--n-components", "4"],
                       ["--target-components"]),
    "run": (["run", "--preset", "heartbeat", "--input", "{d}/clip.wav", "--output", "{out}/o.wav"], ["--block-size"]),
    "preset new": (["preset", "new", "p", "--dictionary", "{d}/d.npz", "--keep", "0", "-o", "{out}/p.yaml"],
                   ["--mask-exponent", "--iterations", "--tolerance", "--sparsity", "--flat-start", "--batch-frames"]),
    "evaluate": (["evaluate", "--reference", "{d}/heart.wav", "--estimate", "{d}/clip.wav", "--mixture", "{d}/clip.wav"],
                 ["--latency", "--max-latency"]),
}
CASES = [(command, flag, value) for command, (_, flags) in COMMANDS.items() for flag in flags for value in VALUES]


@pytest.mark.filterwarnings("error::RuntimeWarning")  # an overflow warning would reach the user's terminal
@pytest.mark.parametrize("command, flag, value", CASES, ids=[f"{c}-{f}-{v[:8]!r}" for c, f, v in CASES])
def test_any_value_of_any_flag_is_a_result_or_one_clear_error(files, tmp_path, capfd, command, flag, value):
    args = [a.format(d=files, out=tmp_path) for a in COMMANDS[command][0]]
    if flag in args:  # replace the value the command line already has
        index = args.index(flag)
        args[index + 1] = value
    else:
        args += [flag, value]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse refused the value: usage and exit 2
        code = exc.code
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Warning" not in err, err
    assert code in (0, 1, 2), err
    if code == 1:
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("note: ")]
        assert len(lines) == 1 and lines[0].startswith("rtnmf: error: "), err
    if code == 0 and command == "run":
        assert np.isfinite(sf.read(tmp_path / "o.wav")[0]).all()
