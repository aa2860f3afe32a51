"""CareTwin's own API routers, registered through the ``register_routers`` hook like a plugin's.

Loaded by entry-point name (``builtin_routers``) whenever plugins load, so nothing here imports
FastAPI until a router's ``load()`` runs (``caretwin serve``).
"""

from __future__ import annotations

import importlib
from functools import partial
from typing import Any

from caretwin.plugins import RouterSpec, hookimpl

#: name -> (module under caretwin.api.routes, what it serves)
ROUTERS: dict[str, str] = {
    "health": "liveness: GET /api/v1/health",
    "models": "examples, schema, validate",
    "runs": "runs: list, show, manifest, report",
    "jobs": "background jobs: simulations, experiments, calibrations, ingests, pulls, ...",
    "schedules": "scheduled jobs (cron expressions per workspace)",
    "scenarios": "models, their parameters, saved scenarios, run comparisons",
    "audit": "the audit trail and its verification",
    "data": "snapshots, lake tables, views, sources, plugins",
    "lake": "quarantine and retry, snapshot quality, view runs, HL7 parsing",
    "sources": "adding, changing, removing sources; pulls on record",
    "experiments": "experiments and forecasts on record; short forecasts",
    "admin": "users, roles, API tokens",
    "validation": "validation plans, runs and scorecards, verification, evidence",
}


def _load(name: str) -> Any:
    return importlib.import_module(f"caretwin.api.routes.{name}").router


@hookimpl
def register_routers() -> list[RouterSpec]:
    return [
        RouterSpec(name, help_line, load=partial(_load, name))
        for name, help_line in ROUTERS.items()
    ]
