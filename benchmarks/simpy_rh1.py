"""RH1 in plain SimPy: the independent comparator of the simulation benchmark.

Written the way a competent SimPy user writes a hospital model, from the prose specification in
``shared/reference-hospital.md`` and nothing of CareTwin's engine:

* one process per patient, ``simpy.Resource`` per bed pool and a ``simpy.PriorityResource`` for
  the CT scanners;
* boarding and blocking by holding one request while waiting for the next (the ED space is
  released the instant the inpatient bed is granted; the ICU bed the instant the ward bed is);
* a failure process per scanner that requests a scanner at a priority ahead of every patient
  (non-preemptive: a scan in progress is never interrupted), holds it for the repair and restarts
  its clock at the end of the repair;
* time-varying Poisson arrivals by inversion of the piecewise-constant cumulative rate, and the
  weekday elective batch;
* KPIs exactly as RH1 defines them: patients counted by hospital arrival inside the run window,
  a sample taken only when its interval ends before the horizon (end of the cool-down),
  occupancies as time averages over the window, blocked and boarding patients included.

Random numbers come from ``numpy.random.Generator`` streams seeded by one ``SeedSequence`` per
replication, one stream per purpose, drawn in blocks (one numpy call per 1024 values, the usual
way to avoid numpy's per-call overhead; CareTwin does the same, so the comparison is fair).

Only the main loop differs from ``env.run(until=...)``: it calls ``env.step()`` itself so that
processed events can be counted (see :func:`run_replication`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from simpy.resources.resource import Request

HOURS_PER_DAY = 24.0
BLOCK = 1024
KPI_NAMES = (
    "ed_wait_mean_h",
    "ed_los_mean_h",
    "ed_los_over_4h_pct",
    "boarding_mean_h",
    "ct_wait_mean_h",
    "icu_occupancy_mean",
    "ward_occupancy_mean",
    "surgical_wait_mean_h",
    "icu_stepdown_block_mean_h",
    "ed_patients",
)
ProcessGen = Generator[simpy.Event, Any, None]


@dataclass(frozen=True)
class RH1Params:
    """RH1's parameters (hours); the scenario knobs are plain fields."""

    ed_spaces: int = 28
    ct_scanners: int = 2
    icu_beds: int = 16
    ward_beds: int = 160
    surgical_beds: int = 28
    # ED patients/hour by hour of day: 0-5, 6-7, 8-11, 12-17, 18-21, 22-23.
    ed_rates: tuple[float, ...] = (
        (3.0,) * 6 + (4.5,) * 2 + (8.0,) * 4 + (8.5,) * 6 + (7.0,) * 4 + (4.5,) * 2
    )
    ed_multiplier: float = 1.0
    elective_weekdays: frozenset[int] = frozenset(range(5))  # day 0 is a Monday
    elective_hour: float = 7.0
    elective_count: int = 12
    p_ct: float = 0.35
    p_admit: float = 0.25
    p_icu: float = 0.12
    p_stepdown: float = 0.80
    ct_mtbf: float = 240.0
    warmup_days: float = 28.0
    run_days: float = 364.0
    cooldown_days: float = 14.0

    @property
    def hourly_rates(self) -> tuple[float, ...]:
        return tuple(r * self.ed_multiplier for r in self.ed_rates)


# (mean, sd) of each LogNormal duration, parameterised by the variable's own mean and sd.
LOGNORMALS: dict[str, tuple[float, float]] = {
    "treatment": (2.0, 1.2),
    "ct_scan": (0.33, 0.10),
    "ct_review": (0.75, 0.40),
    "icu_stay": (72.0, 60.0),
    "ward_stay": (96.0, 96.0),
    "surgical_stay": (60.0, 36.0),
    "ct_repair": (6.0, 3.0),
}


class Draws:
    """Scalar draws served from blocks made by one vectorised numpy call."""

    __slots__ = ("_buf", "_draw", "_i")

    def __init__(self, draw: Callable[[int], np.ndarray]) -> None:
        self._draw = draw
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._draw(BLOCK).tolist()
            self._i = 0
        self._i += 1
        return self._buf[self._i - 1]


def lognormal(rng: np.random.Generator, mean: float, sd: float) -> Draws:
    sigma2 = math.log(1.0 + (sd / mean) ** 2)
    mu, sigma = math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)
    return Draws(lambda n: rng.lognormal(mu, sigma, n))


def exponential(rng: np.random.Generator, mean: float) -> Draws:
    return Draws(lambda n: rng.exponential(mean, n))


