"""Small checks for values from untrusted files, and how messages show them.

Numbers read from a preset or a dictionary's metadata can be anything JSON or YAML
allows: a bool, a text, NaN, a 5,000-digit integer. These helpers answer "is this a whole
number / a finite number" without ever calling a conversion that raises, measure nesting
without recursion, and print untrusted text as one plain line.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["show", "format_size", "duration_text", "whole_number", "real_number", "nesting_depth", "printable"]

#: Longest text quoted in a message; longer values are cut (a 5,000-character name stays one readable line).
_SHOWN = 60


def show(value, limit: int = _SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters (control characters come out escaped)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    end = text[-1] if text[-1] in "'\"" else ""
    return text[: limit - 3 - len(end)] + "..." + end


def format_size(n_bytes: int) -> str:
    """A byte count in binary units: ``64 bytes``, ``64 KiB``, ``1.0 MiB``, ``256 MiB``, ``2.0 GiB``."""
    n = float(n_bytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024:
            break
        n /= 1024
    else:
        unit = "TiB"
    if unit == "bytes":
        return f"{int(n)} bytes"
    return f"{n:.1f} {unit}" if n < 10 else f"{n:.0f} {unit}"


def whole_number(value) -> int | None:
    """``value`` as an int if it is a whole number (an int, or a float with an integral value), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def real_number(value) -> float | None:
    """``value`` as a finite float if it is a real number (not a bool, a text, NaN or a huge int), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def nesting_depth(value, limit: int) -> int:
    """How deeply lists and mappings nest in ``value`` (0 for a scalar), without recursion; stops past ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, tuple, dict, set)):
            deepest = max(deepest, level)
            if level > limit:
                return level
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def printable(value, limit: int = 200) -> str:
    """An untrusted value as one line of plain text (control characters escaped, long text cut)."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def duration_text(n_samples: int, sample_rate: int) -> str:
    """A length for messages: ``2.00 s``, ``1.5 h``, ``99.4 days``."""
    seconds = n_samples / sample_rate
    if seconds < 1000:
        return f"{seconds:.2f} s"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
