"""Engine v1: a discrete-event core over a compiled twin definition.

All simulation state lives in one :class:`Engine` object (the lesson of SimPy's
``Environment``): the clock, the event heap, the resource pools and the KPI collectors. Events
are tuples ``(time, seq, kind, a, b, c)`` on a binary heap; ``seq`` breaks ties in scheduling
order, which makes every run deterministic for a given seed.

Semantics (see :mod:`caretwin.model.definition`): each pool has one FIFO queue by request time;
a patient keeps what it holds while it waits (boarding, blocking); a unit freed goes first to a
pending failure of its pool (failures go ahead of every waiting patient but never interrupt work
in progress), then to the head of the queue, else back to the free list, lowest unit first.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import numpy as np

from caretwin.sim.compiled import NO_STEP, CArrival, CompiledModel, CStep
from caretwin.sim.kpis import OccupancyTracker, replication_result
from caretwin.sim.result import ReplicationResult
from caretwin.sim.streams import (
    BlockStream,
    Purpose,
    generator,
    sampler,
    uniforms,
    unit_exponentials,
)
from caretwin.sim.trace import EventKind, TraceRecorder

_ARRIVAL, _STEP_DONE, _FAIL, _REPAIR = 0, 1, 2, 3
_SCHEDULED = -2  # _begin() scheduled the end of the step; nothing more to do now
_CLOCKS_PER_POOL = 4096  # stream index space per pool for per-clock failure streams


class Patient:
    __slots__ = (
        "acq_i",
        "arrival",
        "counted",
        "held",
        "id",
        "marks",
        "pathway",
        "request_t",
        "step",
    )

    def __init__(self, pid: int, pathway: int, t: float, counted: bool) -> None:
        self.id = pid
        self.pathway = pathway
        self.arrival = t
        self.counted = counted
        self.step = NO_STEP
        self.acq_i = 0
        self.request_t = t
        self.held: list[tuple[int, int]] = []
        self.marks: dict[int, float | None] = {}


class Pool:
    __slots__ = (
        "busy",
        "down",
        "free",
        "pending_failures",
        "queue",
        "queue_limit",
        "requests",
        "tracker",
        "turned_away",
    )

    def __init__(self, capacity: int, queue_limit: int | None, tracker: OccupancyTracker) -> None:
        self.free = list(range(capacity))  # a heap: lowest free unit is assigned first
        self.queue: deque[Patient] = deque()
        self.pending_failures: deque[int] = deque()
        self.busy = 0
        self.down = 0
        self.tracker = tracker
        self.queue_limit = queue_limit
        self.requests = 0  # by counted patients, for turned-away shares
        self.turned_away = 0


class Engine:
    """One replication of a compiled model."""

    def __init__(
        self,
        model: CompiledModel,
        seed: int,
        replication: int,
        trace: TraceRecorder | None = None,
    ) -> None:
        self.m = model
        self.replication = replication
        self.now = 0.0
        self.events = 0
        self._heap: list[tuple[float, int, int, object, int, int]] = []
        self._seq = 0
        self._next_pid = 0
        self.tr = trace
        w0, w1 = model.warmup_h, model.window_end_h
        self.pools = [
            Pool(r.capacity, r.queue_limit, OccupancyTracker(w0, w1)) for r in model.resources
        ]
        self.samples: list[list[float]] = [[] for _ in model.kpis]

        def gen(purpose: Purpose, index: int) -> np.random.Generator:
            return generator(seed, replication, purpose, index)

        self._durations = [
            sampler(s.duration, gen(Purpose.DURATION, s.index)) if s.duration else None
            for s in model.steps
        ]
        self._routing = [
            uniforms(gen(Purpose.ROUTING, s.index)) if len(s.targets) > 1 else None
            for s in model.steps
        ]
        self._arrival_exp = [
            unit_exponentials(gen(Purpose.ARRIVAL, a.index)) for a in model.arrivals
        ]
        self._ttf: dict[tuple[int, int], BlockStream] = {}
        self._repair: dict[tuple[int, int], BlockStream] = {}
        for r in model.resources:
            if r.ttf is None or r.repair is None:
                continue
            for k in range(r.capacity):
                key = r.index * _CLOCKS_PER_POOL + k
                self._ttf[(r.index, k)] = sampler(r.ttf, gen(Purpose.FAILURE, key))
                self._repair[(r.index, k)] = sampler(r.repair, gen(Purpose.REPAIR, key))

    # -- scheduling ---------------------------------------------------------------------------

    def _schedule(self, t: float, kind: int, a: object = None, b: int = 0, c: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, a, b, c))

    def _next_poisson(self, arr: CArrival, t: float) -> float:
        """Next arrival of a piecewise-constant-rate Poisson process after ``t`` (by inversion)."""
        rates = arr.rates
        period = len(rates)
        e = self._arrival_exp[arr.index]()
        while True:
            hour = math.floor(t)
            rate = rates[hour % period]
            span = hour + 1 - t
            if rate * span >= e:
                return t + e / rate
            e -= rate * span
            t = float(hour + 1)

    def _next_batch(self, arr: CArrival, after: float) -> float:
        day = math.floor(after / 24.0)
        while True:
            t = day * 24.0 + arr.at_hour
            if t > after and day % 7 in arr.weekdays:
                return t
            day += 1

    # -- patient flow -------------------------------------------------------------------------

    def _arrive(self, arr: CArrival, t: float) -> None:
        p = Patient(self._next_pid, arr.pathway, t, self.m.warmup_h <= t < self.m.window_end_h)
        self._next_pid += 1
        if self.tr is not None:
            self.tr.add(t, EventKind.ARRIVE, p.id, arr.pathway, arr.index)
        hooks = self.m.hooks.arrival.get(arr.pathway)
        if hooks:
            self._mark(p, hooks, t)
        self._advance(p, arr.entry_step, t)

    def _advance(self, p: Patient, s_idx: int, t: float) -> None:
        """Move ``p`` into step ``s_idx``, running zero-time steps inline."""
        while s_idx != _SCHEDULED:
            if s_idx == NO_STEP:
                self._exit(p, t)
                return
            step = self.m.steps[s_idx]
            p.step = s_idx
            p.acq_i = 0
            p.request_t = t
            if self.tr is not None:
                self.tr.add(t, EventKind.REQUEST, p.id, s_idx)
            hooks = self.m.hooks.request.get(s_idx)
            if hooks:
                self._mark(p, hooks, t)
            if step.acquire:
                self._request(p, step.acquire[0], t)
                return
            s_idx = self._begin(p, step, t)

    def _request(self, p: Patient, r: int, t: float) -> None:
        pool = self.pools[r]
        if p.counted:
            pool.requests += 1
        if pool.free and not pool.queue:
            self._grant(p, r, heapq.heappop(pool.free), t)
        elif pool.queue_limit is not None and len(pool.queue) >= pool.queue_limit:
            if p.counted:
                pool.turned_away += 1
            self._exit(p, t)  # turned away: leaves the pathway, handing back what it holds
        else:
            pool.queue.append(p)

    def _grant(self, p: Patient, r: int, unit: int, t: float) -> None:
        pool = self.pools[r]
        p.held.append((r, unit))
        pool.busy += 1
        pool.tracker.change(t, pool.busy)
        if self.tr is not None:
            self.tr.add(t, EventKind.ACQUIRE, p.id, r, unit)
        step = self.m.steps[p.step]
        p.acq_i += 1
        if p.acq_i < len(step.acquire):
            self._request(p, step.acquire[p.acq_i], t)
            return
        nxt = self._begin(p, step, t)
        if nxt != _SCHEDULED:
            self._advance(p, nxt, t)

    def _begin(self, p: Patient, step: CStep, t: float) -> int:
        """All resources assigned: release what the step hands back, then hold for its duration."""
        for r in step.release_on_acquire:
            self._release(p, r, t)
        if self.tr is not None:
            self.tr.add(t, EventKind.START, p.id, step.index)
        hooks = self.m.hooks.start.get(step.index)
        if hooks:
            self._mark(p, hooks, t)
        sampler = self._durations[step.index]
        if sampler is not None:
            self._schedule(t + sampler(), _STEP_DONE, p)
            return _SCHEDULED
        return self._finish(p, step, t)

    def _finish(self, p: Patient, step: CStep, t: float) -> int:
        if self.tr is not None:
            self.tr.add(t, EventKind.END, p.id, step.index)
        hooks = self.m.hooks.end.get(step.index)
        if hooks:
            self._mark(p, hooks, t)
        for r in step.release_after:
            self._release(p, r, t)
        if len(step.targets) == 1:
            return step.targets[0]
        routing = self._routing[step.index]
        assert routing is not None
        u = routing()
        for target, c in zip(step.targets, step.cum, strict=True):
            if u < c:
                return target
        return step.targets[-1]

    def _exit(self, p: Patient, t: float) -> None:
        if self.tr is not None:
            self.tr.add(t, EventKind.EXIT, p.id, p.pathway)
        hooks = self.m.hooks.exit.get(p.pathway)
        if hooks:
            self._mark(p, hooks, t)
        while p.held:
            self._release(p, p.held[0][0], t)

    def _release(self, p: Patient, r: int, t: float) -> None:
        idx = next((i for i, (res, _) in enumerate(p.held) if res == r), -1)
        if idx < 0:  # releasing what is not held is a no-op, like a bed already handed back
            return
        unit = p.held.pop(idx)[1]
        pool = self.pools[r]
        pool.busy -= 1
        pool.tracker.change(t, pool.busy)
        if self.tr is not None:
            self.tr.add(t, EventKind.RELEASE, p.id, r, unit)
        hooks = self.m.hooks.release.get((p.pathway, r))
        if hooks:
            self._mark(p, hooks, t)
        self._unit_free(r, unit, t)

    def _unit_free(self, r: int, unit: int, t: float) -> None:
        pool = self.pools[r]
        if pool.pending_failures:
            self._take_down(r, unit, pool.pending_failures.popleft(), t)
        elif pool.queue:
            self._grant(pool.queue.popleft(), r, unit, t)
        else:
            heapq.heappush(pool.free, unit)

    def _mark(self, p: Patient, hooks: list[tuple[int, int]], t: float) -> None:
        marks = p.marks
        for ki, role in hooks:
            if role == 0:
                if ki not in marks:
                    marks[ki] = t
            elif role == 1:
                start = marks.get(ki)
                if start is not None:
                    marks[ki] = None  # one sample per patient: the first complete interval
                    if p.counted:
                        self.samples[ki].append(t - start)
            elif p.counted:
                self.samples[ki].append(t - p.request_t)

    # -- device failures ----------------------------------------------------------------------

    def _fail(self, r: int, clock: int, t: float) -> None:
        if self.tr is not None:
            self.tr.add(t, EventKind.FAIL, -1, r, clock)
        pool = self.pools[r]
        if not pool.free:
            pool.pending_failures.append(clock)
            return
        if clock in pool.free:  # the failing unit itself is idle: take that one
            pool.free.remove(clock)
            heapq.heapify(pool.free)
            unit = clock
        else:
            unit = heapq.heappop(pool.free)
        self._take_down(r, unit, clock, t)

    def _take_down(self, r: int, unit: int, clock: int, t: float) -> None:
        self.pools[r].down += 1
        if self.tr is not None:
            self.tr.add(t, EventKind.DOWN, -1, r, unit, clock)
        self._schedule(
            t + self._repair[(r, clock)](), _REPAIR, None, r, unit * _CLOCKS_PER_POOL + clock
        )

    def _repaired(self, r: int, unit: int, clock: int, t: float) -> None:
        self.pools[r].down -= 1
        if self.tr is not None:
            self.tr.add(t, EventKind.UP, -1, r, unit, clock)
        self._unit_free(r, unit, t)
        self._schedule(t + self._ttf[(r, clock)](), _FAIL, None, r, clock)

    # -- main loop ----------------------------------------------------------------------------

    def run(self) -> ReplicationResult:
        m = self.m
        for arr in m.arrivals:
            if arr.scheduled:
                if arr.count > 0 and arr.weekdays:
                    self._schedule(self._next_batch(arr, -1e-9), _ARRIVAL, arr)
            elif any(rate > 0 for rate in arr.rates):
                self._schedule(self._next_poisson(arr, 0.0), _ARRIVAL, arr)
        for (r, clock), ttf in self._ttf.items():
            self._schedule(ttf(), _FAIL, None, r, clock)

        heap = self._heap
        horizon = m.horizon_h
        pop = heapq.heappop
        events = 0
        while heap and heap[0][0] <= horizon:
            t, _, kind, a, b, c = pop(heap)
            self.now = t
            events += 1
            if kind == _STEP_DONE:
                assert isinstance(a, Patient)
                self._advance(a, self._finish(a, m.steps[a.step], t), t)
            elif kind == _ARRIVAL:
                assert isinstance(a, CArrival)
                if arr_is_batch(a):
                    for _ in range(a.count):
                        self._arrive(a, t)
                    self._schedule(self._next_batch(a, t), _ARRIVAL, a)
                else:
                    self._arrive(a, t)
                    self._schedule(self._next_poisson(a, t), _ARRIVAL, a)
            elif kind == _FAIL:
                self._fail(b, c, t)
            else:
                self._repaired(b, c // _CLOCKS_PER_POOL, c % _CLOCKS_PER_POOL, t)
        self.events = events
        for pool in self.pools:
            pool.tracker.close()
        return replication_result(
            m,
            self.replication,
            self.samples,
            [p.tracker for p in self.pools],
            events,
            [p.requests for p in self.pools],
            [p.turned_away for p in self.pools],
        )


def arr_is_batch(a: CArrival) -> bool:
    return a.scheduled
