"""CareTwin's own web pages, registered through the ``register_pages`` hook like a plugin's.

Loaded by entry-point name (``builtin_pages``) whenever plugins load, so nothing here imports
FastAPI until a group's ``load()`` runs (``caretwin serve``).
"""

from __future__ import annotations

import importlib
from functools import partial
from typing import Any

from caretwin.plugins import NavLink, PageSpec, hookimpl

__all__ = ["PAGES", "register_pages"]

_SIGNED_IN = "signed-in"

#: name -> (module under caretwin.web.pages, what it serves, its navigation links)
PAGES: dict[str, tuple[str, tuple[NavLink, ...]]] = {
    "core": (
        "sign-in, sign-out, home page per role, static files",
        (NavLink("Home", "/", _SIGNED_IN, "What your roles let you do.", order=0),),
    ),
    "sso": ("single sign-on through the OpenID Connect provider", ()),
    "scenarios": (
        "models and scenarios: run, watch, compare with the baseline; the scenario editor",
        (
            NavLink(
                "Models and scenarios",
                "/models",
                "model.read",
                "Choose a model and scenarios, run them, compare with the baseline.",
                order=10,
            ),
            NavLink(
                "Scenario editor",
                "/scenarios/new",
                "scenarios.edit",
                "Change capacities, arrivals and durations; save; run against the baseline.",
                11,
            ),
        ),
    ),
    "runs": (
        "runs and their reports",
        (NavLink("Runs", "/runs", "runs.read", "Recorded runs and their reports.", order=20),),
    ),
    "jobs": (
        "background jobs and their progress",
        (NavLink("Jobs", "/jobs", "runs.read", "Background work: queued, running, done.", 30),),
    ),
    "sources": (
        "data sources and pulls",
        (
            NavLink("Sources", "/sources", "data.read", "FHIR servers the lake pulls from.", 50),
            NavLink("Pulls", "/pulls", "data.read", "Pulls on record: counts, status.", 51),
        ),
    ),
    "lake": (
        "snapshots, their diffs and data quality; the lake's tables and quarantine",
        (
            NavLink(
                "Snapshots",
                "/snapshots",
                "data.read",
                "What each ingest added; diffs; quality.",
                52,
            ),
            NavLink("Lake", "/lake", "data.read", "Lake tables and the quarantine (retry).", 53),
        ),
    ),
    "validation": (
        "validation runs, their scorecards, evidence with sign-off",
        (
            NavLink(
                "Validation",
                "/validation",
                "runs.read",
                "Scorecards: which KPIs the twin can predict.",
                40,
            ),
        ),
    ),
    "audit": (
        "the audit trail viewer and its verification",
        (NavLink("Audit", "/audit", "audit.read", "Who did what; verify the chain.", 80),),
    ),
    "admin": (
        "users and API tokens",
        (
            NavLink("Users", "/users", "users.admin", "Add and disable users, set roles.", 90),
            NavLink("Tokens", "/tokens", "tokens.manage", "API tokens: create, revoke.", 91),
        ),
    ),
}


def _load(name: str) -> Any:
    return importlib.import_module(f"caretwin.web.pages.{name}").router


@hookimpl
def register_pages() -> list[PageSpec]:
    return [
        PageSpec(name, help_line, load=partial(_load, name), nav=nav)
        for name, (help_line, nav) in PAGES.items()
    ]
