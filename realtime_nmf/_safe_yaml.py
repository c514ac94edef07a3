"""A YAML loader for files realtime_nmf did not write: safe, and bounded in every direction.

PyYAML's safe loader builds no Python objects beyond plain data, but it still expands
aliases (a "billion laughs" of a few hundred bytes becomes gigabytes), recurses once per
nesting level (50,000 nested lists raise RecursionError), keeps the last of two equal
keys without a word, and converts integers of any length (a 5,000-digit one hits
Python's int-string limit with a ValueError). :func:`load_yaml` reads with a subclass of
the safe loader that refuses anchors and aliases, refuses duplicate keys, bounds the
nesting depth (:data:`MAX_DEPTH`) and the length of integers (:data:`MAX_DIGITS`); the
caller bounds the text's size before parsing.
"""

from __future__ import annotations

import re

import yaml

from ._files import read_bounded, show_path
from ._values import show

__all__ = ["load_yaml", "read_yaml_file", "YAMLRefused", "MAX_DEPTH", "MAX_DIGITS"]

#: Deepest nesting of lists and mappings in a document.
MAX_DEPTH = 32
#: Most digits an integer may have.
MAX_DIGITS = 30


class YAMLRefused(Exception):
    """Raised for a document the bounded loader refuses; the message says where and why."""


def _where(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "somewhere"


class _BoundedLoader(yaml.SafeLoader):
    """Safe loader without anchors, aliases or duplicate keys, with bounded depth and integer length."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent) or anchor is not None:
            raise YAMLRefused(f"line {event.start_mark.line + 1}: YAML anchors and aliases (&{anchor}, *{anchor}) are not allowed "
                              "in presets; write each value out in full")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YAMLRefused(f"the YAML is nested more than {MAX_DEPTH} levels deep (line {event.start_mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    raise yaml.constructor.ConstructorError(None, None, "found an unhashable key", key_node.start_mark) from None
                if duplicate:
                    raise YAMLRefused(f"the key {show(key)} appears twice (line {key_node.start_mark.line + 1}); keep one")
                seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        digits = re.sub(r"^[-+]?(0x|0o|0b)?", "", text.replace("_", "").replace(":", ""))
        if len(digits) > MAX_DIGITS:
            raise YAMLRefused(f"{_where(node.start_mark)}: a number of {len(digits)} digits; presets take numbers of at most "
                              f"{MAX_DIGITS} digits")
        return super().construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


def load_yaml(text: str):
    """Parse one YAML document with the bounded safe loader.

    Raises
    ------
    YAMLRefused
        For anchors or aliases, duplicate keys, nesting deeper than :data:`MAX_DEPTH`,
        integers longer than :data:`MAX_DIGITS` digits.
    yaml.YAMLError
        For a syntax error or a tag that builds a Python object.
    """
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml_file(path, max_bytes: int, error: type[Exception], *, what: str, zip_hint: str = "") -> object:
    """Read a regular file of at most ``max_bytes`` of UTF-8 YAML with :func:`load_yaml`.

    Raises ``error`` with one line naming the file and the problem: too large, not a
    regular file, a zip archive, not UTF-8, invalid YAML (with the line), or refused by
    the bounded loader.
    """
    data = read_bounded(path, max_bytes, error, what=what)
    name = show_path(path)
    if data.startswith(b"PK\x03\x04"):
        raise error(f"{name} is a zip archive ({zip_hint or 'not ' + what + ')'}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{name} is not UTF-8 text (byte {data[exc.start]:#04x} at position {exc.start}); {what} is a YAML text file") from None
    try:
        return load_yaml(text)
    except YAMLRefused as exc:
        raise error(f"preset {name}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"preset {name} is not valid YAML{where}: {' '.join(str(problem).split())[:200]}") from None
