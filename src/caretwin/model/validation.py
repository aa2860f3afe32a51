"""Cross-field checks of a twin definition, each problem reported with its field path.

pydantic checks each field on its own; these rules need the whole definition (a route pointing at
a step of the same pathway, a KPI naming a known resource, probabilities summing to one).
"""

from __future__ import annotations

from caretwin.model.definition import (
    EXIT,
    IntervalKpi,
    OccupancyKpi,
    PoissonArrivals,
    RenegedKpi,
    TurnedAwayKpi,
    TwinDefinition,
    UtilisationKpi,
    WaitKpi,
)
from caretwin.model.kpi_kinds import plugin_kpi_problems
from caretwin.model.validation_ext import check_extensions, check_routes

Problem = tuple[str, str]


def check_definition(d: TwinDefinition) -> list[Problem]:
    problems: list[Problem] = []
    problems += _check_arrivals(d)
    problems += _check_pathways(d)
    problems += _check_kpis(d)
    problems += check_extensions(d)
    return problems


def _check_arrivals(d: TwinDefinition) -> list[Problem]:
    out: list[Problem] = []
    for name, a in d.arrivals.items():
        if a.pathway not in d.pathways:
            out.append((f"arrivals.{name}.pathway", f"unknown pathway '{a.pathway}'"))
        if isinstance(a, PoissonArrivals) and len(a.rates) not in (24, 168):
            out.append(
                (f"arrivals.{name}.rates", f"needs 24 or 168 hourly rates, got {len(a.rates)}")
            )
    return out


def _check_pathways(d: TwinDefinition) -> list[Problem]:
    out: list[Problem] = []
    for pname, pw in d.pathways.items():
        ids = [s.id for s in pw.steps]
        seen: set[str] = set()
        for i, step in enumerate(pw.steps):
            base = f"pathways.{pname}.steps[{step.id}]"
            if step.id in seen:
                out.append((f"pathways.{pname}.steps[{i}].id", f"duplicate step id '{step.id}'"))
            seen.add(step.id)
            if step.id == EXIT:
                out.append((f"{base}.id", f"'{EXIT}' is reserved"))
            acquired_anywhere = {r for s in pw.steps for r in s.acquire}
            for field in ("acquire", "release_on_acquire", "release_after"):
                for r in getattr(step, field):
                    if r not in d.resources:
                        out.append((f"{base}.{field}", f"unknown resource '{r}'"))
                    elif field != "acquire" and r not in acquired_anywhere:
                        out.append(
                            (f"{base}.{field}", f"resource '{r}' is never acquired in this pathway")
                        )
            if len(set(step.acquire)) != len(step.acquire):
                out.append((f"{base}.acquire", "a resource is listed twice"))
            if isinstance(step.next, str):
                if step.next != EXIT and step.next not in ids:
                    out.append((f"{base}.next", f"unknown step '{step.next}'"))
            elif isinstance(step.next, list):
                out += check_routes(step.next, ids, f"{base}.next")
            else:
                for label, routes in step.next.route_lists():
                    out += check_routes(routes, ids, f"{base}.next.{label}")
    return out


def _step_exists(d: TwinDefinition, pathway: str, step: str) -> bool:
    pw = d.pathways.get(pathway)
    return pw is not None and any(s.id == step for s in pw.steps)


def _check_marker(d: TwinDefinition, pathway: str, marker: str, path: str) -> list[Problem]:
    if marker in ("arrival", EXIT):
        return []
    kind, _, ref = marker.partition(":")
    if kind in ("request", "start", "end"):
        if not _step_exists(d, pathway, ref):
            return [(path, f"unknown step '{ref}' in pathway '{pathway}'")]
        return []
    if kind == "release":
        if ref not in d.resources:
            return [(path, f"unknown resource '{ref}'")]
        return []
    return [(path, f"unknown marker '{marker}' (arrival, exit, request:, start:, end:, release:)")]


def _check_kpis(d: TwinDefinition) -> list[Problem]:
    out: list[Problem] = []
    for name, k in d.kpis.items():
        base = f"kpis.{name}"
        if isinstance(k, RenegedKpi):
            for i, ref in enumerate(k.steps):
                pw, _, st = ref.partition(".")
                if not _step_exists(d, pw, st):
                    out.append((f"{base}.steps[{i}]", f"unknown step '{ref}' (use pathway.step)"))
                elif d.pathways[pw].step(st).patience is None:
                    out.append((f"{base}.steps[{i}]", f"step '{ref}' has no patience"))
            continue
        if isinstance(k, OccupancyKpi | TurnedAwayKpi | UtilisationKpi):
            if k.resource not in d.resources:
                out.append((f"{base}.resource", f"unknown resource '{k.resource}'"))
            continue
        if not isinstance(k, IntervalKpi | WaitKpi):
            out += plugin_kpi_problems(d, name, k)
            continue
        if k.stat == "pct_over" and k.threshold is None:
            out.append((f"{base}.threshold", "pct_over needs a threshold"))
        if isinstance(k, IntervalKpi):
            if k.pathway not in d.pathways:
                out.append((f"{base}.pathway", f"unknown pathway '{k.pathway}'"))
                continue
            out += _check_marker(d, k.pathway, k.start, f"{base}.start")
            out += _check_marker(d, k.pathway, k.end, f"{base}.end")
        elif isinstance(k, WaitKpi):
            for i, ref in enumerate(k.steps):
                pw, _, st = ref.partition(".")
                if not _step_exists(d, pw, st):
                    out.append((f"{base}.steps[{i}]", f"unknown step '{ref}' (use pathway.step)"))
    return out
