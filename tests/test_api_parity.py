"""The HTTP API covers every operation of the command line: each CLI command maps to the routes
doing it (``caretwin.api.parity``), to a background job's route, or to a documented reason it
has none; a new command in none of those fails here, and so does a mapped route the app does
not serve. docs/api.md's route table is the app's declared routes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from tests.test_authorisation_matrix import _cli_leaves

from caretwin.api.app import create_app, declared_routes
from caretwin.api.parity import CLI_ROUTES, JOB_ROUTES, NO_ROUTE, PENDING_JOB_ROUTES
from caretwin.workspace import Workspace

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def _served(ws: Workspace) -> set[str]:
    return {f"{r.method} {r.path}" for r in declared_routes(create_app(ws))}


def test_every_cli_command_has_a_route_or_a_reason(
    workspace: Workspace, report_figure: Callable[[str], None]
) -> None:
    commands = set(_cli_leaves())
    tables = [set(CLI_ROUTES), set(JOB_ROUTES), set(NO_ROUTE)]
    assert not (tables[0] & tables[1] or tables[0] & tables[2] or tables[1] & tables[2])
    mapped = set().union(*tables)
    assert commands - mapped == set(), "CLI commands with no route and no reason"
    assert mapped - commands == set(), "stale entries: no such CLI command"
    assert all(len(reason) > 20 for reason in NO_ROUTE.values())
    served = _served(workspace)
    wanted = {route for routes in CLI_ROUTES.values() for route in routes}
    assert wanted - served == set(), "mapped routes the app does not serve"
    jobs = {route for routes in JOB_ROUTES.values() for route in routes}
    assert jobs >= PENDING_JOB_ROUTES
    assert jobs - PENDING_JOB_ROUTES - served == set(), "job routes neither served nor pending"
    assert PENDING_JOB_ROUTES & served == set(), "served now: take it out of PENDING_JOB_ROUTES"
    report_figure(
        f"CLI/API parity: {len(commands)} CLI commands: {len(CLI_ROUTES)} with routes, "
        f"{len(JOB_ROUTES)} as jobs ({len(PENDING_JOB_ROUTES)} job routes pending), "
        f"{len(NO_ROUTE)} with a reason; {len(served)} routes served"
    )


def _documented_routes() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("## Routes", 1)[1].split("\n## ", 1)[0]
    found = set()
    for line in table.splitlines():
        m = re.match(r"\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| `?([a-z.]+)`? \|", line)
        if m:
            found.add(f"{m.group(1)} {m.group(2)} {m.group(3)}")
    return found


def test_the_documented_route_table_is_the_apps(workspace: Workspace) -> None:
    declared = {
        f"{r.method} {r.path} {r.permission}" for r in declared_routes(create_app(workspace))
    }
    assert _documented_routes() == declared


def test_the_commands_without_a_route_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for command in NO_ROUTE:
        assert f"`caretwin {command}`" in text, command


def test_the_route_count_in_the_docs_is_the_apps(workspace: Workspace) -> None:
    from caretwin.access import ROLES

    routes, roles = len(declared_routes(create_app(workspace))), len(ROLES)
    assert f"({routes} x {roles})" in DOC.read_text(encoding="utf-8")
    security = DOC.with_name("security.md").read_text(encoding="utf-8")
    assert f"({routes} routes x {roles} roles)" in security
