"""Compilation helpers for the features beyond RH1: patient attributes, attribute-dependent
durations and routes, priority levels, capacity schedules and cycles in pathways.

Attribute values become small integers: ``Attributes.values[a][v]`` is the name of value ``v``
of attribute ``a``; a patient carries one value index per attribute, -1 when its arrival stream
does not draw it, and every lookup table keyed by value has one extra last entry for -1 (the
``default`` case), so the engine indexes it without a branch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from caretwin.model.definition import TwinDefinition
from caretwin.model.distributions import Distribution
from caretwin.model.extensions import (
    HOURS_PER_WEEK,
    CapacitySchedule,
    DurationCases,
    Route,
    RouteCases,
    hourly_capacity,
)

RouteTable = tuple[tuple[int, ...], tuple[float, ...]]  # (targets, cumulative probabilities)


@dataclass
class Attributes:
    names: list[str] = field(default_factory=list)
    values: list[list[str]] = field(default_factory=list)

    def index(self, name: str) -> int:
        return self.names.index(name)


def collect_attributes(d: TwinDefinition) -> Attributes:
    """Every attribute any arrival stream draws, with its values in order of first mention."""
    out = Attributes()
    for a in d.arrivals.values():
        for name, table in a.attributes.items():
            if name not in out.names:
                out.names.append(name)
                out.values.append([])
            vals = out.values[out.names.index(name)]
            vals.extend(v for v in table if v not in vals)
    return out


def _cum(ps: list[float]) -> tuple[float, ...]:
    acc, out = 0.0, []
    for p in ps:
        acc += p
        out.append(acc)
    out[-1] = 1.0  # guard against rounding leaving a sliver unassigned
    return tuple(out)


def arrival_attributes(
    tables: dict[str, dict[str, float]], attrs: Attributes
) -> tuple[tuple[int, tuple[int, ...], tuple[float, ...]], ...]:
    out = []
    for name, table in tables.items():
        ai = attrs.index(name)
        vals = tuple(attrs.values[ai].index(v) for v in table)
        out.append((ai, vals, _cum(list(table.values()))))
    return tuple(out)


def _case_index(
    attrs: Attributes, by: str, keys: list[str], default: int
) -> tuple[int, tuple[int, ...]]:
    """(attribute index, slot by value index with the default slot last)."""
    ai = attrs.index(by)
    slots = [keys.index(v) if v in keys else default for v in attrs.values[ai]]
    return ai, (*slots, default)


def duration_table(
    duration: Distribution | DurationCases | None, attrs: Attributes
) -> tuple[tuple[Distribution, ...], int, tuple[int, ...]]:
    if duration is None:
        return (), -1, (0,)
    if not isinstance(duration, DurationCases):
        return (duration,), -1, (0,)
    dists = list(duration.cases.values())
    default = 0
    if duration.default is not None:
        default = len(dists)
        dists.append(duration.default)
    ai, case = _case_index(attrs, duration.by, list(duration.cases), default)
    return tuple(dists), ai, case


def route_table(
    nxt: str | list[Route] | RouteCases, target: Callable[[str], int], attrs: Attributes
) -> tuple[tuple[RouteTable, ...], int, tuple[int, ...]]:
    def table(routes: list[Route]) -> RouteTable:
        return tuple(target(r.to) for r in routes), _cum([r.p for r in routes])

    if isinstance(nxt, str):
        return (((target(nxt),), (1.0,)),), -1, (0,)
    if isinstance(nxt, list):
        return (table(nxt),), -1, (0,)
    tables = [table(v) for v in nxt.cases.values()]
    default = 0
    if nxt.default is not None:
        default = len(tables)
        tables.append(table(nxt.default))
    ai, case = _case_index(attrs, nxt.by, list(nxt.cases), default)
    return tuple(tables), ai, case


def queue_levels(d: TwinDefinition, res_index: dict[str, int]) -> list[list[int]]:
    """Per pool, the sorted distinct priorities of the steps acquiring it (at least [0])."""
    prios: list[set[int]] = [set() for _ in res_index]
    for pw in d.pathways.values():
        for s in pw.steps:
            for r in s.acquire:
                prios[res_index[r]].add(s.priority)
    return [sorted(p) if p else [0] for p in prios]


def capacity_changes(
    capacity: int, schedule: CapacitySchedule | None
) -> tuple[tuple[tuple[int, int], ...], int]:
    """(hour of week, new open capacity) at each change of the weekly profile, and the open
    capacity at t = 0."""
    hourly = hourly_capacity(capacity, schedule)
    changes = tuple((h, hourly[h]) for h in range(HOURS_PER_WEEK) if hourly[h] != hourly[h - 1])
    return changes, hourly[0]


def cyclic_steps(d: TwinDefinition, step_index: dict[tuple[str, str], int]) -> set[int]:
    """Steps a patient can reach again from themselves (loops such as ICU readmission)."""
    out: set[int] = set()
    for pname, pw in d.pathways.items():
        succ: dict[str, set[str]] = {}
        for s in pw.steps:
            if isinstance(s.next, str):
                tos = {s.next}
            elif isinstance(s.next, list):
                tos = {r.to for r in s.next}
            else:
                tos = {r.to for _, routes in s.next.route_lists() for r in routes}
            succ[s.id] = {t for t in tos if t in succ or any(x.id == t for x in pw.steps)}
        for s in pw.steps:
            seen: set[str] = set()
            todo = list(succ[s.id])
            while todo:
                cur = todo.pop()
                if cur == s.id:
                    out.add(step_index[(pname, s.id)])
                    break
                if cur not in seen:
                    seen.add(cur)
                    todo.extend(succ.get(cur, ()))
    return out
