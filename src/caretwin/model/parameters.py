"""The parameters of a twin definition a scenario may change, read off the definition itself.

A scenario is a set of overrides (``Scenario.set``: dotted field path to new value). The
catalogue lists the paths worth offering a person who asks "what if": pool capacities (and
queue limits), arrival multipliers and scheduled batch sizes, the parameters of every duration
(service times, lengths of stay, patience, device failure and repair) and routing shares. Each
entry carries its current value, a unit and the bounds the format itself puts on the field
(pydantic's ``ge``/``gt``/``le``), so a form built from it checks what the format checks and
nothing is listed by hand: a new pool, step or route appears in the catalogue the moment it is
in the definition.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel

from caretwin.model.definition import (
    PoissonArrivals,
    ResourceKind,
    ResourcePool,
    ScheduledArrivals,
    Step,
    TwinDefinition,
)
from caretwin.model.extensions import DurationCases, Route, RouteCases

__all__ = ["GROUPS", "ParameterGroup", "ParameterSpec", "parameter_catalogue"]

ParameterGroup = Literal["capacity", "arrivals", "durations", "routing", "reliability"]
#: The groups in the order a form shows them, with their headings.
GROUPS: dict[ParameterGroup, str] = {
    "capacity": "Capacities",
    "arrivals": "Arrivals",
    "durations": "Durations",
    "routing": "Routing shares",
    "reliability": "Device reliability",
}

_KIND_UNIT = {
    ResourceKind.bed: "beds",
    ResourceKind.treatment_space: "spaces",
    ResourceKind.staff: "staff",
    ResourceKind.device: "devices",
    ResourceKind.other: "units",
}
#: Distribution parameters that are not times (everything else is in the definition's hours).
_UNITLESS = {"shape"}
_WORDS = {"sd": "standard deviation", "low": "shortest", "high": "longest"}


@dataclass(frozen=True)
class ParameterSpec:
    """One editable parameter: its override path, where it belongs, value, unit and bounds.

    ``minimum``/``maximum`` are inclusive unless ``exclusive_minimum`` (a ``gt`` bound: a mean
    must be above zero, not zero).
    """

    path: str
    group: ParameterGroup
    label: str
    unit: str
    type: Literal["int", "float"]
    value: float
    minimum: float | None
    maximum: float | None
    exclusive_minimum: bool


def _bounds(model: type[BaseModel], field: str) -> tuple[float | None, float | None, bool]:
    lo: float | None = None
    hi: float | None = None
    exclusive = False
    for meta in model.model_fields[field].metadata:
        if isinstance(meta, annotated_types.Ge):
            lo = float(meta.ge)  # type: ignore[arg-type]  # annotated_types bounds are untyped
        elif isinstance(meta, annotated_types.Gt):
            lo, exclusive = float(meta.gt), True  # type: ignore[arg-type]
        elif isinstance(meta, annotated_types.Le):
            hi = float(meta.le)  # type: ignore[arg-type]
        elif isinstance(meta, annotated_types.Lt):
            hi = float(meta.lt)  # type: ignore[arg-type]
    return lo, hi, exclusive


def _spec(
    obj: BaseModel, field: str, path: str, group: ParameterGroup, label: str, unit: str
) -> ParameterSpec:
    value = getattr(obj, field)
    lo, hi, exclusive = _bounds(type(obj), field)
    return ParameterSpec(
        path=path,
        group=group,
        label=label,
        unit=unit,
        type="int" if isinstance(value, int) else "float",
        value=value,
        minimum=lo,
        maximum=hi,
        exclusive_minimum=exclusive,
    )


def _numeric_fields(obj: BaseModel) -> Iterator[tuple[str, str]]:
    """(attribute, name in the YAML) of the scalar numeric fields of a distribution."""
    for attr, info in type(obj).model_fields.items():
        value = getattr(obj, attr)
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield attr, info.alias or attr


def _distribution(
    dist: Any, path: str, group: ParameterGroup, label: str
) -> Iterator[ParameterSpec]:
    if isinstance(dist, DurationCases):
        for case, d in dist.cases.items():
            yield from _distribution(d, f"{path}.cases.{case}", group, f"{label} ({case})")
        if dist.default is not None:
            yield from _distribution(dist.default, f"{path}.default", group, f"{label} (other)")
        return
    if not isinstance(dist, BaseModel):
        return
    for attr, name in _numeric_fields(dist):
        unit = "" if name in _UNITLESS else "h"
        words = _WORDS.get(name, name)
        yield _spec(dist, attr, f"{path}.{name}", group, f"{label}: {words}", unit)


def _pool(name: str, pool: ResourcePool) -> Iterator[ParameterSpec]:
    label = pool.label or name
    unit = _KIND_UNIT[pool.kind]
    yield _spec(pool, "capacity", f"resources.{name}.capacity", "capacity", label, unit)
    if pool.queue_limit is not None:
        path = f"resources.{name}.queue_limit"
        yield _spec(pool, "queue_limit", path, "capacity", f"{label}: queue limit", "patients")


def _routes(routes: list[Route], path: str, label: str) -> Iterator[ParameterSpec]:
    for i, route in enumerate(routes):
        yield _spec(route, "p", f"{path}.{i}.p", "routing", f"{label} → {route.to}", "probability")


def _step(pathway: str, step: Step) -> Iterator[ParameterSpec]:
    base = f"pathways.{pathway}.steps.{step.id}"
    label = step.label or f"{pathway}.{step.id}"
    if step.duration is not None:
        yield from _distribution(step.duration, f"{base}.duration", "durations", label)
    if step.patience is not None:
        yield from _distribution(
            step.patience, f"{base}.patience", "durations", f"{label}: patience"
        )
    if isinstance(step.next, list):
        yield from _routes(step.next, f"{base}.next", label)
    elif isinstance(step.next, RouteCases):
        for case, routes in step.next.cases.items():
            yield from _routes(routes, f"{base}.next.cases.{case}", f"{label} ({case})")
        if step.next.default is not None:
            yield from _routes(step.next.default, f"{base}.next.default", f"{label} (other)")


def parameter_catalogue(defn: TwinDefinition) -> list[ParameterSpec]:
    """Every parameter of ``defn`` a scenario may change, grouped in :data:`GROUPS` order."""
    found: list[ParameterSpec] = []
    for name, pool in defn.resources.items():
        found += _pool(name, pool)
        if pool.failures is not None:
            label = pool.label or name
            for part in ("time_to_failure", "repair"):
                dist = getattr(pool.failures, part)
                path = f"resources.{name}.failures.{part}"
                found += _distribution(
                    dist, path, "reliability", f"{label}: {part.replace('_', ' ')}"
                )
    for name, arrival in defn.arrivals.items():
        label = (
            defn.pathways[arrival.pathway].label or name
            if arrival.pathway in defn.pathways
            else name
        )
        if isinstance(arrival, PoissonArrivals):
            path = f"arrivals.{name}.multiplier"
            found.append(
                _spec(
                    arrival,
                    "multiplier",
                    path,
                    "arrivals",
                    f"{label}: arrival rate multiplier",
                    "×",
                )
            )
        elif isinstance(arrival, ScheduledArrivals):
            path = f"arrivals.{name}.count"
            found.append(
                _spec(
                    arrival, "count", path, "arrivals", f"{label}: patients per batch", "patients"
                )
            )
    for pathway_name, pathway in defn.pathways.items():
        for step in pathway.steps:
            found += _step(pathway_name, step)
    order = list(GROUPS)
    return sorted(found, key=lambda p: order.index(p.group))
