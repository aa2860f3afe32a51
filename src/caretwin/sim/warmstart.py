"""Warm start: run a replication from a :class:`~caretwin.sim.state.HospitalState`, not empty.

The run's clock starts at 0 = the state's ``as_of``, which is the model's calendar offset
(``CompiledModel.calendar_offset_h``): arrival rates, elective weekdays, capacity schedules and
maintenance windows are looked up at ``as_of + t`` by the engine itself
(:mod:`caretwin.sim.calendar`). At t = 0:

* a patient in service gets the *remaining* duration of its step, drawn from the step's
  distribution conditioned on what has already elapsed (``X − e | X > e``), exactly: by the
  truncated normal of log X for log-normals, the survival function and its inverse for gamma,
  closed forms for Weibull, exponential (memoryless), uniform and fixed, and the renormalised
  tail for empirical distributions. A patient past the longest possible duration (a fixed or
  empirical step overrun) finishes at t = 0;
* a device under repair gets its remaining repair time the same way; its failure clock is
  stopped until the repair ends, and the clocks of working units start afresh (exact for
  exponential times to failure, an approximation otherwise);
* a unit out for planned maintenance comes back when its window's ``duration_h`` is over (no
  randomness); the windows after ``as_of`` follow the model's weekly calendar;
* patients and devices take the pool's open units first; where they hold more than the schedule
  has open at ``as_of`` they keep the extra units, which close as they are handed back (the
  schedule never pre-empts);
* waiting patients join their pool's FIFO queue by original request time (longest wait first)
  and are served at once if the state left a unit free.

The initial holdings appear in the trace as ACQUIRE/DOWN events at t = 0. Draws for the state
come from their own SeedSequence streams (``WARMSTART_PURPOSE``), so the engine's streams are
untouched and the same state, model and seed give bit-identical replications.

Until the engine has a start-state hook, :class:`WarmStartEngine` subclasses the engine: it
places the state at t = 0 and stops the failure clocks of units that are down. See the module
docs of :mod:`caretwin.sim.engine` for the semantics it preserves.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

from caretwin.model.distributions import (
    Distribution,
    Empirical,
    Exponential,
    Fixed,
    Gamma,
    LogNormal,
    Uniform,
    Weibull,
)
from caretwin.sim.compiled import CArrival, CompiledModel, CStep
from caretwin.sim.engine import (
    _FAIL,
    _RENEGE,
    _REPAIR,
    _STEP_DONE,
    Engine,
    Patient,
    maintenance_marker,
)
from caretwin.sim.result import ReplicationResult
from caretwin.sim.state import HospitalState, acquired_prefix, check_state
from caretwin.sim.trace import EventKind, TraceRecorder

# Stream purpose of warm-start draws: far from the engine's own purposes (1, 2, ...).
WARMSTART_PURPOSE = 64
_DEVICE_STREAMS = 1 << 20  # device residuals: index = this + resource index
_PATIENCE_STREAMS = 1 << 21  # patience left of waiting patients: this + step index


def residual(dist: Distribution, elapsed: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Remaining time ``X − e`` given ``X > e`` for each elapsed ``e``, from uniforms ``u``."""
    e = np.asarray(elapsed, dtype=float)
    v = 1.0 - np.asarray(u, dtype=float)  # in (0, 1]: safe under log
    if isinstance(dist, Exponential):
        return -dist.mean_ * np.log(v)
    if isinstance(dist, LogNormal):
        with np.errstate(divide="ignore"):
            a = np.where(e > 0, (np.log(np.maximum(e, 1e-300)) - dist.mu) / dist.sigma, -np.inf)
        # log X > log e: a standard normal truncated below at a, by inversion of its tail;
        # truncnorm (slower) only where the tail probability underflows.
        tail_p = special.ndtr(-a)
        z = np.asarray(-special.ndtri(v * tail_p), dtype=float)
        far = tail_p < 1e-250
        if far.any():
            z[far] = stats.truncnorm.ppf(np.asarray(u)[far], a[far], np.inf)
        tail: np.ndarray = np.maximum(np.exp(dist.mu + dist.sigma * z) - e, 0.0)
        return tail
    if isinstance(dist, Weibull):
        k, lam = dist.shape, dist.scale
        x = lam * ((e / lam) ** k - np.log(v)) ** (1.0 / k)
        left: np.ndarray = np.maximum(np.asarray(x, dtype=float) - e, 0.0)
        return left
    if isinstance(dist, Gamma):
        g = stats.gamma(dist.shape, scale=dist.scale)
        tail = g.sf(e)
        x = g.isf(v * tail)
        # Far in the tail sf underflows; a gamma's residual life tends to Exponential(scale).
        far = ~(tail > 1e-280) | ~np.isfinite(x)
        out = np.where(far, -dist.scale * np.log(v), x - e)
        return np.maximum(out, 0.0)
    if isinstance(dist, Fixed):
        return np.maximum(dist.value - e, 0.0)
    if isinstance(dist, Uniform):
        lo = np.maximum(e, dist.low)
        return np.where(e < dist.high, lo + u * (dist.high - lo) - e, 0.0)
    assert isinstance(dist, Empirical)
    values = np.asarray(dist.values, dtype=float)
    w = np.ones_like(values) if dist.weights is None else np.asarray(dist.weights, dtype=float)
    out = np.zeros_like(e)
    for i, (ei, ui) in enumerate(zip(e.tolist(), np.asarray(u).tolist(), strict=True)):
        keep = values > ei
        total = w[keep].sum()
        if total > 0:
            cum = np.cumsum(w[keep]) / total
            j = min(int(np.searchsorted(cum, ui, side="right")), int(keep.sum()) - 1)
            out[i] = values[keep][j] - ei
    return out


