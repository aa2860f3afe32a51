"""Offered load per resource: rho = arrival rate × mean holding time / capacity.

Computed from the definition's parameters, not from a simulation, so it can be evaluated for
thousands of parameter draws: each pathway is walked from its entry with the routing
probabilities, adding each step's mean duration to every resource held during it. A resource is
held from the step that acquires it until ``release_after``, a later step's
``release_on_acquire``, or the end of the pathway. The holding time is the *service* the
parameters ask for; the time a patient keeps a unit while waiting for the next one (boarding,
blocking) is a consequence of congestion, not an input, and is left out, so rho ≥ 1 means the
resource cannot keep up even without blocking. Capacity is the mean open capacity over the week
(schedules), times the share of time units are up (MTTF / (MTTF + MTTR)) and minus planned
maintenance. Attribute-dependent routes and durations use the unweighted mean over their cases
(the attribute mix is not a parameter of the definition's arrivals' means).
"""

from __future__ import annotations

from dataclasses import dataclass

from caretwin.model import PoissonArrivals, TwinDefinition
from caretwin.model.definition import EXIT, Pathway, ResourcePool, Route
from caretwin.model.extensions import RouteCases, hourly_capacity

__all__ = ["ResourceLoad", "offered_load"]

_MIN_P = 1e-12
_MAX_STEPS = 200  # a pathway with loops is followed this many steps deep


@dataclass(frozen=True)
class ResourceLoad:
    arrival_rate: float  # acquisitions per hour
    holding_h: float  # mean hours held per acquisition
    capacity: float  # effective units
    rho: float


def _routes(nxt: str | list[Route] | RouteCases) -> list[tuple[str, float]]:
    if isinstance(nxt, str):
        return [(nxt, 1.0)]
    if isinstance(nxt, RouteCases):
        options = [*nxt.cases.values(), *([nxt.default] if nxt.default else [])]
        return [(r.to, r.p / len(options)) for routes in options for r in routes]
    return [(r.to, r.p) for r in nxt]


def _walk(pathway: Pathway) -> tuple[dict[str, float], dict[str, float]]:
    """Expected acquisitions and unit-hours held per patient entering ``pathway``."""
    index = {s.id: i for i, s in enumerate(pathway.steps)}
    acquired: dict[str, float] = {}
    held_h: dict[str, float] = {}
    stack: list[tuple[int, float, frozenset[str], int]] = [(0, 1.0, frozenset(), 0)]
    while stack:
        i, p, held, depth = stack.pop()
        if p < _MIN_P or depth > _MAX_STEPS:
            continue
        step = pathway.steps[i]
        now = set(held) - set(step.release_on_acquire)
        for r in step.acquire:
            acquired[r] = acquired.get(r, 0.0) + p
            now.add(r)
        mean = step.duration.mean() if step.duration is not None else 0.0
        for r in now:
            held_h[r] = held_h.get(r, 0.0) + p * mean
        now -= set(step.release_after)
        for to, q in _routes(step.next):
            if to != EXIT and to in index:
                stack.append((index[to], p * q, frozenset(now), depth + 1))
    return acquired, held_h


def _arrival_rate(defn: TwinDefinition) -> dict[str, float]:
    rates: dict[str, float] = {}
    for arr in defn.arrivals.values():
        if isinstance(arr, PoissonArrivals):
            lam = sum(arr.rates) / len(arr.rates) * arr.multiplier
        else:
            lam = arr.count * len(arr.weekdays) / 168.0
        rates[arr.pathway] = rates.get(arr.pathway, 0.0) + lam
    return rates


def _capacity(res: ResourcePool) -> float:
    hours = hourly_capacity(res.capacity, res.schedule)
    cap = sum(hours) / len(hours)
    if res.failures is not None:
        up = res.failures.time_to_failure.mean()
        cap *= up / (up + res.failures.repair.mean())
    for m in res.maintenance:
        cap -= m.units * m.duration_h / (m.every_days * 24.0)
    return cap


def offered_load(defn: TwinDefinition) -> dict[str, ResourceLoad]:
    """rho of every resource of ``defn`` (infinite when it has no effective capacity)."""
    acquired: dict[str, float] = {}
    work: dict[str, float] = {}
    for name, lam in _arrival_rate(defn).items():
        a, h = _walk(defn.pathways[name])
        for r, v in a.items():
            acquired[r] = acquired.get(r, 0.0) + lam * v
        for r, v in h.items():
            work[r] = work.get(r, 0.0) + lam * v
    out = {}
    for r, res in defn.resources.items():
        cap = _capacity(res)
        w = work.get(r, 0.0)
        rate = acquired.get(r, 0.0)
        out[r] = ResourceLoad(
            arrival_rate=rate,
            holding_h=w / rate if rate else 0.0,
            capacity=cap,
            rho=w / cap if cap > 0 else (float("inf") if w else 0.0),
        )
    return out
