"""Cross-field checks of the parts beyond RH1: routes, capacity schedules, maintenance windows,
patient attributes and what depends on them. Every problem names its field path."""

from __future__ import annotations

import math
from typing import cast

from caretwin.model.definition import EXIT, Step, TwinDefinition
from caretwin.model.extensions import (
    HOURS_PER_WEEK,
    CapacityWindow,
    DurationCases,
    Route,
    RouteCases,
)

Problem = tuple[str, str]
PROB_TOL = 1e-6


def check_routes(routes: list[Route], ids: list[str], path: str) -> list[Problem]:
    out: list[Problem] = []
    if not routes:
        return [(path, "needs at least one route")]
    total = math.fsum(r.p for r in routes)
    if abs(total - 1.0) > PROB_TOL:
        out.append((path, f"routing probabilities sum to {total:.6g}, not 1"))
    for j, r in enumerate(routes):
        if r.to != EXIT and r.to not in ids:
            out.append((f"{path}[{j}].to", f"unknown step '{r.to}'"))
    return out


def check_extensions(d: TwinDefinition) -> list[Problem]:
    return _check_resources(d) + _check_attributes(d) + _check_steps(d)


def _check_resources(d: TwinDefinition) -> list[Problem]:
    out: list[Problem] = []
    for name, r in d.resources.items():
        base = f"resources.{name}"
        sched = r.schedule or []
        if sched and isinstance(sched[0], int) and len(sched) != HOURS_PER_WEEK:
            out.append((f"{base}.schedule", f"needs 168 hourly values, got {len(sched)}"))
        for i, item in enumerate(sched):
            if isinstance(item, CapacityWindow):
                value, where = item.capacity, f"{base}.schedule[{i}].capacity"
            else:
                value, where = int(cast(int, item)), f"{base}.schedule[{i}]"
            if value > r.capacity:
                out.append((where, f"{value} is more than the pool's capacity {r.capacity}"))
        for i, w in enumerate(r.maintenance):
            if w.units > r.capacity:
                out.append(
                    (f"{base}.maintenance[{i}].units", f"more than the capacity {r.capacity}")
                )
    return out


def _check_attributes(d: TwinDefinition) -> list[Problem]:
    out: list[Problem] = []
    for name, a in d.arrivals.items():
        for attr, table in a.attributes.items():
            where = f"arrivals.{name}.attributes.{attr}"
            total = math.fsum(table.values())
            if not table:
                out.append((where, "needs at least one value"))
            elif abs(total - 1.0) > PROB_TOL:
                out.append((where, f"probabilities sum to {total:.6g}, not 1"))
    return out


def _check_cases(
    d: TwinDefinition, pathway: str, by: str, keys: list[str], has_default: bool, path: str
) -> list[Problem]:
    """``by`` is drawn for the pathway's patients, case keys are known values, and a default
    exists wherever a patient could match no case."""
    out: list[Problem] = []
    feeding = [(n, a.attributes.get(by)) for n, a in d.arrivals.items() if a.pathway == pathway]
    known = {v for _, table in feeding if table for v in table}
    if not known:
        return [(f"{path}.by", f"no arrival stream of pathway '{pathway}' draws '{by}'")]
    for k in keys:
        if k not in known:
            out.append((f"{path}.cases.{k}", f"'{by}' never takes the value '{k}'"))
    uncovered = [
        n for n, table in feeding if table is None or any(v not in keys for v in table if table[v])
    ]
    if uncovered and not has_default:
        out.append(
            (f"{path}.default", f"needed: patients of {', '.join(uncovered)} can match no case")
        )
    return out


def _check_steps(d: TwinDefinition) -> list[Problem]:
    out: list[Problem] = []
    for pname, pw in d.pathways.items():
        for step in pw.steps:
            base = f"pathways.{pname}.steps[{step.id}]"
            out += _check_step(d, pname, step, base)
    return out


def _check_step(d: TwinDefinition, pathway: str, step: Step, base: str) -> list[Problem]:
    out: list[Problem] = []
    if step.patience is not None and not step.acquire:
        out.append((f"{base}.patience", "a step without `acquire` never waits"))
    if isinstance(step.duration, DurationCases):
        dc = step.duration
        out += _check_cases(
            d, pathway, dc.by, list(dc.cases), dc.default is not None, f"{base}.duration"
        )
    if isinstance(step.next, RouteCases):
        rc = step.next
        out += _check_cases(
            d, pathway, rc.by, list(rc.cases), rc.default is not None, f"{base}.next"
        )
    return out
