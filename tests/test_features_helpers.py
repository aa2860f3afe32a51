"""Small models for the feature tests: one pathway, fixed durations, hand-checkable traces."""

from __future__ import annotations

from typing import Any

from caretwin.model import definition_from_data
from caretwin.model.definition import TwinDefinition
from caretwin.sim.runner import trace_run
from caretwin.sim.trace import EventKind, Trace


def fixed(hours: float) -> dict[str, Any]:
    return {"dist": "fixed", "value": hours}


def model(
    resources: dict[str, Any],
    arrivals: dict[str, Any],
    pathways: dict[str, Any],
    kpis: dict[str, Any] | None = None,
    days: float = 7,
) -> TwinDefinition:
    return definition_from_data(
        {
            "name": "feature",
            "resources": resources,
            "arrivals": arrivals,
            "pathways": pathways,
            "run": {"run_days": days, "replications": 2, "seed": 1},
            "kpis": kpis or {},
        }
    )


def batch(
    pathway: str, at_hour: float, count: int, days: list[str] | None = None
) -> dict[str, Any]:
    return {
        "type": "scheduled",
        "pathway": pathway,
        "weekdays": days or ["mon"],
        "at_hour": at_hour,
        "count": count,
    }


def events(d: TwinDefinition, kind: EventKind, horizon_h: float = 48.0) -> list[tuple[float, int]]:
    """(time, patient) of every event of ``kind`` in one traced replication."""
    tr = trace_run(d, seed=1, horizon_h=horizon_h)
    rows = tr.kind == kind
    return list(zip(tr.time[rows].tolist(), tr.entity[rows].tolist(), strict=True))


def trace(d: TwinDefinition, horizon_h: float = 48.0) -> Trace:
    return trace_run(d, seed=1, horizon_h=horizon_h)
