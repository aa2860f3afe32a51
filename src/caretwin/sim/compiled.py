"""A twin definition compiled to flat, index-based tables for the engine's hot loop.

The engine never looks at pydantic models while it runs: names become integer indexes, routes
become cumulative probability lists and KPI definitions become hooks keyed by step or resource.
Keeping this apart from the engine core lets a faster core replace it behind the same input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from caretwin.model.definition import (
    EXIT,
    WEEKDAY_INDEX,
    KpiConfig,
    PoissonArrivals,
    ScheduledArrivals,
    TwinDefinition,
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

if TYPE_CHECKING:
    import numpy as np

    from caretwin.sim.kpis import Collected

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
    """A KPI of an engine-native kind, compiled to what the engines collect for it.

    ``value`` is its kind's function (:class:`caretwin.plugins.specs.NativeKpi`) folding one
    replication's collectors into ``(value, histogram or None)``; ``index`` is its place in
    ``CompiledModel.kpis``, which keys its samples.
    """

    name: str
    kind: str  # the KPI kind ("interval", "wait", "occupancy", ...)
    stat: str
    threshold: float | None
    label: str
    unit: str
    resource: int = -1  # occupancy, turned_away, utilisation
    steps: tuple[int, ...] = ()  # reneged
    index: int = -1
    value: Callable[[CKpi, Collected], tuple[float, np.ndarray | None]] | None = None


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
    # The model's clock at the run's t = 0 (hours since its Monday 00:00): every calendar
    # lookup (arrival rates, elective days, capacity schedules, maintenance) is at t + offset.
    calendar_offset_h: float = 0.0


def _add(d: dict[int, list[tuple[int, int]]], key: int, item: tuple[int, int]) -> None:
    d.setdefault(key, []).append(item)


@dataclass
class KpiCompile:
    """What an engine-native KPI kind's compile step works with (:class:`NativeKpi`): the
    model's names as indexes, and the hooks where the engines sample for this KPI.

    Roles of :meth:`listen`: 0 = interval start, 1 = interval end, 2 = wait sample
    (request -> start); markers: ``arrival``/``exit`` (by pathway), ``request``/``start``/``end``
    (by step).
    """

    name: str
    kind: str
    index: int
    hooks: Hooks
    value: Callable[[CKpi, Collected], tuple[float, np.ndarray | None]]
    resources: dict[str, int]
    steps: dict[tuple[str, str], int]
    pathways: list[str]

    def resource_index(self, name: str) -> int:
        return self.resources[name]

    def step_index(self, pathway: str, step: str) -> int:
        return self.steps[(pathway, step)]

    def pathway_index(self, name: str) -> int:
        return self.pathways.index(name)

    def listen(self, marker: str, key: int, role: int) -> None:
        h = self.hooks
        table = {
            "arrival": h.arrival,
            "exit": h.exit,
            "request": h.request,
            "start": h.start,
            "end": h.end,
        }[marker]
        _add(table, key, (self.index, role))

    def listen_release(self, pathway: int, resource: int, role: int) -> None:
        self.hooks.release.setdefault((pathway, resource), []).append((self.index, role))

    def kpi(
        self,
        config: KpiConfig,
        *,
        stat: str,
        threshold: float | None = None,
        resource: int = -1,
        steps: tuple[int, ...] = (),
    ) -> CKpi:
        """This KPI as the engines see it (label and unit from the entry)."""
        return CKpi(
            name=self.name,
            kind=self.kind,
            stat=stat,
            threshold=threshold,
            label=config.label or self.name,
            unit=config.unit,
            resource=resource,
            steps=steps,
            index=self.index,
            value=self.value,
        )


def compile_kpis(
    d: TwinDefinition,
    res_index: dict[str, int],
    step_index: dict[tuple[str, str], int],
    pathway_names: list[str],
) -> tuple[list[CKpi], Hooks]:
    """The definition's KPIs of engine-native kinds, each compiled by its kind's registered
    :class:`NativeKpi`; record-based kinds (plugins') are computed after the run instead
    (:mod:`caretwin.sim.plugin_kpis`)."""
    from caretwin.plugins import registry

    specs = registry.kpis()
    kpis: list[CKpi] = []
    hooks = Hooks()
    for name, k in d.kpis.items():
        found = specs.get(k.type)
        native = found.spec.native if found is not None else None
        if native is None:
            continue  # a record-based kind: computed from the replication's record
        ctx = KpiCompile(
            name, k.type, len(kpis), hooks, native.value, res_index, step_index, pathway_names
        )
        kpis.append(native.compile(k, ctx))
    return kpis, hooks


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

    kpis, hooks = compile_kpis(d, res_index, step_index, pathway_names)

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