@dataclass
class TimeAverage:
    """Time integral of a level (beds held), clipped to the window ``[w0, w1)``."""

    w0: float
    w1: float
    level: int = 0
    last: float = 0.0
    area: float = 0.0

    def add(self, now: float, delta: int) -> None:
        a, b = max(self.last, self.w0), min(now, self.w1)
        if b > a:
            self.area += self.level * (b - a)
        self.level += delta
        self.last = now

    def mean(self) -> float:
        self.add(self.w1, 0)
        return self.area / (self.w1 - self.w0)


@dataclass
class Samples:
    ed_wait: list[float] = field(default_factory=list)
    ed_los: list[float] = field(default_factory=list)
    boarding: list[float] = field(default_factory=list)
    ct_wait: list[float] = field(default_factory=list)
    surgical_wait: list[float] = field(default_factory=list)
    stepdown_block: list[float] = field(default_factory=list)


class Hospital:
    """One replication's environment, resources, random streams and KPI collectors."""

    def __init__(self, env: simpy.Environment, p: RH1Params, seed: int, rep: int) -> None:
        self.env, self.p = env, p
        self.w0 = p.warmup_days * HOURS_PER_DAY
        self.w1 = self.w0 + p.run_days * HOURS_PER_DAY
        self.ed = simpy.Resource(env, p.ed_spaces)
        self.ct = simpy.PriorityResource(env, p.ct_scanners)
        self.icu = simpy.Resource(env, p.icu_beds)
        self.ward = simpy.Resource(env, p.ward_beds)
        self.surgical = simpy.Resource(env, p.surgical_beds)
        self.icu_occ = TimeAverage(self.w0, self.w1)
        self.ward_occ = TimeAverage(self.w0, self.w1)
        self.s = Samples()
        # One independent stream per purpose (and per scanner for the failure clocks).
        names = [*LOGNORMALS, "arrivals", "routing", *(f"ttf{k}" for k in range(p.ct_scanners))]
        children = np.random.SeedSequence(seed, spawn_key=(rep,)).spawn(len(names))
        rngs = {
            n: np.random.Generator(np.random.PCG64(c)) for n, c in zip(names, children, strict=True)
        }
        self.dur = {n: lognormal(rngs[n], m, sd) for n, (m, sd) in LOGNORMALS.items()}
        self.exp = Draws(rngs["arrivals"].standard_exponential)
        self.u = Draws(rngs["routing"].random)
        self.ttf = [exponential(rngs[f"ttf{k}"], p.ct_mtbf) for k in range(p.ct_scanners)]

    def counted(self, arrival: float) -> bool:
        return self.w0 <= arrival < self.w1

    # -- arrivals ------------------------------------------------------------------------------

    def ed_arrivals(self) -> ProcessGen:
        """Poisson arrivals with an hourly rate: invert the cumulative rate, hour by hour."""
        env, rates = self.env, self.p.hourly_rates
        t = 0.0
        while True:
            e = self.exp()
            while True:
                hour = math.floor(t)
                rate = rates[hour % 24]
                if rate * (hour + 1 - t) >= e:
                    t += e / rate
                    break
                e -= rate * (hour + 1 - t)
                t = float(hour + 1)
            yield env.timeout(t - env.now)
            env.process(self.ed_patient())

    def electives(self) -> ProcessGen:
        env, p = self.env, self.p
        day = 0
        while True:
            if day % 7 in p.elective_weekdays:
                yield env.timeout(day * HOURS_PER_DAY + p.elective_hour - env.now)
                for _ in range(p.elective_count):
                    env.process(self.elective_patient())
            day += 1

    # -- patients ------------------------------------------------------------------------------

    def ed_patient(self) -> ProcessGen:
        env, p, s = self.env, self.p, self.s
        arrival = env.now
        counted = self.counted(arrival)
        space = self.ed.request()
        yield space
        if counted:
            s.ed_wait.append(env.now - arrival)
        yield env.timeout(self.dur["treatment"]())
        if self.u() < p.p_ct:
            asked = env.now
            with self.ct.request(priority=1) as scanner:
                yield scanner
                if counted:
                    s.ct_wait.append(env.now - asked)
                yield env.timeout(self.dur["ct_scan"]())
            yield env.timeout(self.dur["ct_review"]())
        if self.u() >= p.p_admit:
            self.ed.release(space)
            if counted:
                s.ed_los.append(env.now - arrival)
            return
        asked = env.now
        if self.u() < p.p_icu:
            with self.icu.request() as bed:
                yield bed  # boarding: the ED space is still held
                self.leave_ed(space, arrival, asked, counted)
                self.icu_occ.add(env.now, +1)
                yield env.timeout(self.dur["icu_stay"]())
                if self.u() < p.p_stepdown:
                    asked = env.now
                    ward_bed = self.ward.request()
                    yield ward_bed  # blocking: the ICU bed is still held
                    if counted:
                        s.stepdown_block.append(env.now - asked)
                else:
                    ward_bed = None
                self.icu_occ.add(env.now, -1)
            if ward_bed is not None:
                yield from self.ward_stay(ward_bed)
        else:
            ward_bed = self.ward.request()
            yield ward_bed
            self.leave_ed(space, arrival, asked, counted)
            yield from self.ward_stay(ward_bed)

    def leave_ed(self, space: Request, arrival: float, asked: float, counted: bool) -> None:
        """The inpatient bed is assigned: the boarder hands back the ED space at once."""
        now = self.env.now
        self.ed.release(space)
        if counted:
            self.s.boarding.append(now - asked)
            self.s.ed_los.append(now - arrival)

    def ward_stay(self, bed: Request) -> ProcessGen:
        env = self.env
        self.ward_occ.add(env.now, +1)
        yield env.timeout(self.dur["ward_stay"]())
        self.ward.release(bed)
        self.ward_occ.add(env.now, -1)

    def elective_patient(self) -> ProcessGen:
        env = self.env
        arrival = env.now
        with self.surgical.request() as bed:
            yield bed
            if self.counted(arrival):
                self.s.surgical_wait.append(env.now - arrival)
            yield env.timeout(self.dur["surgical_stay"]())

    # -- devices -------------------------------------------------------------------------------

    def ct_failures(self, k: int) -> ProcessGen:
        """Scanner ``k``'s failure clock; the failure takes the next idle scanner (priority 0)."""
        env = self.env
        while True:
            yield env.timeout(self.ttf[k]())
            with self.ct.request(priority=0) as scanner:
                yield scanner
                yield env.timeout(self.dur["ct_repair"]())

    # -- KPIs ----------------------------------------------------------------------------------

    def kpis(self) -> dict[str, float]:
        s = self.s

        def mean(xs: list[float]) -> float:
            return float(np.mean(xs)) if xs else math.nan

        los = np.asarray(s.ed_los)
        return {
            "ed_wait_mean_h": mean(s.ed_wait),
            "ed_los_mean_h": mean(s.ed_los),
            "ed_los_over_4h_pct": 100.0 * float(np.count_nonzero(los > 4.0)) / max(1, los.size),
            "boarding_mean_h": mean(s.boarding),
            "ct_wait_mean_h": mean(s.ct_wait),
            "icu_occupancy_mean": self.icu_occ.mean(),
            "ward_occupancy_mean": self.ward_occ.mean(),
            "surgical_wait_mean_h": mean(s.surgical_wait),
            "icu_stepdown_block_mean_h": mean(s.stepdown_block),
            "ed_patients": float(los.size),
        }


