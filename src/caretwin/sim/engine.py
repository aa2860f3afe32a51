"""Engine v1: a discrete-event core over a compiled twin definition.

All simulation state lives in one :class:`Engine` object (the lesson of SimPy's
``Environment``): the clock, the event heap, the resource pools and the KPI collectors. Events
are tuples ``(time, seq, kind, a, b, c)`` on a binary heap; ``seq`` breaks ties in scheduling
order, which makes every run deterministic for a given seed.

Semantics (see :mod:`caretwin.model.definition`): each pool has one FIFO queue per priority
level (:mod:`caretwin.sim.pools`); a patient keeps what it holds while it waits (boarding,
blocking) unless its step acquires with ``acquire_mode: all``; a unit freed goes first to a
pending outage of its pool (failures and planned maintenance go ahead of every waiting patient
but never interrupt work in progress), then to a pending schedule closure, then to the first
servable waiting patient, else back to the free list, lowest unit first. Per-patient draws are
keyed by entity (:mod:`caretwin.sim.draws`), device and arrival draws by stream.
"""

from __future__ import annotations

import heapq
import math

from caretwin.sim.calendar import first_change, first_window, open_at
from caretwin.sim.compiled import NO_STEP, CArrival, CompiledModel, CStep
from caretwin.sim.draws import EntityDraws
from caretwin.sim.kpis import replication_result
from caretwin.sim.pools import Pool
from caretwin.sim.result import ReplicationResult
from caretwin.sim.streams import BlockStream, Purpose, generator, sampler, unit_exponentials
from caretwin.sim.trace import EventKind, TraceRecorder

_ARRIVAL, _STEP_DONE, _FAIL, _REPAIR, _RENEGE, _CAPACITY, _MAINTENANCE = 0, 1, 2, 3, 4, 5, 6
_SCHEDULED = -2  # _begin() scheduled the end of the step; nothing more to do now
_CLOCKS_PER_POOL = 4096  # stream index space per pool for per-clock failure streams
_NO_ATTRS: list[int] = []


def maintenance_marker(window: int) -> int:
    """The ``aux`` of a planned-downtime DOWN/UP event (failures carry their clock, >= 0)."""
    return -2 - window


class Patient:
    __slots__ = (
        "acq_i",
        "armed",
        "arrival",
        "attrs",
        "counted",
        "held",
        "id",
        "marks",
        "n",
        "pathway",
        "request_t",
        "src",
        "step",
        "token",
        "visits",
        "wait_seq",
        "waiting",
    )

    def __init__(
        self,
        pid: int,
        pathway: int,
        t: float,
        counted: bool,
        *,
        src: int = -1,
        n: int = -1,
        attrs: list[int] | None = None,
    ) -> None:
        self.id = pid
        self.pathway = pathway
        self.arrival = t
        self.counted = counted
        self.src = src  # arrival stream index, -1 when none (draws in event order)
        self.n = n  # number within the arrival stream: the key of its own draws
        self.attrs = _NO_ATTRS if attrs is None else attrs  # value index per model attribute
        self.step = NO_STEP
        self.acq_i = 0
        self.request_t = t
        self.held: list[tuple[int, int]] = []
        self.marks: dict[int, float | None] = {}
        self.visits: dict[int, int] | None = None  # visit number per revisitable step
        self.token = 0  # bumped at every step entry: stale patience timers are ignored
        self.armed = -1  # the token whose patience timer is scheduled
        self.wait_seq = 0  # bumped when it stops waiting: stale queue entries are skipped
        self.waiting: tuple[int, ...] = ()  # pools it is queued at


