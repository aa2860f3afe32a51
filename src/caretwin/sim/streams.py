"""Random-number streams: every draw comes from an explicit ``numpy.random.SeedSequence``.

Each replication and each purpose inside it (an arrival stream, a step's durations, a step's
routing, a failure clock) gets its own stream keyed by ``spawn_key = (replication, purpose,
index)``. Keys, not spawn order, define the streams, so a replication's numbers do not depend on
how many replications run or on which worker runs it, and adding a step to a model does not shift
the numbers of the others.

Draws are made in blocks: one numpy call per 512 values instead of per value, which matters
because the engine needs hundreds of thousands of scalar draws per replication.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import numpy as np

from caretwin.model.distributions import Distribution

BLOCK = 512


class Purpose(enum.IntEnum):
    ARRIVAL = 1
    DURATION = 2
    ROUTING = 3
    FAILURE = 4
    REPAIR = 5


def stream_seed(
    seed: int, replication: int, purpose: Purpose, index: int
) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(replication, int(purpose), index))


def generator(seed: int, replication: int, purpose: Purpose, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(stream_seed(seed, replication, purpose, index)))


class BlockStream:
    """Scalar draws served from blocks of ``BLOCK`` values made by one vectorised call."""

    __slots__ = ("_buf", "_draw", "_i")

    def __init__(self, draw: Callable[[int], np.ndarray]) -> None:
        self._draw = draw
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        i = self._i
        if i >= len(self._buf):
            self._buf = self._draw(BLOCK).tolist()
            i = 0
        self._i = i + 1
        return self._buf[i]


def sampler(dist: Distribution, rng: np.random.Generator) -> BlockStream:
    """Draws from ``dist`` through ``rng``."""
    return BlockStream(lambda n: dist.sample(rng, n))


def uniforms(rng: np.random.Generator) -> BlockStream:
    """Uniform(0, 1) draws, for routing decisions."""
    return BlockStream(rng.random)


def unit_exponentials(rng: np.random.Generator) -> BlockStream:
    """Unit-mean exponential draws, for Poisson arrivals by inversion."""
    return BlockStream(rng.standard_exponential)