@dataclass(frozen=True)
class SimpyResult:
    replication: int
    kpis: dict[str, float]
    events: int  # SimPy events processed (each env.step() call)


def run_replication(seed: int, rep: int, params: RH1Params | None = None) -> SimpyResult:
    """One RH1 replication to the end of the cool-down.

    Equivalent to ``env.run(until=horizon)`` (events at the horizon itself included, as in
    CareTwin), written out so every processed event is counted: one ``env.step()`` is one
    event popped from SimPy's queue and its callbacks run (timeouts, resource requests and
    releases, process starts and ends).
    """
    p = params or RH1Params()
    env = simpy.Environment()
    h = Hospital(env, p, seed, rep)
    env.process(h.ed_arrivals())
    env.process(h.electives())
    for k in range(p.ct_scanners):
        env.process(h.ct_failures(k))
    horizon = (p.warmup_days + p.run_days + p.cooldown_days) * HOURS_PER_DAY
    step, peek = env.step, env.peek
    events = 0
    while peek() <= horizon:
        step()
        events += 1
    return SimpyResult(rep, h.kpis(), events)


def job(args: tuple[int, int, RH1Params]) -> SimpyResult:
    """Picklable job for :func:`caretwin.sim.executors.map_replications`."""
    seed, rep, params = args
    return run_replication(seed, rep, params)
