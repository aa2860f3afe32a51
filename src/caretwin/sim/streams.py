"""Random-number streams: every draw comes from an explicit ``numpy.random.SeedSequence``.

Each replication and each purpose inside it (an arrival stream, a failure clock, ...) gets its
own stream keyed by ``spawn_key = (replication, purpose, index...)``. Keys, not spawn order,
define the streams, so a replication's numbers do not depend on how many replications run or on
which worker runs it, and adding a step to a model does not shift the numbers of the others.

**Common random numbers keyed by entity.** A patient's own draws (its attributes, its duration
at each step, its routing uniforms, its patience) come from streams keyed by its *arrival
stream* and served by its *number in that stream* (:class:`KeyedDraws`): the n-th ED arrival
gets the n-th value of the stream ``(replication, ENTITY_DURATION, arrival, step, case, visit)``
whenever it reaches that step, whatever happened to other patients before. Two scenarios that
differ only in capacity therefore give every patient the same arrival time, the same treatment
time and the same routing, and a paired comparison of the scenarios sees only the effect of the
change (a much smaller variance than comparing independent runs).

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
    ENTITY_ATTRIBUTE = 6  # (arrival, attribute)
    ENTITY_DURATION = 7  # (arrival, step, case, visit)
    ENTITY_ROUTING = 8  # (arrival, step, visit)
    ENTITY_PATIENCE = 9  # (arrival, step, visit)
    PATIENCE = 10  # (step): patients without an arrival identity (e.g. a warm-start census)


def stream_seed(
    seed: int, replication: int, purpose: Purpose, index: int, *more: int
) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(replication, int(purpose), index, *more))


def generator(
    seed: int, replication: int, purpose: Purpose, index: int, *more: int
) -> np.random.Generator:
    """The stream ``(replication, purpose, index, *more)``; ``more`` extends the key (entity
    streams are keyed by several indexes)."""
    return np.random.Generator(
        np.random.PCG64(stream_seed(seed, replication, purpose, index, *more))
    )


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


class KeyedDraws:
    """The values v_0, v_1, ... of one stream, served by index: ``at(n)`` is v_n whatever the
    order in which indexes are asked for (patients reach a step in scenario-dependent order).

    Values are made in blocks of ``BLOCK`` and kept in ``buf`` for the replication (the engine
    reads ``buf[n]`` directly when it is long enough, sparing a call); a year's run holds a few
    hundred thousand floats per stream, a few megabytes.
    """

    __slots__ = ("_draw", "buf")

    def __init__(self, draw: Callable[[int], np.ndarray]) -> None:
        self._draw = draw
        self.buf: list[float] = []

    def at(self, n: int) -> float:
        buf = self.buf
        while n >= len(buf):
            buf.extend(self._draw(BLOCK).tolist())
        return buf[n]
