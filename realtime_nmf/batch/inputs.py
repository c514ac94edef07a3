"""The inputs of a batch: a folder walked for a pattern, or a list of files, streamed.

Inputs are named by their path relative to the input folder (POSIX separators); the
output of ``INPUT_DIR/REL`` is ``OUTPUT_DIR/REL``, so the output tree mirrors the input
tree. Neither the walk nor the list is ever held whole in memory: both are generators.
Hidden files and folders (names starting with ``.``) are skipped by the walk, as a shell
glob skips them, and the output folder is never walked.
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import sys
import threading
from pathlib import Path
from typing import Iterator

from .. import defaults
from ..errors import ParameterError

__all__ = ["compile_pattern", "BatchLayout", "walk", "read_list", "WAITING", "DEFAULT_PATTERN", "STAGING_NAME", "MANIFEST_NAME"]

DEFAULT_PATTERN = defaults.BATCH_PATTERN
#: Files of this name in the output folder belong to the batch itself.
MANIFEST_NAME = "rtnmf-batch.csv"
#: Hidden folder in the output folder where workers write; the parent moves finished files out of it.
STAGING_NAME = ".rtnmf-partial"

_TOKEN = re.compile(r"\*\*/|\*\*$|\*|\?|\[[^\]/]+\]|[^*?\[]+|\[")


def _tokens(pattern: str) -> list[str]:
    return _TOKEN.findall(pattern)


def compile_pattern(pattern: str) -> re.Pattern:
    """The regular expression that matches a glob pattern against a relative POSIX path.

    ``**/`` matches any number of folders (none included), ``*`` any part of one name,
    ``?`` one character, ``[abc]`` or ``[!abc]`` one character of (not of) a set.
    Matching is case-sensitive, like a glob on Linux.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        raise ParameterError(f"--pattern {pattern!r} is empty; give a glob such as '**/*.wav'")
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise ParameterError(f"--pattern {pattern!r} must be relative to the input folder and stay inside it, e.g. '**/*.wav'")
    parts = []
    for token in _tokens(pattern):
        if token == "**/":
            parts.append(r"(?:[^/]+/)*")
        elif token == "**":
            parts.append(r".*")
        elif token == "*":
            parts.append(r"[^/]*")
        elif token == "?":
            parts.append(r"[^/]")
        elif token.startswith("[") and len(token) > 2:
            body = token[1:-1]
            negate = body[0] in "!^"
            body = body[1:] if negate else body
            parts.append(("[^/" if negate else "[") + body.replace("\\", r"\\") + "]")
        else:
            parts.append(re.escape(token))
    try:
        return re.compile("".join(parts) + r"\Z")
    except re.error as exc:
        raise ParameterError(f"--pattern {pattern!r} is not a valid glob ({exc}); e.g. '**/*.wav'") from None


def _examples(pattern: str) -> Iterator[str]:
    """Paths that ``pattern`` matches: one per choice of zero or one folder for each ``**``."""
    options = []
    for token in _tokens(pattern):
        if token == "**/":
            options.append(("", "x/"))
        elif token == "**":
            options.append(("x", "x/x"))
        elif token in ("*", "?"):
            options.append(("x",))
        elif token.startswith("[") and len(token) > 2:
            body = token[1:-1]
            if body[0] in "!^":
                options.append((next((c for c in "xyz_0" if c not in body[1:]), "x"),))
            else:
                options.append((body[0],))
        else:
            options.append((token,))
    for choice in itertools.islice(itertools.product(*options), 256):
        yield "".join(choice)