@dataclass
class _Group:
    """Patients of the state in one step and status, resolved to the compiled model's indexes."""

    step: int
    pathway: int
    waiting: bool
    acq_i: int
    holds: tuple[int, ...]
    elapsed: list[float] = field(default_factory=list)


@dataclass
class CompiledState:
    """A state resolved against a compiled model once, reused by every replication."""

    start_h: float
    groups: list[_Group]
    down: dict[int, list[float]]  # resource -> elapsed repair hours of each down unit
    pending: dict[int, int]  # resource -> failures reported, unit still in use
    # resource -> (window, elapsed hours) of each unit out for planned maintenance
    maintenance: dict[int, list[tuple[int, float]]] = field(default_factory=dict)


def compile_state(state: HospitalState, model: CompiledModel) -> CompiledState:
    """Resolve names to indexes (call :func:`check_state` first for friendly errors)."""
    steps = {s.name: s for s in model.steps}
    res = {r.name: r.index for r in model.resources}
    groups: dict[tuple[int, bool, tuple[int, ...]], _Group] = {}
    for p in state.patients:
        s = steps[p.step]
        holds = tuple(res[r] for r in p.holds)
        k = acquired_prefix([model.resources[r].name for r in s.acquire], Counter(p.holds))
        waiting = p.status == "waiting"
        g = groups.setdefault(
            (s.index, waiting, holds), _Group(s.index, s.pathway, waiting, k, holds)
        )
        g.elapsed.extend([p.elapsed_h] * p.count)
    down: dict[int, list[float]] = {}
    pending: dict[int, int] = {}
    maintenance: dict[int, list[tuple[int, float]]] = {}
    for d in state.devices:
        r = res[d.resource]
        if d.status == "down":
            down.setdefault(r, []).extend([d.elapsed_h] * d.count)
        elif d.status == "maintenance":
            maintenance.setdefault(r, []).extend([(d.window_index, d.elapsed_h)] * d.count)
        else:
            pending[r] = pending.get(r, 0) + d.count
    return CompiledState(state.start_hour(), list(groups.values()), down, pending, maintenance)


def forecast_model(model: CompiledModel, hours: float) -> CompiledModel:
    """The compiled model run for ``hours`` from t = 0, every patient window-counted."""
    return dataclasses.replace(model, warmup_h=0.0, window_end_h=hours, horizon_h=hours)


