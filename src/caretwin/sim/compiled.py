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
    RenegedKpi,
    ScheduledArrivals,
    TurnedAwayKpi,
    TwinDefinition,
    UtilisationKpi,
    WaitKpi,
)
from caretwin.model.distributions import Distribution
from caretwin.model.extensions import MaintenanceWindow
from caretwin.sim.compiled_ext import (
    Attributes,
    RouteTable,
    arrival_attributes,
    capacity_changes,
    collect_attributes,
    cyclic_steps,
    duration_table,
    queue_levels,
    route_table,
)

NO_STEP = -1


@dataclass
class CStep:
    index: int
    name: str  # "pathway.step"
    pathway: int
    acquire: tuple[int, ...]
    release_on_acquire: tuple[int, ...]
    release_after: tuple[int, ...]
    duration: Distribution | None  # the unconditional duration (None: zero or by attribute)
    # Routing: ``targets[i]`` taken when u < ``cum[i]``; a single target has cum == [1.0].
    # These are the unconditional (or default) routes; ``routes`` holds every table.
    targets: tuple[int, ...]
    cum: tuple[float, ...]
    # Queue priority level at each pool of ``acquire`` (0 = served first), see queue_levels().
    levels: tuple[int, ...] = ()
    mode_all: bool = False
    patience: Distribution | None = None
    # Durations: ``durations[slot]``; the slot is ``dur_case[value]`` of attribute ``dur_attr``
    # (index -1 of dur_case: the patient has no value, the default slot), or 0 when dur_attr < 0.
    durations: tuple[Distribution, ...] = ()
    dur_attr: int = -1
    dur_case: tuple[int, ...] = ()
    routes: tuple[RouteTable, ...] = ()
    route_attr: int = -1
    route_case: tuple[int, ...] = ()
    revisit: bool = False  # on a cycle: a patient may do it twice (keyed draws by visit)


@dataclass
class CResource:
    index: int
    name: str
    capacity: int
    queue_limit: int | None
    ttf: Distribution | None
    repair: Distribution | None
    # (hour of week, open capacity) at each change of the schedule; () when constant.
    schedule: tuple[tuple[int, int], ...] = ()
    open_at_start: int = 0
    maintenance: tuple[MaintenanceWindow, ...] = ()
    levels: int = 1  # distinct priorities of the steps acquiring this pool
    has_all: bool = False  # some step acquires it with acquire_mode: all


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
    # Attributes drawn at arrival: (attribute index, value indexes, cumulative probabilities).
    attributes: tuple[tuple[int, tuple[int, ...], tuple[float, ...]], ...] = ()

    @property
    def scheduled(self) -> bool:
        return not self.rates


@dataclass
class CKpi:
    """A KPI compiled to what the engine collects for it."""

    name: str
    kind: str  # "sample" (interval/wait), "occupancy", "turned_away", "reneged", "utilisation"
    stat: str
    threshold: float | None
    label: str
    unit: str
    resource: int = -1  # occupancy, turned_away, utilisation
    steps: tuple[int, ...] = ()  # reneged


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
    attributes: Attributes = field(default_factory=Attributes)


def _add(d: dict[int, list[tuple[int, int]]], key: int, item: tuple[int, int]) -> None:
    d.setdefault(key, []).append(item)


def _step_key(ref: str) -> tuple[str, str]:
    """``"pathway.step"`` as the (pathway, step) key of the step index."""
    pathway, _, step = ref.partition(".")
    return pathway, step


def compile_definition(d: TwinDefinition) -> CompiledModel:
    res_index = {name: i for i, name in enumerate(d.resources)}
    levels = queue_levels(d, res_index)
    all_mode = {
        res_index[r]
        for pw in d.pathways.values()
        for s in pw.steps
        if s.acquire_mode == "all"
        for r in s.acquire
    }
    resources = []
    for i, (name, r) in enumerate(d.resources.items()):
        changes, open0 = capacity_changes(r.capacity, r.schedule)
        resources.append(
            CResource(
                index=i,
                name=name,
                capacity=r.capacity,
                queue_limit=r.queue_limit,
                ttf=r.failures.time_to_failure if r.failures else None,
                repair=r.failures.repair if r.failures else None,
                schedule=changes,
                open_at_start=open0,
                maintenance=tuple(r.maintenance),
                levels=len(levels[i]),
                has_all=i in all_mode,
            )
        )
    attrs = collect_attributes(d)
    pathway_names = list(d.pathways)
    step_index: dict[tuple[str, str], int] = {}
    for pname, pw in d.pathways.items():
        for s in pw.steps:
            step_index[(pname, s.id)] = len(step_index)

    steps: list[CStep] = []
    revisit = cyclic_steps(d, step_index)
    for pi, (pname, pw) in enumerate(d.pathways.items()):
        for s in pw.steps:

            def target(to: str, pname: str = pname) -> int:
                return NO_STEP if to == EXIT else step_index[(pname, to)]

            routes, route_attr, route_case = route_table(s.next, target, attrs)
            durations, dur_attr, dur_case = duration_table(s.duration, attrs)
            acquire = tuple(res_index[r] for r in s.acquire)
            steps.append(
                CStep(
                    index=step_index[(pname, s.id)],
                    name=f"{pname}.{s.id}",
                    pathway=pi,
                    acquire=acquire,
                    release_on_acquire=tuple(res_index[r] for r in s.release_on_acquire),
                    release_after=tuple(res_index[r] for r in s.release_after),
                    duration=durations[0] if durations and dur_attr < 0 else None,
                    targets=routes[route_case[-1]][0],
                    cum=routes[route_case[-1]][1],
                    levels=tuple(levels[r].index(s.priority) for r in acquire),
                    mode_all=s.acquire_mode == "all" and len(acquire) > 0,
                    patience=s.patience,
                    durations=durations,
                    dur_attr=dur_attr,
                    dur_case=dur_case,
                    routes=routes,
                    route_attr=route_attr,
                    route_case=route_case,
                    revisit=step_index[(pname, s.id)] in revisit,
                )
            )

    arrivals: list[CArrival] = []
    for ai, (aname, a) in enumerate(d.arrivals.items()):
        pi = pathway_names.index(a.pathway)
        entry = step_index[(a.pathway, d.pathways[a.pathway].steps[0].id)]
        drawn = arrival_attributes(a.attributes, attrs)
        if isinstance(a, PoissonArrivals):
            rates = tuple(r * a.multiplier for r in a.rates)
            arrivals.append(CArrival(ai, aname, pi, entry, rates=rates, attributes=drawn))
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
                    attributes=drawn,
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
        if isinstance(k, UtilisationKpi):
            kpis.append(
                CKpi(name, "utilisation", "mean", None, label, k.unit, res_index[k.resource])
            )
            continue
        if isinstance(k, RenegedKpi):
            refs = tuple(step_index[_step_key(ref)] for ref in k.steps)
            kpis.append(CKpi(name, "reneged", k.stat, None, label, k.unit, steps=refs))
            continue
        if isinstance(k, TurnedAwayKpi):
            kpis.append(
                CKpi(name, "turned_away", k.stat, None, label, k.unit, res_index[k.resource])
            )
            continue
        if not isinstance(k, IntervalKpi | WaitKpi):
            continue  # a plugin's kind: computed from the replication's record (plugin_kpis)
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
        attributes=attrs,
    )
