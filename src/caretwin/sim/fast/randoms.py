"""Every random number one replication of the fast core needs, drawn up front in numpy.

The values are the reference engine's, by construction: the same streams
(:func:`caretwin.sim.streams.generator` with the same keys) drawn through the same calls in the
same blocks of :data:`~caretwin.sim.streams.BLOCK` values, so the n-th value of a stream here is
the n-th value the reference engine would read, whichever distribution makes it (block-wise
generation is kept even where one big call would give the same numbers, so no distribution's
buffering can make them differ).

What is known before the run: the arrival times (they do not depend on the system's state), so
the number ``N_a`` of patients of each arrival stream, and so the length of every per-patient
stream (duration, routing, patience by step and visit; attributes). What is not known: how many
failure/repair cycles a clock goes through and how often a patient revisits a looping step;
those get a bound, and the core reports when a bound was too small (the run is then repeated
with larger bounds, which gives the same numbers since every stream is keyed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from caretwin.model.distributions import Distribution
from caretwin.sim.compiled import CArrival, CompiledModel
from caretwin.sim.fast.tables import F64, I64, ModelTables
from caretwin.sim.streams import BLOCK, Purpose, generator

_CLOCKS_PER_POOL = 4096  # as in caretwin.sim.engine: the failure stream index space per pool

PoissonTimes = Callable[[np.ndarray, np.ndarray, float, float], tuple[np.ndarray, int]]


def _blocks(draw: Callable[[int], np.ndarray], n: int) -> np.ndarray:
    """The first ``n`` values (at least one block) of a stream drawn ``BLOCK`` at a time."""
    k = max(1, math.ceil(n / BLOCK))
    return np.concatenate([np.asarray(draw(BLOCK), dtype=F64) for _ in range(k)])


def _sample(dist: Distribution, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    return lambda n: dist.sample(rng, n)


@dataclass
class Bounds:
    """Sizes the core cannot know in advance; doubled and the run repeated when exceeded."""

    visits: int = 4  # visits of a looping step per patient with pre-drawn values
    cycles: int = 0  # failure/repair draws per clock (0: estimated from the model)
    grow: int = 1  # multiplier of the core's work arrays (heap, queues, samples, stack)


@dataclass
class Randoms:
    ev_off: np.ndarray  # arrival events of stream a: ev_time[ev_off[a]:ev_off[a + 1]]
    ev_time: np.ndarray
    n_pat: np.ndarray  # patients per arrival stream within the horizon
    pat_off: np.ndarray  # first global patient slot of each stream's patients
    values: np.ndarray  # every per-patient draw, concatenated
    dur_off: np.ndarray  # [arrival, step, slot, visit] -> offset in values (-1: none)
    route_off: np.ndarray  # [arrival, step, visit]
    pat_draw_off: np.ndarray  # [arrival, step, visit] patience
    attr: np.ndarray  # [patient slot, attribute] value index, -1 when not drawn
    ttf: np.ndarray  # [clock, k] time-to-failure draws
    repair: np.ndarray  # [clock, k]


def arrival_events(
    arr: CArrival,
    seed: int,
    rep: int,
    horizon: float,
    poisson_times: PoissonTimes,
    offset: float = 0.0,
) -> np.ndarray:
    """Times of the arrival events the reference engine schedules: every one up to the horizon
    and the first after it (scheduled, never processed); ``offset`` is the model's clock at
    t = 0 (``CompiledModel.calendar_offset_h``)."""
    if arr.scheduled:
        if arr.count <= 0 or not arr.weekdays:
            return np.zeros(0, dtype=F64)
        out: list[float] = []
        after = -1e-9
        while True:
            after_m = after + offset
            day = math.floor(after_m / 24.0)
            while True:  # Engine._next_batch
                tm = day * 24.0 + arr.at_hour
                if tm > after_m and day % 7 in arr.weekdays:
                    break
                day += 1
            t = tm - offset
            out.append(t)
            if t > horizon:
                return np.asarray(out, dtype=F64)
            after = t
    rates = np.asarray(arr.rates, dtype=F64)
    if not any(r > 0 for r in arr.rates):
        return np.zeros(0, dtype=F64)
    rng = generator(seed, rep, Purpose.ARRIVAL, arr.index)
    expected = float(np.mean(rates)) * horizon
    exps = _blocks(rng.standard_exponential, int(expected + 6 * math.sqrt(expected) + 64))
    while True:
        times, n = poisson_times(rates, exps, horizon, offset)
        if n >= 0:
            return times[:n]
        exps = np.concatenate([exps, _blocks(rng.standard_exponential, exps.size)])


def draw_randoms(
    m: CompiledModel,
    t: ModelTables,
    seed: int,
    rep: int,
    bounds: Bounds,
    poisson_times: PoissonTimes,
) -> Randoms:
    horizon = m.horizon_h
    off = m.calendar_offset_h
    events = [arrival_events(a, seed, rep, horizon, poisson_times, off) for a in m.arrivals]
    ev_off = np.concatenate([[0], np.cumsum([e.size for e in events])]).astype(I64)
    n_pat = np.asarray(
        [
            int(np.count_nonzero(e <= horizon)) * int(t.ints["arr_count"][i])
            for i, e in enumerate(events)
        ],
        dtype=I64,
    )
    pat_off = np.concatenate([[0], np.cumsum(n_pat)]).astype(I64)
    nv = bounds.visits
    shape = (t.n_arr, t.n_steps, nv)
    dur_off = np.full((t.n_arr, t.n_steps, t.max_slots, nv), -1, dtype=I64)
    route_off = np.full(shape, -1, dtype=I64)
    pat_draw_off = np.full(shape, -1, dtype=I64)
    chunks: list[np.ndarray] = []
    size = 0

    def add(values: np.ndarray) -> int:
        nonlocal size
        chunks.append(values)
        size += values.size
        return size - values.size

    for a in m.arrivals:
        n = int(n_pat[a.index])
        for s in m.steps:
            if s.pathway != a.pathway:
                continue
            for v in range(nv if s.revisit else 1):
                for slot, dist in enumerate(s.durations):
                    rng = generator(seed, rep, Purpose.ENTITY_DURATION, a.index, s.index, slot, v)
                    dur_off[a.index, s.index, slot, v] = add(_blocks(_sample(dist, rng), n))
                if any(len(targets) > 1 for targets, _ in s.routes):
                    rng = generator(seed, rep, Purpose.ENTITY_ROUTING, a.index, s.index, v, 0)
                    route_off[a.index, s.index, v] = add(_blocks(rng.random, n))
                if s.patience is not None:
                    rng = generator(seed, rep, Purpose.ENTITY_PATIENCE, a.index, s.index, v, 0)
                    pat_draw_off[a.index, s.index, v] = add(_blocks(_sample(s.patience, rng), n))
    values = np.concatenate(chunks) if chunks else np.zeros(1, dtype=F64)

    attr = np.full((int(pat_off[-1]), max(1, t.n_attr)), -1, dtype=I64)
    for a in m.arrivals:
        n, first = int(n_pat[a.index]), int(pat_off[a.index])
        for ai, vals, cum in a.attributes:
            rng = generator(seed, rep, Purpose.ENTITY_ATTRIBUTE, a.index, ai)
            u = _blocks(rng.random, n)[:n]
            # EntityDraws.attributes(): the first value whose cumulative probability exceeds u
            idx = np.minimum(np.searchsorted(np.asarray(cum), u, side="right"), len(vals) - 1)
            attr[first : first + n, ai] = np.asarray(vals, dtype=I64)[idx]

    ttf, repair = _failure_draws(m, t, seed, rep, bounds)
    return Randoms(
        ev_off=ev_off,
        ev_time=np.concatenate(events) if events else np.zeros(0, dtype=F64),
        n_pat=n_pat,
        pat_off=pat_off,
        values=values,
        dur_off=dur_off,
        route_off=route_off,
        pat_draw_off=pat_draw_off,
        attr=attr,
        ttf=ttf,
        repair=repair,
    )


def failure_cycles(m: CompiledModel) -> int:
    """A generous first bound on the failure/repair cycles of one clock over the horizon."""
    cycles = 1
    for r in m.resources:
        if r.ttf is not None and r.repair is not None:
            expected = m.horizon_h / max(r.ttf.mean() + r.repair.mean(), 1e-9)
            cycles = max(cycles, int(2 * expected + 8 * math.sqrt(expected) + 16))
    return cycles


def _failure_draws(
    m: CompiledModel, t: ModelTables, seed: int, rep: int, bounds: Bounds
) -> tuple[np.ndarray, np.ndarray]:
    clocks = int(t.ints["clk_base"][-1])
    k = max(1, math.ceil((bounds.cycles or failure_cycles(m)) / BLOCK)) * BLOCK
    ttf = np.zeros((max(clocks, 1), k), dtype=F64)
    repair = np.zeros((max(clocks, 1), k), dtype=F64)
    for r in m.resources:
        if r.ttf is None or r.repair is None:
            continue
        base = int(t.ints["clk_base"][r.index])
        for c in range(r.capacity):
            key = r.index * _CLOCKS_PER_POOL + c
            rng = generator(seed, rep, Purpose.FAILURE, key)
            ttf[base + c] = _blocks(_sample(r.ttf, rng), k)
            rng = generator(seed, rep, Purpose.REPAIR, key)
            repair[base + c] = _blocks(_sample(r.repair, rng), k)
    return ttf, repair
