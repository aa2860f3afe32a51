"""A twin definition compiled to flat, index-based tables for the engine's hot loop.

The engine never looks at pydantic models while it runs: names become integer indexes, routes
become cumulative probability lists and KPI definitions become hooks keyed by step or resource.
Keeping this apart from the engine core lets a faster core replace it behind the same input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from caretwin.model.definition import (
    EXIT,
    WEEKDAY_INDEX,
    IntervalKpi,
    OccupancyKpi,
    PoissonArrivals,
    ScheduledArrivals,
    TurnedAwayKpi,
    TwinDefinition,
    WaitKpi,
)
from caretwin.model.distributions import Distribution

NO_STEP = -1


@dataclass
class CStep:
    index: int
    name: str  # "pathway.step"
    pathway: int
    acquire: tuple[int, ...]
    release_on_acquire: tuple[int, ...]
    release_after: tuple[int, ...]
    duration: Distribution | None
    # Routing: ``targets[i]`` taken when u < ``cum[i]``; a single target has cum == [1.0].
    targets: tuple[int, ...]
    cum: tuple[float, ...]


@dataclass
class CResource:
    index: int
    name: str
    capacity: int
    queue_limit: int | None
    ttf: Distribution | None
    repair: Distribution | None


@dataclass
class CArrival:
    index: int
    name: str
    pathway: int
    entry_step: int
    # Poisson: hourly rates (24 or 168) already multiplied; scheduled: weekday set, hour, count.
    rates: tuple[float, ...] = ()
    weekdays: frozenset[int] = frozenset()
    at_hour: float = 0.0
    count: int = 0

    @property
    def scheduled(self) -> bool:
        return not self.rates


@dataclass
class CKpi:
    """A KPI compiled to what the engine collects for it."""

    name: str
    kind: str  # "sample" (interval/wait), "occupancy" or "turned_away"
    stat: str
    threshold: float | None
    label: str
    unit: str
    resource: int = -1  # occupancy


@dataclass
class Hooks:
    """Where each KPI listens: lists of (kpi index, role) by marker kind and step/resource.

    Roles: 0 = interval start, 1 = interval end, 2 = wait sample (request -> start).
    """

    arrival: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # by pathway
    exit: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # by pathway
    request: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # by step
    start: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # by step
    end: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # by step
    release: dict[tuple[int, int], list[tuple[int, int]]] = field(default_factory=dict)  # (pw, res)


@dataclass
class CompiledModel:
    steps: list[CStep]
    resources: list[CResource]
    arrivals: list[CArrival]
    pathway_names: list[str]
    kpis: list[CKpi]
    hooks: Hooks
    warmup_h: float
    window_end_h: float
    horizon_h: float


def _add(d: dict[int, list[tuple[int, int]]], key: int, item: tuple[int, int]) -> None:
    d.setdefault(key, []).append(item)


def compile_definition(d: TwinDefinition) -> CompiledModel:
    res_index = {name: i for i, name in enumerate(d.resources)}
    resources = [
        CResource(
            index=i,
            name=name,
            capacity=r.capacity,
            queue_limit=r.queue_limit,
            ttf=r.failures.time_to_failure if r.failures else None,
            repair=r.failures.repair if r.failures else None,
        )
        for i, (name, r) in enumerate(d.resources.items())
    ]
    pathway_names = list(d.pathways)
    step_index: dict[tuple[str, str], int] = {}
    for pname, pw in d.pathways.items():
        for s in pw.steps:
            step_index[(pname, s.id)] = len(step_index)

    steps: list[CStep] = []
    for pi, (pname, pw) in enumerate(d.pathways.items()):
        for s in pw.steps:

            def target(to: str, pname: str = pname) -> int:
                return NO_STEP if to == EXIT else step_index[(pname, to)]

            if isinstance(s.next, str):
                targets: tuple[int, ...] = (target(s.next),)
                cum: tuple[float, ...] = (1.0,)
            else:
                targets = tuple(target(r.to) for r in s.next)
                acc, cums = 0.0, []
                for r in s.next:
                    acc += r.p
                    cums.append(acc)
                cums[-1] = 1.0  # guard against rounding leaving a sliver unrouted
                cum = tuple(cums)
            steps.append(
                CStep(
                    index=step_index[(pname, s.id)],
                    name=f"{pname}.{s.id}",
                    pathway=pi,
                    acquire=tuple(res_index[r] for r in s.acquire),
                    release_on_acquire=tuple(res_index[r] for r in s.release_on_acquire),
                    release_after=tuple(res_index[r] for r in s.release_after),
                    duration=s.duration,
                    targets=targets,
                    cum=cum,
                )
            )

    arrivals: list[CArrival] = []
    for ai, (aname, a) in enumerate(d.arrivals.items()):
        pi = pathway_names.index(a.pathway)
        entry = step_index[(a.pathway, d.pathways[a.pathway].steps[0].id)]
        if isinstance(a, PoissonArrivals):
            arrivals.append(
                CArrival(ai, aname, pi, entry, rates=tuple(r * a.multiplier for r in a.rates))
            )
        else:
            assert isinstance(a, ScheduledArrivals)
            arrivals.append(
                CArrival(
                    ai,
                    aname,
                    pi,
                    entry,
                    weekdays=frozenset(WEEKDAY_INDEX[w] for w in a.weekdays),
                    at_hour=a.at_hour,
                    count=a.count,
                )
            )

    kpis: list[CKpi] = []
    hooks = Hooks()
    for name, k in d.kpis.items():
        ki = len(kpis)
        label = k.label or name
        if isinstance(k, OccupancyKpi):
            kpis.append(CKpi(name, "occupancy", k.stat, None, label, k.unit, res_index[k.resource]))
            continue
        if isinstance(k, TurnedAwayKpi):
            kpis.append(
                CKpi(name, "turned_away", k.stat, None, label, k.unit, res_index[k.resource])
            )
            continue
        kpis.append(CKpi(name, "sample", k.stat, k.threshold, label, k.unit))
        if isinstance(k, WaitKpi):
            for ref in k.steps:
                pw_name, _, st = ref.partition(".")
                _add(hooks.start, step_index[(pw_name, st)], (ki, 2))
            continue
        assert isinstance(k, IntervalKpi)
        pi = pathway_names.index(k.pathway)
        for role, marker in ((0, k.start), (1, k.end)):
            if marker == "arrival":
                _add(hooks.arrival, pi, (ki, role))
            elif marker == EXIT:
                _add(hooks.exit, pi, (ki, role))
            else:
                mk, _, ref = marker.partition(":")
                if mk == "release":
                    hooks.release.setdefault((pi, res_index[ref]), []).append((ki, role))
                else:
                    table = {"request": hooks.request, "start": hooks.start, "end": hooks.end}[mk]
                    _add(table, step_index[(k.pathway, ref)], (ki, role))

    return CompiledModel(
        steps=steps,
        resources=resources,
        arrivals=arrivals,
        pathway_names=pathway_names,
        kpis=kpis,
        hooks=hooks,
        warmup_h=d.run.warmup_h,
        window_end_h=d.run.window_end_h,
        horizon_h=d.run.horizon_h,
    )