class WarmStartEngine(Engine):
    """An :class:`Engine` whose replication starts from a compiled state at ``as_of``."""

    warm = True

    def __init__(
        self,
        model: CompiledModel,
        state: CompiledState,
        seed: int,
        replication: int,
        trace: TraceRecorder | None = None,
    ) -> None:
        model = dataclasses.replace(model, calendar_offset_h=state.start_h)
        super().__init__(model, seed, replication, trace)
        self._state = state
        self._seed = seed
        self._stopped_clocks: set[tuple[int, int]] = set()

    def _rng(self, index: int) -> np.random.Generator:
        key = (self.replication, WARMSTART_PURPOSE, index)
        seq = np.random.SeedSequence(self._seed, spawn_key=key)
        return np.random.Generator(np.random.PCG64(seq))

    def _next_batch(self, arr: CArrival, after: float) -> float:
        after = max(after, 0.0)  # batches strictly after as_of: those at as_of are in the state
        return super()._next_batch(arr, after)

    def _schedule(self, t: float, kind: int, a: object = None, b: int = 0, c: int = 0) -> None:
        if self._stopped_clocks and kind == _FAIL and (b, c) in self._stopped_clocks:
            self._stopped_clocks.discard((b, c))  # the clock restarts when the repair ends
            return
        super()._schedule(t, kind, a, b, c)

    def _start(self) -> None:
        self._place_devices()
        self._place_patients()
        super()._start()

    def _unit(self, r: int) -> int:
        """A unit for something the state has in a pool: an open one, else one the schedule
        has closed by now, which closes again when it is handed back."""
        pool = self.pools[r]
        if pool.free:
            return heapq.heappop(pool.free)
        pool.closing += 1
        return heapq.heappop(pool.closed)

    def _place_devices(self) -> None:
        for r, elapsed in sorted(self._state.down.items()):
            repair = self.m.resources[r].repair
            assert repair is not None
            u = self._rng(_DEVICE_STREAMS + r).random(len(elapsed))
            remaining = residual(repair, np.asarray(elapsed), u)
            for clock, rem in enumerate(remaining.tolist()):
                self._down(r, clock, rem)
                self._stopped_clocks.add((r, clock))
        for r, units in sorted(self._state.maintenance.items()):
            windows = self.m.resources[r].maintenance
            for w, el in units:
                self._down(r, maintenance_marker(w), max(windows[w].duration_h - el, 0.0))

    def _down(self, r: int, clock: int, remaining: float) -> None:
        unit = self._unit(r)
        self.pools[r].down += 1
        if self.tr is not None:
            self.tr.add(0.0, EventKind.DOWN, -1, r, unit, clock)
        self._schedule(remaining, _REPAIR, clock, r, unit)

    def _place_patients(self) -> None:
        queued: list[tuple[float, int, Patient]] = []
        for g in self._state.groups:
            step = self.m.steps[g.step]
            e = np.asarray(g.elapsed)
            if g.waiting:
                left = None
                if step.patience is not None:  # patience left, given it has lasted e already
                    left = residual(
                        step.patience, e, self._rng(_PATIENCE_STREAMS + g.step).random(e.size)
                    )
            else:
                dist = _default_duration(step)
                assert dist is not None
                left = residual(dist, e, self._rng(g.step).random(e.size))
            for i, el in enumerate(g.elapsed):
                p = Patient(self._next_pid, g.pathway, -el, False)
                self._next_pid += 1
                p.step, p.acq_i, p.request_t, p.token = g.step, g.acq_i, -el, 1
                for r in g.holds:
                    self._take(p, r, self._unit(r), 0.0)
                if not g.waiting:
                    assert left is not None
                    self._schedule(float(left[i]), _STEP_DONE, p)
                    continue
                if left is not None:
                    p.armed = p.token  # its own timer, so _wait does not draw another
                    self._schedule(float(left[i]), _RENEGE, p, p.token)
                queued.append((-el, len(queued), p))
        for _, _, p in sorted(queued, key=lambda q: (q[0], q[1])):  # longest wait first
            step = self.m.steps[p.step]
            if step.mode_all:
                self._wait(p, step.acquire, step.levels, 0.0)
            else:
                self._wait(p, (step.acquire[p.acq_i],), (step.levels[p.acq_i],), 0.0)
        for r, n in sorted(self._state.pending.items()):
            clock0 = len(self._state.down.get(r, []))
            for clock in range(clock0, clock0 + n):
                self._stopped_clocks.add((r, clock))
                self.pools[r].pending_failures.append(clock)
        for r, pool in enumerate(self.pools):  # units the state left idle serve at once
            while pool.free and (pool.waiting or pool.pending_failures):
                before = len(pool.free)
                self._unit_free(r, heapq.heappop(pool.free), 0.0)
                if len(pool.free) >= before:
                    break  # nobody servable: the unit went back


def _default_duration(step: CStep) -> Distribution | None:
    """The step's duration for a patient without attributes (the default case)."""
    if not step.durations:
        return None
    return step.durations[step.dur_case[-1] if step.dur_attr >= 0 else 0]


def run_from_state(
    model: CompiledModel,
    state: CompiledState,
    seed: int,
    replication: int,
    trace: TraceRecorder | None = None,
) -> ReplicationResult:
    """One replication of ``model`` (already cut to the forecast horizon) from ``state``."""
    return WarmStartEngine(model, state, seed, replication, trace).run()


__all__ = [
    "WARMSTART_PURPOSE",
    "CompiledState",
    "WarmStartEngine",
    "check_state",
    "compile_state",
    "forecast_model",
    "residual",
    "run_from_state",
]