class BatchLayout:
    """Where a batch reads and writes: the input folder, the output folder and the mapping between them.

    Parameters
    ----------
    input_dir, output_dir : str or Path
    pattern : str
        Glob of the inputs, relative to ``input_dir``.

    Raises
    ------
    ParameterError
        If the input folder does not exist, if the output folder is the input folder,
        or if it lies inside the input folder where ``pattern`` would take the outputs
        for inputs.
    """

    def __init__(self, input_dir: str | Path, output_dir: str | Path, pattern: str = DEFAULT_PATTERN):
        self.input_dir = Path(input_dir).expanduser()
        if not self.input_dir.is_dir():
            what = "is not a folder" if self.input_dir.exists() else "does not exist"
            raise ParameterError(f"the input folder {str(input_dir)!r} {what}; give the folder that holds the recordings")
        self.input_dir = self.input_dir.resolve()
        self.output_dir = Path(output_dir).expanduser().resolve()
        if self.output_dir.exists() and not self.output_dir.is_dir():
            raise ParameterError(f"the output {str(output_dir)!r} is a file; -o takes a folder (it is created if missing)")
        self.pattern = pattern
        self.regex = compile_pattern(pattern)
        if self.output_dir == self.input_dir:
            raise ParameterError(f"the output folder {str(output_dir)!r} is the input folder: the outputs would replace the "
                                 "recordings; choose another folder with -o")
        self.output_inside_input = self.input_dir in self.output_dir.parents
        if self.output_inside_input:
            prefix = self.output_dir.relative_to(self.input_dir).as_posix() + "/"
            if any(self.regex.match(prefix + example) for example in _examples(pattern) if self.regex.match(example)):
                raise ParameterError(
                    f"the output folder {str(output_dir)!r} is inside the input folder and --pattern {pattern!r} would match "
                    "the outputs as inputs on the next run; choose an output folder outside the input folder, or a pattern "
                    "that cannot reach it")

        #: When the input folder lies inside the output folder, the inputs whose outputs would land in it start with this.
        self._into_input = (self.input_dir.relative_to(self.output_dir).as_posix() + "/"
                            if self.output_dir in self.input_dir.parents else None)

    def output_problem(self, rel: str) -> str | None:
        """Why the output of ``rel`` cannot be written (it would land inside the input folder), or None."""
        if self._into_input is not None and rel.startswith(self._into_input):
            return (f"its output {str(self.output_for(rel))!r} would land inside the input folder (which lies inside the "
                    "output folder); choose an output folder outside the input folder")
        return None

    @property
    def manifest_path(self) -> Path:
        return self.output_dir / MANIFEST_NAME

    @property
    def staging_dir(self) -> Path:
        return self.output_dir / STAGING_NAME

    def output_for(self, rel: str) -> Path:
        """The output of the input ``rel``: the same relative path in the output folder."""
        return self.output_dir / rel

    def relative(self, path: str | Path) -> str:
        """``path`` (absolute, or relative to the input folder) as a relative POSIX path.

        Raises
        ------
        ParameterError
            If it lies outside the input folder or inside the output folder.
        """
        path = Path(path).expanduser()
        absolute = path if path.is_absolute() else self.input_dir / path
        absolute = Path(os.path.normpath(absolute))
        if self.input_dir not in absolute.parents:
            raise ParameterError("it is not inside the input folder; the output tree mirrors the input tree, "
                                 "so every listed file must lie in INPUT_DIR")
        if self.output_dir == absolute or self.output_dir in absolute.parents:
            raise ParameterError("it is inside the output folder (an output of a batch, not a recording)")
        return absolute.relative_to(self.input_dir).as_posix()


def walk(layout: BatchLayout) -> Iterator[str]:
    """Relative paths of the files under the input folder that match the pattern, in sorted order, streamed.

    Hidden entries (a name starting with ``.``) and the output folder are skipped;
    symbolic links to files are followed, links to folders are not (no cycles).
    """
    regex, output_dir = layout.regex, layout.output_dir
    stack = [(layout.input_dir, "")]
    while stack:
        folder, prefix = stack.pop()
        files, subfolders = [], []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith("."):
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            path = folder / name
                            if path != output_dir:
                                subfolders.append((path, prefix + name + "/"))
                        elif entry.is_file() and regex.match(prefix + name):
                            files.append(prefix + name)
                    except OSError:
                        continue
        except OSError:
            continue  # an unreadable folder: nothing to take from it
        files.sort()
        yield from files
        subfolders.sort()
        stack.extend(reversed(subfolders))


#: Yielded by :func:`read_list` on standard input while no line is ready, so the caller can attend to other work.
WAITING = object()


def read_list(source: str) -> Iterator:
    """The lines of a file list (``-`` for standard input), stripped, blank lines and ``#`` comments left out, streamed.

    Standard input is read by a thread into a bounded queue, and :data:`WAITING` is
    yielded while no line is ready: a slow producer (``find ... | rtnmf batch --files -``)
    never blocks the batch, and Ctrl-C is heard while it waits.
    """
    if source == "-":
        yield from _threaded(sys.stdin)
        return
    try:
        handle = open(source, encoding="utf-8")
    except OSError as exc:
        raise ParameterError(f"cannot read the file list {source!r}: {exc.strerror or exc}") from None
    with handle:
        yield from _lines(handle, source)


def _lines(handle, source: str) -> Iterator[str]:
    try:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#"):
                yield line
    except UnicodeDecodeError as exc:
        raise ParameterError(f"the file list {source!r} is not UTF-8 text ({exc.reason}); give one path per line") from None


def _threaded(handle) -> Iterator:
    lines: queue.Queue = queue.Queue(maxsize=1024)
    end = object()

    def reader():
        try:
            for line in _lines(handle, "-"):
                lines.put(line)
        except ParameterError as exc:
            lines.put(exc)
        finally:
            lines.put(end)

    threading.Thread(target=reader, name="rtnmf-batch-list", daemon=True).start()
    while True:
        try:
            item = lines.get(timeout=0.2)
        except queue.Empty:
            yield WAITING
            continue
        if item is end:
            return
        if isinstance(item, ParameterError):
            raise item
        yield item
