"""The README runs as written: its Python blocks, its `rtnmf` commands and the demo output it shows.

- Every ```python block of README.md runs, in order, in one namespace and in an empty
  temporary folder (a block makes the files it needs, or uses those an earlier block made).
- Every `rtnmf ...` line of a ```bash block of README.md and of docs/*.md parses with the
  real argument parser (:func:`realtime_nmf.cli.build_parser`).
- The README's commands that need no audio device run for real, in order, in one
  temporary folder holding the files they name (:data:`FIXTURE_FILES`, made from the
  demo's synthesised recording); each must exit with status 0. Live commands (`rtnmf
  devices`, `rtnmf run` to the speakers or from the microphone) are only parsed.
- `rtnmf demo` runs and prints what the README and docs/installation.md show (the speed
  line aside, which is the machine's).
"""

from __future__ import annotations

import re
import shlex

import numpy as np
import pytest

from realtime_nmf.cli import build_parser, main

from .conftest import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"

#: Files the README's commands name, by what they hold (the demo recording's parts, 20 s at 4 kHz).
FIXTURE_FILES = {
    "clip.wav": "mixture",
    "recording.wav": "mixture",
    "mixture.wav": "mixture",
    "heart.wav": "heart",
    "heart_true.wav": "heart",
    "lung.wav": "breath",
    "recordings/p01/visit1.wav": "mixture",
    "recordings/p02/visit1.wav": "heart",
}


def code_blocks(text: str, language: str) -> list[str]:
    """The bodies of the fenced blocks of ``language`` in Markdown ``text``, in order."""
    return re.findall(rf"^```{re.escape(language)}\n(.*?)^```", text, flags=re.S | re.M)


def rtnmf_commands(block: str) -> list[list[str]]:
    """The argument lists of every ``rtnmf`` command in a shell block (comments dropped, ``&&`` chains split)."""
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            part, words = (words[: words.index("&&")], words[words.index("&&") + 1 :]) if "&&" in words else (words, [])
            if part and part[0] == "rtnmf":
                commands.append(part[1:])
    return commands


def is_live(argv: list[str]) -> bool:
    """True for commands that need an audio device: ``devices``, and ``run`` without a file in and a file out."""
    args = build_parser().parse_args(argv)
    if args.command == "devices":
        return True
    return args.command == "run" and (args.input in (None, "mic") or args.output is None)


def markdown_files() -> list:
    return [README] + sorted(DOCS.rglob("*.md"))


def test_the_readme_has_the_blocks_these_tests_read():
    text = README.read_text()
    assert code_blocks(text, "python") and code_blocks(text, "bash")
    assert len(text.splitlines()) <= 320  # a guide, not a lab notebook: figures and method tables live in docs/


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_rtnmf_command_parses(path):
    parser = build_parser()
    for block in code_blocks(path.read_text(), "bash"):
        for argv in rtnmf_commands(block):
            try:
                parser.parse_args(argv)
            except SystemExit as exc:  # argparse's way of refusing
                pytest.fail(f"{path.name}: `rtnmf {shlex.join(argv)}` does not parse (exit {exc.code})")


@pytest.fixture
def readme_folder(tmp_path, monkeypatch):
    """An empty folder as the working directory, with BLAS on one thread (the snippets train NMF)."""
    from threadpoolctl import threadpool_limits

    monkeypatch.chdir(tmp_path)
    with threadpool_limits(limits=1):
        yield tmp_path


def test_python_blocks_run_as_written(readme_folder, capsys):
    namespace: dict = {"__name__": "__readme__"}
    for number, block in enumerate(code_blocks(README.read_text(), "python")):
        exec(compile(block, f"README.md python block {number + 1}", "exec"), namespace)
    printed = capsys.readouterr().out
    sdri = float(re.search(r"SDRi ([+-][0-9.]+) dB", printed).group(1))
    assert sdri > 6  # the labelled heart dictionary separates the synthesised heartbeat
    assert (readme_folder / "heart_only.wav").is_file()


def test_readme_commands_run_for_real(readme_folder, capsys):
    from realtime_nmf.audio import write
    from realtime_nmf.demo import synthesize_stethoscope

    parts = synthesize_stethoscope(duration=20.0)
    for name, part in FIXTURE_FILES.items():
        (readme_folder / name).parent.mkdir(parents=True, exist_ok=True)
        write(name, parts[part], 4000)
    ran = []
    for block in code_blocks(README.read_text(), "bash"):
        for argv in rtnmf_commands(block):
            if is_live(argv) or argv[0] == "demo":  # the demo has its own test below
                continue
            status = main(argv)
            assert status == 0, f"`rtnmf {shlex.join(argv)}` exited with {status}: {capsys.readouterr().err}"
            ran.append(argv[0])
    assert {"train", "audition", "preset", "presets", "info", "run", "batch", "evaluate"} <= set(ran)
    assert (readme_folder / "filtered" / "p02" / "visit1.wav").is_file()
    assert (readme_folder / "audition" / "index.html").is_file() and (readme_folder / "heart_only.wav").is_file()


def _numbers(line: str) -> tuple[str, list[float]]:
    pattern = r"[+-]?\d+(?:\.\d+)?"
    return re.sub(pattern, "#", line), [float(x) for x in re.findall(pattern, line)]


def test_the_demo_prints_what_the_docs_show(readme_folder, capsys):
    assert main(["demo"]) == 0
    printed = capsys.readouterr().out.rstrip().splitlines()
    for path in (README, DOCS / "installation.md"):
        shown = next(block for block in code_blocks(path.read_text(), "text") if block.startswith("held-out second half"))
        shown = shown.rstrip().splitlines()
        assert len(printed) >= len(shown)
        for real, documented in zip(printed[-len(shown) :], shown):
            real_text, real_values = _numbers(real)
            shown_text, shown_values = _numbers(documented)
            assert real_text == shown_text, f"{path.name}: {documented!r} but the demo prints {real!r}"
            if not real.startswith("speed"):  # the speed is the machine's
                np.testing.assert_allclose(real_values, shown_values, atol=0.02, err_msg=f"{path.name}: {real}")


@pytest.mark.parametrize("path", [README, DOCS / "presets.md"], ids=lambda p: p.name)
def test_the_preset_examples_load(path, tmp_path):
    import shutil

    from realtime_nmf.presets import load_preset

    shutil.copy(ROOT / "presets" / "stethoscope.npz", tmp_path / "heartbeat.npz")  # the dictionary the examples name
    (block,) = code_blocks(path.read_text(), "yaml")
    (tmp_path / "example.yaml").write_text(block)
    preset = load_preset(str(tmp_path / "example.yaml"))
    assert preset.keep_indices == [0, 1, 2, 3, 5]
    assert len(preset.build()) == 3  # highpass, the separator, gain
