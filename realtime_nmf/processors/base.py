"""The processor interface every plugin implements, and its declarative parameters.

A processor is configured once in ``__init__`` (validated parameters), allocates its
buffers in :meth:`Processor.prepare` once the sample rate and channel count are known,
and then turns blocks into blocks with :meth:`Processor.process`. Runtime state is kept
apart from configuration: :meth:`Processor.reset` clears the first, :meth:`Processor.config`
returns the second (what a preset stores).

Audio blocks are float32 arrays of shape ``(n_samples, n_channels)``, the layout of
soundfile and sounddevice.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np

from .._values import show
from ..errors import ParameterError, ProcessorError
from .latency import process_array

__all__ = ["Parameter", "Processor"]

_TYPE_NAMES = {float: "a number", int: "a whole number", str: "a text", bool: "true or false"}


@dataclass(frozen=True)
class Parameter:
    """Declaration of one processor parameter: type, default, range and a one-line doc.

    Parameters
    ----------
    kind : type
        ``float``, ``int``, ``str`` or ``bool``.
    default : Any
        Value used when the parameter is not given.
    doc : str
        One line for ``rtnmf info`` and the README.
    minimum, maximum : float, optional
        Inclusive bounds for numbers.
    choices : tuple, optional
        Allowed values for texts.
    exclusive_minimum : bool
        Whether ``minimum`` itself is excluded.
    """

    kind: type
    default: Any
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    exclusive_minimum: bool = False

    def validate(self, name: str, value: Any, where: str = "") -> Any:
        """Return ``value`` converted to the parameter's type, or raise :class:`ParameterError`."""
        place = f"{where}: " if where else ""
        expected = _TYPE_NAMES.get(self.kind, self.kind.__name__)
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ParameterError(f"{place}{name}={value!r} must be {expected}")
            return value
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ParameterError(f"{place}{name}={show(value)} must be {expected}")
            try:
                number = float(value)
            except OverflowError:  # an integer too large for a float
                raise ParameterError(f"{place}{name}={show(value)} must be at most {self.maximum:g}" if self.maximum is not None
                                     else f"{place}{name}={show(value)} is too large") from None
            if self.kind is int and not (np.isfinite(number) and number.is_integer()):
                raise ParameterError(f"{place}{name}={show(value)} must be {expected}")
            value = self.kind(value)
            if not np.isfinite(number):  # the float: np.isfinite refuses an int beyond 64 bits (2**64 from a YAML 1.8e19)
                raise ParameterError(f"{place}{name}={value!r} must be finite")
            if self.minimum is not None and (value < self.minimum or (self.exclusive_minimum and value == self.minimum)):
                bound = f"greater than {self.minimum:g}" if self.exclusive_minimum else f"at least {self.minimum:g}"
                raise ParameterError(f"{place}{name}={value!r} must be {bound}{self._range_hint()}")
            if self.maximum is not None and value > self.maximum:
                raise ParameterError(f"{place}{name}={value!r} must be at most {self.maximum:g}{self._range_hint()}")
            return value
        if not isinstance(value, self.kind):
            raise ParameterError(f"{place}{name}={show(value)} must be {expected}")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"{place}{name}={show(value)} is not one of {', '.join(map(repr, self.choices))}")
        return value

    def _range_hint(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f" (allowed: {self.minimum:g} to {self.maximum:g}, default {self.default!r})"
        return f" (default {self.default!r})"


def validate_parameters(declared: Mapping[str, Parameter], given: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check ``given`` against ``declared``: unknown names are errors; missing ones take defaults."""
    unknown = sorted((key for key in given if key not in declared), key=repr)
    if unknown:
        known = ", ".join(declared) or "none"
        raise ParameterError(f"{where}: unknown parameter {show(unknown[0])} (known parameters: {known})")
    return {name: spec.validate(name, given[name], where) if name in given else spec.default for name, spec in declared.items()}


class Processor(abc.ABC):
    """Base class of every audio processor (plugin) realtime_nmf can host.

    Subclasses set ``name`` (the name presets use) and ``parameters`` and implement
    :meth:`_process`; they override :meth:`_allocate`, :meth:`reset` and
    :attr:`latency` when they keep state. Keyword arguments of ``__init__`` are the
    declared parameters; an unknown name or a value out of range raises
    :class:`~realtime_nmf.errors.ParameterError`.

    Lifecycle: ``prepare(sample_rate, n_channels)`` once (allocates), then ``process``
    any number of times from the audio thread, ``reset()`` between unrelated signals.
    """

    name: ClassVar[str] = ""
    parameters: ClassVar[dict[str, Parameter]] = {}

    def __init__(self, **params: Any):
        self.params = validate_parameters(self.parameters, params, f"processor {self.name or type(self).__name__!r}")
        self.sample_rate: float | None = None
        self.n_channels: int | None = None

    # ---------------------------------------------------------------------------------
    @property
    def latency(self) -> int:
        """Delay in samples between an input sample and the output sample made from it."""
        return 0

    def config(self) -> dict[str, Any]:
        """The parameters (not the runtime state), as a preset stores them."""
        return dict(self.params)

    def prepare(self, sample_rate: float, n_channels: int) -> None:
        """Allocate state for a stream at ``sample_rate`` with ``n_channels`` channels, then reset."""
        sample_rate = float(sample_rate)
        n_channels = int(n_channels)
        if sample_rate <= 0:
            raise ParameterError(f"sample_rate={sample_rate} must be positive")
        if n_channels < 1:
            raise ParameterError(f"n_channels={n_channels} must be at least 1")
        self.sample_rate, self.n_channels = sample_rate, n_channels
        self._allocate()
        self.reset()

    def _allocate(self) -> None:
        """Build buffers and state for ``self.sample_rate`` and ``self.n_channels`` (override)."""

    def reset(self) -> None:
        """Clear runtime state: the next block is treated as the start of a new signal (override)."""

    def process(self, block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Process one block.

        Parameters
        ----------
        block : np.ndarray [shape=(n_samples, n_channels), dtype=float32]
        out : np.ndarray [shape=(n_samples, n_channels), dtype=float32], optional
            Where to write the result; may be ``block`` itself (in place). Allocated
            when not given (the real-time host always gives it).

        Returns
        -------
        out : np.ndarray
        """
        if self.n_channels is None:
            raise ProcessorError(f"processor {self.name!r}: call prepare(sample_rate, n_channels) before process()")
        if out is None:
            out = np.empty_like(block, dtype=np.float32)
        self._process(block, out)
        return out

    @abc.abstractmethod
    def _process(self, block: np.ndarray, out: np.ndarray) -> None:
        """Write the processed ``block`` into ``out`` (which may be ``block``)."""

    def __call__(self, audio: np.ndarray, sample_rate: float, *, block_size: int | None = None) -> np.ndarray:
        """Process a whole signal offline, latency compensated: the output has the input's length and timing.

        Parameters
        ----------
        audio : np.ndarray [shape=(n_samples,) or (n_samples, n_channels)]
        sample_rate : float
        block_size : int, optional
            Block size used internally; the result does not depend on it.

        Returns
        -------
        np.ndarray [shape=audio.shape, dtype=float32]
        """
        return process_array(self, audio, sample_rate, block_size=block_size)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
