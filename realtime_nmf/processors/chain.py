"""Chain: processors run one after the other, itself a processor (so chains nest)."""

from __future__ import annotations

from collections.abc import MutableSequence
from typing import Iterable

import numpy as np

from ..errors import ParameterError
from .base import Processor

__all__ = ["Chain"]


class Chain(Processor, MutableSequence):
    """A list-like series of processors; its latency is the sum of theirs.

    Parameters
    ----------
    processors : iterable of Processor
    """

    name = "chain"

    def __init__(self, processors: Iterable[Processor] = ()):
        super().__init__()
        self._processors: list[Processor] = []
        for processor in processors:
            self.append(processor)

    # MutableSequence ------------------------------------------------------------------
    def __getitem__(self, index):
        return self._processors[index]

    def __setitem__(self, index, processor):
        self._check(processor)
        self._processors[index] = processor

    def __delitem__(self, index):
        del self._processors[index]

    def __len__(self) -> int:
        return len(self._processors)

    def insert(self, index: int, processor: Processor) -> None:
        self._check(processor)
        self._processors.insert(index, processor)

    @staticmethod
    def _check(processor) -> None:
        if not isinstance(processor, Processor):
            raise ParameterError(f"a chain holds processors, not {type(processor).__name__}")

    # Processor --------------------------------------------------------------------------
    @property
    def latency(self) -> int:
        return sum(p.latency for p in self._processors)

    def config(self) -> list:
        return [{p.name: p.config()} for p in self._processors]

    def _allocate(self) -> None:
        for processor in self._processors:
            processor.prepare(self.sample_rate, self.n_channels)

    def reset(self) -> None:
        for processor in self._processors:
            processor.reset()

    def _process(self, block: np.ndarray, out: np.ndarray) -> None:
        if not self._processors:
            if out is not block:
                out[...] = block
            return
        self._processors[0].process(block, out)
        for processor in self._processors[1:]:
            processor.process(out, out)

    def __repr__(self) -> str:
        return f"Chain([{', '.join(repr(p) for p in self._processors)}])"