class Engine:
    """One replication of a compiled model."""

    warm = False  # a warm start: the calendar runs back before t = 0 (caretwin.sim.calendar)

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
        self._off = off = model.calendar_offset_h
        self.pools = [Pool(r, w0, w1, open_at(r, off)) for r in model.resources]
        self.samples: list[list[float]] = [[] for _ in model.kpis]
        self.step_entries = [0] * len(model.steps)  # counted patients entering each step
        self.reneged = [0] * len(model.steps)
        self.draws = EntityDraws(model, seed, replication)
        self._arrived = [0] * len(model.arrivals)
        self._arrival_exp = [
            unit_exponentials(generator(seed, replication, Purpose.ARRIVAL, a.index))
            for a in model.arrivals
        ]
        self._ttf: dict[tuple[int, int], BlockStream] = {}
        self._repair: dict[tuple[int, int], BlockStream] = {}
        for r in model.resources:
            if r.ttf is None or r.repair is None:
                continue
            for k in range(r.capacity):
                key = r.index * _CLOCKS_PER_POOL + k
                fail = generator(seed, replication, Purpose.FAILURE, key)
                self._ttf[(r.index, k)] = sampler(r.ttf, fail)
                repair = generator(seed, replication, Purpose.REPAIR, key)
                self._repair[(r.index, k)] = sampler(r.repair, repair)

    # -- scheduling ---------------------------------------------------------------------------

    def _schedule(self, t: float, kind: int, a: object = None, b: int = 0, c: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, a, b, c))

    def _next_poisson(self, arr: CArrival, t: float) -> float:
        """Next arrival of a piecewise-constant-rate Poisson process after ``t`` (by inversion),
        the rates looked up on the model's clock (fast.kernels.poisson_times does the same)."""
        rates = arr.rates
        period = len(rates)
        e = self._arrival_exp[arr.index]()
        off = self._off
        t = t + off
        while True:
            hour = math.floor(t)
            rate = rates[hour % period]
            span = hour + 1 - t
            if rate * span >= e:
                return t + e / rate - off
            e -= rate * span
            t = float(hour + 1)

    def _next_batch(self, arr: CArrival, after: float) -> float:
        off = self._off
        after = after + off
        day = math.floor(after / 24.0)
        while True:
            t = day * 24.0 + arr.at_hour
            if t > after and day % 7 in arr.weekdays:
                return t - off
            day += 1

    # -- patient flow -------------------------------------------------------------------------

    def _arrive(self, arr: CArrival, t: float) -> None:
        n = self._arrived[arr.index]
        self._arrived[arr.index] = n + 1
        attrs = self.draws.attributes(arr) if arr.attributes else None
        counted = self.m.warmup_h <= t < self.m.window_end_h
        p = Patient(self._next_pid, arr.pathway, t, counted, src=arr.index, n=n, attrs=attrs)
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
            p.token += 1
            if step.revisit:
                if p.visits is None:
                    p.visits = {}
                p.visits[s_idx] = p.visits.get(s_idx, -1) + 1
            if p.counted:
                self.step_entries[s_idx] += 1
            if self.tr is not None:
                self.tr.add(t, EventKind.REQUEST, p.id, s_idx)
            hooks = self.m.hooks.request.get(s_idx)
            if hooks:
                self._mark(p, hooks, t)
            if step.acquire:
                if step.mode_all:
                    self._request_all(p, step, t)
                else:
                    self._request(p, step.acquire[0], t)
                return
            s_idx = self._begin(p, step, t)

    def _request(self, p: Patient, r: int, t: float) -> None:
        pool = self.pools[r]
        if p.counted:
            pool.requests += 1
        if pool.free:  # see pools.py: a free unit means nobody servable is waiting
            self._grant(p, r, heapq.heappop(pool.free), t)
        elif pool.queue_limit is not None and pool.waiting >= pool.queue_limit:
            if p.counted:
                pool.turned_away += 1
            self._exit(p, t)  # turned away: leaves the pathway, handing back what it holds
        else:
            self._wait(p, (r,), (self.m.steps[p.step].levels[p.acq_i],), t)

    def _request_all(self, p: Patient, step: CStep, t: float) -> None:
        """``acquire_mode: all``: everything at once, or wait holding none of it."""
        pools = self.pools
        if p.counted:
            for r in step.acquire:
                pools[r].requests += 1
        if all(pools[r].free for r in step.acquire):
            self._grant_all(p, step, t)
            return
        for r in step.acquire:
            pool = pools[r]
            if not pool.free and pool.queue_limit is not None and pool.waiting >= pool.queue_limit:
                if p.counted:
                    pool.turned_away += 1
                self._exit(p, t)
                return
        self._wait(p, step.acquire, step.levels, t)

    def _wait(self, p: Patient, at: tuple[int, ...], levels: tuple[int, ...], t: float) -> None:
        entry = (p, p.wait_seq)
        for r, level in zip(at, levels, strict=True):
            pool = self.pools[r]
            pool.queues[level].append(entry)
            pool.waiting += 1
        p.waiting = at
        step = self.m.steps[p.step]
        if step.patience is not None and p.armed != p.token:
            p.armed = p.token  # one timer per step visit, from the request instant
            deadline = p.request_t + self.draws.patience(p, step)
            self._schedule(max(deadline, t), _RENEGE, p, p.token)

    def _unwait(self, p: Patient) -> None:
        p.wait_seq += 1
        for r in p.waiting:
            self.pools[r].waiting -= 1
        p.waiting = ()

    def _renege(self, p: Patient, token: int, t: float) -> None:
        if p.token != token or not p.waiting:
            return  # served in time, or already gone
        self._unwait(p)
        if p.counted:
            self.reneged[p.step] += 1
        self._exit(p, t)

    def _take(self, p: Patient, r: int, unit: int, t: float) -> None:
        pool = self.pools[r]
        p.held.append((r, unit))
        pool.busy += 1
        pool.tracker.change(t, pool.busy)
        if self.tr is not None:
            self.tr.add(t, EventKind.ACQUIRE, p.id, r, unit)

    def _grant(self, p: Patient, r: int, unit: int, t: float) -> None:
        pool = self.pools[r]  # _take() inlined: one call less on the commonest path
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

    def _grant_all(self, p: Patient, step: CStep, t: float, r0: int = -1, unit0: int = -1) -> None:
        for r in step.acquire:
            unit = unit0 if r == r0 else heapq.heappop(self.pools[r].free)
            self._take(p, r, unit, t)
        p.acq_i = len(step.acquire)
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
        if step.durations:
            kd = self.draws.dur0[step.index][p.src] if p.src >= 0 else None
            if kd is not None:  # inline KeyedDraws.at(): this runs for most steps of most patients
                buf, n = kd.buf, p.n
                hours = buf[n] if n < len(buf) else kd.at(n)
            else:
                hours = self.draws.duration(p, step)
            self._schedule(t + hours, _STEP_DONE, p)
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
        if len(step.targets) == 1 and step.route_attr < 0:
            return step.targets[0]
        kd = self.draws.route0[step.index][p.src] if p.src >= 0 else None
        if kd is None:
            return self.draws.route(p, step)
        buf, n = kd.buf, p.n
        u = buf[n] if n < len(buf) else kd.at(n)
        for target, c in zip(step.targets, step.cum):  # noqa: B905 - equal by construction
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
            return
        if pool.closing:
            pool.closing -= 1
            heapq.heappush(pool.closed, unit)
            return
        if not pool.has_all:  # Pool.pop_fifo() and _unwait() inlined: the commonest path
            for q in pool.queues:
                while q:
                    p, seq = q.popleft()
                    if p.wait_seq == seq:  # live: a sequence request waits at this pool only
                        p.wait_seq = seq + 1
                        p.waiting = ()
                        pool.waiting -= 1
                        self._grant(p, r, unit, t)
                        return
            heapq.heappush(pool.free, unit)
            return
        servable = self._servable(pool, r)
        if servable is None:
            heapq.heappush(pool.free, unit)
            return
        p = servable
        self._unwait(p)
        step = self.m.steps[p.step]
        if step.mode_all:
            self._grant_all(p, step, t, r, unit)
        else:
            self._grant(p, r, unit, t)

    def _servable(self, pool: Pool, r: int) -> Patient | None:
        """First waiting patient a unit of ``r`` serves now: a sequence request, or an
        all-at-once request whose other pools all have a free unit (blocked ones are passed)."""
        pools = self.pools
        for q in pool.queues:
            for i, (p, seq) in enumerate(q):
                if p.wait_seq != seq:
                    continue
                step = self.m.steps[p.step]
                if not step.mode_all or all(pools[x].free for x in step.acquire if x != r):
                    del q[i]
                    return p
            while q and q[0][0].wait_seq != q[0][1]:
                q.popleft()  # drop stale heads so scans stay short
        return None

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

    # -- capacity schedules, failures and planned maintenance ---------------------------------

    def _set_open(self, r: int, target: int, t: float) -> None:
        """Scheduled capacity change: close idle units now and busy ones as they come free (no
        pre-emption); on a rise, cancel pending closures first, then reopen closed units, which
        serve waiting patients at once."""
        pool = self.pools[r]
        delta = target - pool.open
        pool.open = target
        pool.capacity_tracker.change(t, target)
        if delta < 0:
            k = -delta
            while k and pool.free:
                unit = max(pool.free)  # close the highest idle unit, keep low units in use
                pool.free.remove(unit)
                heapq.heapify(pool.free)
                heapq.heappush(pool.closed, unit)
                k -= 1
            pool.closing += k
        else:
            cancel = min(delta, pool.closing)
            pool.closing -= cancel
            for _ in range(delta - cancel):
                self._unit_free(r, heapq.heappop(pool.closed), t)

    def _next_capacity(self, r: int, i: int, t: float) -> None:
        changes = self.m.resources[r].schedule
        j = (i + 1) % len(changes)
        gap = (changes[j][0] - changes[i][0]) % 168 or 168
        self._schedule(t + gap, _CAPACITY, None, r, j)

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

    def _maintenance(self, r: int, w: int, t: float) -> None:
        window = self.m.resources[r].maintenance[w]
        pool = self.pools[r]
        for _ in range(window.units):
            if pool.free:
                self._take_down(r, heapq.heappop(pool.free), maintenance_marker(w), t)
            else:
                pool.pending_failures.append(maintenance_marker(w))
        self._schedule(t + window.every_days * 24.0, _MAINTENANCE, None, r, w)

    def _take_down(self, r: int, unit: int, clock: int, t: float) -> None:
        """Out of service: ``clock`` >= 0 is a failure clock, < 0 a maintenance marker."""
        self.pools[r].down += 1
        if self.tr is not None:
            self.tr.add(t, EventKind.DOWN, -1, r, unit, clock)
        if clock >= 0:
            hours = self._repair[(r, clock)]()
        else:
            hours = self.m.resources[r].maintenance[-2 - clock].duration_h
        self._schedule(t + hours, _REPAIR, clock, r, unit)

    def _repaired(self, r: int, unit: int, clock: int, t: float) -> None:
        self.pools[r].down -= 1
        if self.tr is not None:
            self.tr.add(t, EventKind.UP, -1, r, unit, clock)
        self._unit_free(r, unit, t)
        if clock >= 0:
            self._schedule(t + self._ttf[(r, clock)](), _FAIL, None, r, clock)

    # -- main loop ----------------------------------------------------------------------------

    def _start(self) -> None:
        m = self.m
        for arr in m.arrivals:
            if arr.scheduled:
                if arr.count > 0 and arr.weekdays:
                    self._schedule(self._next_batch(arr, -1e-9), _ARRIVAL, arr)
            elif any(rate > 0 for rate in arr.rates):
                self._schedule(self._next_poisson(arr, 0.0), _ARRIVAL, arr)
        for (r, clock), ttf in self._ttf.items():
            self._schedule(ttf(), _FAIL, None, r, clock)
        for res in m.resources:
            if res.schedule:  # a change at the start, if any, is already the initial state
                first, at = first_change(res, self._off)
                self._schedule(at, _CAPACITY, None, res.index, first)
            for w, win in enumerate(res.maintenance):
                start = first_window(win, self._off, warm=self.warm)
                self._schedule(start, _MAINTENANCE, None, res.index, w)

    def run(self) -> ReplicationResult:
        m = self.m
        self._start()
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
                if a.scheduled:
                    for _ in range(a.count):
                        self._arrive(a, t)
                    self._schedule(self._next_batch(a, t), _ARRIVAL, a)
                else:
                    self._arrive(a, t)
                    self._schedule(self._next_poisson(a, t), _ARRIVAL, a)
            elif kind == _FAIL:
                self._fail(b, c, t)
            elif kind == _REPAIR:
                assert isinstance(a, int)
                self._repaired(b, c, a, t)
            elif kind == _RENEGE:
                assert isinstance(a, Patient)
                self._renege(a, b, t)
            elif kind == _CAPACITY:
                self._set_open(b, m.resources[b].schedule[c][1], t)
                self._next_capacity(b, c, t)
            else:
                self._maintenance(b, c, t)
        self.events = events
        for pool in self.pools:
            pool.tracker.close()
            pool.capacity_tracker.close()
        return replication_result(
            m,
            self.replication,
            self.samples,
            [p.tracker for p in self.pools],
            events,
            [p.requests for p in self.pools],
            [p.turned_away for p in self.pools],
            capacity=[p.capacity_tracker for p in self.pools],
            step_entries=self.step_entries,
            reneged=self.reneged,
        )


def arr_is_batch(a: CArrival) -> bool:
    return a.scheduled
