"""One authorisation policy: every service operation declares a permission, every role's answer
matches the matrix, and the matrix in docs/security.md is the table the code enforces.

The operations are found in the source (an AST walk of ``caretwin.services`` for
``.operation(action, Permission.X, ...)``), so a new operation is covered without editing this
test, and a public service function that takes a ``ServiceContext`` but reaches no permission
check fails it.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import caretwin.services
from caretwin.access import PERMISSION_MEANING, ROLE_PERMISSIONS, ROLES, Actor, Permission
from caretwin.access.matrix import MATRIX_BEGIN, MATRIX_END, matrix_markdown
from caretwin.errors import AccessDenied
from caretwin.services import audit, ingestion, runs, snapshots, sources, tokens, users, views
from caretwin.services.context import ServiceContext
from caretwin.workspace import Workspace

SERVICES = Path(caretwin.services.__file__).parent
DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"

# Public functions taking a ServiceContext that are not operations themselves.
# The job runners each call their kind's service operation, which lives in another module
# (simulation, experiment, calibration, ...), so the same-module walk cannot see it.
NOT_OPERATIONS: set[str] = {
    f"job_runners.{name}"
    for name in (
        "run_calibrate",
        "run_experiment_job",
        "run_ingest",
        "run_pull",
        "run_reproduce",
        "run_simulate",
        "run_synth",
        "run_validation_job",
    )
}


def _operations() -> dict[str, tuple[str, str]]:
    """action -> (module:function, permission name) of every ``.operation(...)`` call."""
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(SERVICES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(fn):
                if not (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "operation"
                ):
                    continue
                where = f"{path.stem}:{fn.name}"
                if fn.name == "operation":  # the definition's own docstring examples
                    continue
                args = list(call.args) + [k.value for k in call.keywords]
                assert len(args) >= 2, f"{where}: operation() without a permission"
                action, perm = args[0], args[1]
                assert isinstance(perm, ast.Attribute) and isinstance(perm.value, ast.Name), (
                    f"{where}: the permission is not a literal Permission.X"
                )
                assert perm.value.id == "Permission", where
                name = ast.unparse(action) if not isinstance(action, ast.Constant) else action.value
                found[str(name)] = (where, perm.attr)
    return found


def _ctx_functions_reaching_no_operation() -> list[str]:
    """Public functions (``__all__``) whose first parameter is a ServiceContext and that reach
    no ``.operation(`` call through the functions of their own module."""
    missing = []
    for path in sorted(SERVICES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        public: list[str] = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
            ):
                public = [e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant)]

        def reaches(name: str, seen: set[str], defs: dict[str, ast.FunctionDef] = defs) -> bool:
            if name in seen or name not in defs:
                return False
            seen.add(name)
            for call in ast.walk(defs[name]):
                if isinstance(call, ast.Call):
                    f = call.func
                    if isinstance(f, ast.Attribute) and f.attr == "operation":
                        return True
                    callee = f.id if isinstance(f, ast.Name) else None
                    if callee and reaches(callee, seen):
                        return True
            return False

        for name in public:
            fn = defs.get(name)
            if fn is None or not fn.args.args:
                continue
            first = fn.args.args[0].annotation
            if not (isinstance(first, ast.Name) and first.id == "ServiceContext"):
                continue
            qual = f"{path.stem}.{name}"
            if qual not in NOT_OPERATIONS and not reaches(name, set()):
                missing.append(qual)
    return missing


def test_every_service_operation_declares_a_permission() -> None:
    ops = _operations()
    assert len(ops) >= 40, sorted(ops)  # the walk found the operations
    assert {p for _, p in ops.values()} <= {p.name for p in Permission}
    assert _ctx_functions_reaching_no_operation() == []


def test_every_role_answers_every_operation_as_the_matrix_says(tmp_path: Path) -> None:
    """Each operation's permission is checked through ``ctx.operation`` itself (real audit
    events in a real workspace) for every role; the expected answer is read from the
    documented matrix, not from the table under test."""
    documented = _documented_matrix()
    ops = _operations()
    with Workspace.init(tmp_path / "ws") as ws:
        checked = 0
        for role in ROLES:
            ctx = ServiceContext(ws, Actor(f"user-{role}", frozenset({role})))
            for action, (_, perm_name) in ops.items():
                perm = Permission[perm_name]
                allowed = perm.value in documented[role]
                assert ctx.actor.can(perm) is allowed, (role, action, perm.value)
                checked += 1
            # The gate itself, once per role and permission (entering it writes audit events).
            for perm in Permission:
                try:
                    with ctx.operation(f"matrix.{perm.value}", perm, "matrix"):
                        pass
                    answer = True
                except AccessDenied:
                    answer = False
                assert answer is (perm.value in documented[role]), (role, perm.value)
    assert checked == len(ROLES) * len(ops)


def test_unknown_roles_and_no_roles_grant_nothing() -> None:
    for roles in (frozenset(), frozenset({"superuser"}), frozenset({"Admin"})):
        assert Actor("x", roles).permissions == frozenset()


def test_the_documented_matrix_is_generated_from_the_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    between = text.split(MATRIX_BEGIN, 1)[1].split(MATRIX_END, 1)[0]
    assert between.strip() == matrix_markdown().strip(), (
        "docs/security.md is out of date: paste caretwin.access.matrix.matrix_markdown()"
    )
    assert set(PERMISSION_MEANING) == set(Permission)


def _documented_matrix() -> dict[str, set[str]]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split(MATRIX_BEGIN, 1)[1].split(MATRIX_END, 1)[0].strip().splitlines()
    header = [c.strip() for c in table[0].strip("|").split("|")]
    roles = header[2:]
    granted: dict[str, set[str]] = {r: set() for r in roles}
    for line in table[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        perm = re.sub(r"`", "", cells[0])
        for role, mark in zip(roles, cells[2:], strict=True):
            if mark == "x":
                granted[role].add(perm)
    assert set(roles) == set(ROLE_PERMISSIONS)
    return granted


# One real, cheap service call per permission family: every role gets the answer the matrix
# gives, through the service functions the CLI and the API call.
CALLS: dict[str, tuple[Permission, Callable[[ServiceContext], object]]] = {
    "runs.list": (Permission.RUNS_READ, lambda c: runs.list_runs(c)),
    "audit.list": (Permission.AUDIT_READ, lambda c: audit.list_audit_events(c)),
    "users.list": (Permission.USERS_ADMIN, lambda c: users.list_users(c)),
    "tokens.list": (Permission.TOKENS_MANAGE, lambda c: tokens.list_tokens(c)),
    "sources.list": (Permission.DATA_READ, lambda c: sources.list_sources(c)),
    "snapshots.list": (Permission.DATA_READ, lambda c: snapshots.snapshot_list(c)),
    "data.quarantine": (Permission.DATA_READ, lambda c: ingestion.quarantine_rows(c)),
    "views.list": (Permission.MODEL_READ, lambda c: views.list_views(c)),
    "sources.remove": (Permission.SOURCES_MANAGE, lambda c: sources.remove_source(c, "none")),
}


@pytest.mark.parametrize("role", ROLES)
def test_real_service_calls_answer_each_role_as_the_matrix_says(
    role: str, any_workspace: Workspace
) -> None:
    ops = _operations()
    ctx = ServiceContext(any_workspace, Actor(f"user-{role}", frozenset({role})))
    for action, (perm, call) in CALLS.items():
        assert ops[action][1] == perm.name, action  # the call is the operation it claims
        allowed = perm in ROLE_PERMISSIONS[role]
        try:
            call(ctx)
            answer = True
        except AccessDenied:
            answer = False
        except Exception:  # allowed in, failed on purpose (e.g. no such source)
            answer = True
        assert answer is allowed, (role, action)


# CLI commands that call no service, with the reason: they touch no workspace.
CLI_WITHOUT_SERVICE = {
    "schema": "prints the twin format's JSON Schema, a constant",
    "validation schema": "prints the plan's or the scorecard's JSON Schema, a constant",
    "validation plans": "lists the plans shipped in the package, a constant",
}


def _cli_leaves() -> dict[str, Callable[..., object]]:
    from caretwin.cli.app import AREAS, area_group

    found: dict[str, Callable[..., object]] = {}

    def walk(cmd: object, path: list[str]) -> None:
        commands = getattr(cmd, "commands", None)
        if commands is not None:
            for name, sub in commands.items():
                walk(sub, [*path, name])
        else:
            callback = getattr(cmd, "callback", None)
            assert callback is not None, path
            found[" ".join(path)] = inspect.unwrap(callback)

    for area in AREAS:
        walk(area_group(area), [])
    return found


def _reaches_a_service(fn: Callable[..., object], seen: set[object]) -> bool:
    """Whether ``fn`` (or a function of its module it calls) imports from caretwin.services."""
    if fn in seen:
        return False
    seen.add(fn)
    module = sys.modules[fn.__module__]
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn)))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("caretwin.services"):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            callee = getattr(module, node.func.id, None)
            if (
                inspect.isfunction(callee)
                and callee.__module__ == module.__name__
                and _reaches_a_service(callee, seen)
            ):
                return True
    return False


def test_every_cli_command_goes_through_the_service_layer() -> None:
    """The CLI side of the walk: each command reaches a service function (where the permission
    is declared and checked), so no command acts on a workspace around the policy."""
    leaves = _cli_leaves()
    assert len(leaves) >= 40 and {"users add", "tokens create", "runs list"} <= set(leaves)
    assert set(CLI_WITHOUT_SERVICE) <= set(leaves)  # no stale exemption
    bypass = [
        name
        for name, fn in sorted(leaves.items())
        if name not in CLI_WITHOUT_SERVICE and not _reaches_a_service(fn, set())
    ]
    assert bypass == []


# The HTTP API side: every route (as the running app declares them) x every role, answered as
# the policy says. A route needs a sample request here, so a new route is a failing test until
# it is walked too; one without a declared permission stops the app (tests/test_api.py).
def _api_samples() -> dict[tuple[str, str], dict[str, object]]:
    from caretwin.model import example_text

    small = {"model": "reference-hospital", "replications": 2, "run_days": 1}
    return {
        ("GET", "/api/v1/health"): {},
        ("GET", "/api/v1/examples"): {},
        ("GET", "/api/v1/schema"): {},
        ("POST", "/api/v1/validate"): {"json": {"definition": example_text("reference-hospital")}},
        ("GET", "/api/v1/runs"): {},
        ("GET", "/api/v1/runs/{run_id}"): {},
        ("GET", "/api/v1/runs/{run_id}/manifest"): {},
        ("GET", "/api/v1/runs/{run_id}/report"): {},
        ("POST", "/api/v1/simulations"): {"json": small},
        ("GET", "/api/v1/jobs"): {},
        ("GET", "/api/v1/jobs/{job_id}"): {},
        ("POST", "/api/v1/jobs/{job_id}/cancel"): {},
        ("POST", "/api/v1/experiments"): {"json": {"spec": {}}},
        ("POST", "/api/v1/calibrations"): {"json": {"out": "fitted"}},
        ("POST", "/api/v1/ingests"): {"files": [("files", ("a.ndjson", b"{}\n"))]},
        ("POST", "/api/v1/pulls"): {"json": {"source": "none"}},
        ("POST", "/api/v1/synth"): {"json": {"model": "reference-hospital", "days": 1}},
        ("POST", "/api/v1/runs/{run_id}/reproduce"): {},
        ("GET", "/api/v1/schedules"): {},
        ("POST", "/api/v1/schedules"): {
            "json": {
                "name": "nightly",
                "cron": "0 2 * * *",
                "kind": "synth",
                "params": {"model": "reference-hospital", "days": 1},
            }
        },
        ("DELETE", "/api/v1/schedules/{name}"): {},
        ("GET", "/api/v1/audit"): {},
        ("GET", "/api/v1/audit/verify"): {},
        ("GET", "/api/v1/snapshots"): {},
        ("GET", "/api/v1/snapshots/{ref}"): {},
        ("GET", "/api/v1/snapshots/{a}/diff/{b}"): {},
        ("GET", "/api/v1/lake/tables"): {},
        ("GET", "/api/v1/views"): {},
        ("GET", "/api/v1/views/{name}"): {},
        ("GET", "/api/v1/sources"): {},
        ("GET", "/api/v1/sources/{name}"): {},
        ("GET", "/api/v1/plugins"): {},
        ("GET", "/api/v1/audit/export"): {},
        ("GET", "/api/v1/experiments"): {},
        ("GET", "/api/v1/experiments/{run_id}"): {},
        ("GET", "/api/v1/forecasts"): {},
        ("GET", "/api/v1/forecasts/{run_id}"): {},
        ("POST", "/api/v1/forecasts"): {"json": {"model": "reference-hospital", "state": {}}},
        ("POST", "/api/v1/forecast-states"): {"json": {"model": "reference-hospital", "at": 2}},
        ("GET", "/api/v1/lake/quarantine"): {},
        ("POST", "/api/v1/lake/quarantine/retry"): {"json": {"ids": ["none"]}},
        ("GET", "/api/v1/snapshots/{ref}/quality"): {},
        ("POST", "/api/v1/views/{name}/run"): {"json": {"limit": 1}},
        ("POST", "/api/v1/hl7/parse"): {
            "content": b"MSH|^~\\&|A|B|C|D|20250101||ADT^A01|1|P|2.5\r"
        },
        ("POST", "/api/v1/sources"): {"json": {"name": "m", "base_url": "http://127.0.0.1:9"}},
        ("PATCH", "/api/v1/sources/{name}"): {"json": {"base_url": "http://127.0.0.1:9"}},
        ("DELETE", "/api/v1/sources/{name}"): {},
        ("GET", "/api/v1/pulls"): {},
        ("GET", "/api/v1/pulls/{pull_id}"): {},
        ("GET", "/api/v1/users"): {},
        ("POST", "/api/v1/users"): {"json": {"name": "m", "full_name": "M", "roles": ["viewer"]}},
        ("POST", "/api/v1/users/{name}/disable"): {},
        ("POST", "/api/v1/users/{name}/enable"): {},
        ("PUT", "/api/v1/users/{name}/roles"): {"json": {"roles": ["viewer"]}},
        ("PUT", "/api/v1/users/{name}/full-name"): {"json": {"full_name": "N"}},
        ("PUT", "/api/v1/users/{name}/password"): {"json": {"password": "p" * 16}},
        ("GET", "/api/v1/roles"): {},
        ("GET", "/api/v1/tokens"): {},
        ("POST", "/api/v1/tokens"): {"json": {"user": "none"}},
        ("POST", "/api/v1/tokens/{token_id}/revoke"): {},
        ("GET", "/api/v1/validation/plans"): {},
        ("GET", "/api/v1/validation/schema"): {},
        ("GET", "/api/v1/validation/runs"): {},
        # an empty lake: refused with 409 after the permission check, never run
        ("POST", "/api/v1/validation/runs"): {"json": {"plan": "demo-holdout"}},
        ("GET", "/api/v1/validation/runs/{run_id}"): {},
        ("POST", "/api/v1/validation/verify"): {"json": {"model": "no-such-model"}},
        ("GET", "/api/v1/validation/evidence"): {},
        ("POST", "/api/v1/validation/evidence"): {
            "json": {"kind": "face_validity", "title": "t", "model": "m", "findings": "f"}
        },
        ("POST", "/api/v1/validation/evidence/{evidence_id}/sign"): {"json": {"statement": "s"}},
        ("GET", "/api/v1/validation/forecasts"): {},
        ("GET", "/api/v1/models"): {},
        ("GET", "/api/v1/models/{model}/parameters"): {},
        ("GET", "/api/v1/scenarios"): {},
        ("POST", "/api/v1/scenarios"): {
            "json": {
                "name": "icu20",
                "model": "reference-hospital",
                "overrides": {"resources.icu_bed.capacity": 20},
            }
        },
        ("GET", "/api/v1/scenarios/{name}"): {},
        ("DELETE", "/api/v1/scenarios/{name}"): {},
        ("GET", "/api/v1/runs/{run_id}/comparison"): {},
    }


@pytest.mark.slow
def test_every_api_route_answers_every_role_as_the_matrix_says(
    any_workspace: Workspace, report_figure: Callable[[str], None]
) -> None:
    from tests.api_helpers import bearer, client, token_for

    from caretwin.api.app import create_app, declared_routes

    routes = declared_routes(create_app(any_workspace))
    samples = _api_samples()
    assert {(r.method, r.path) for r in routes} == set(samples)
    c = client(any_workspace)
    openapi = c.get("/api/v1/openapi.json").json()["paths"]
    documented = {(m.upper(), p) for p, item in openapi.items() for m in item}
    assert documented == set(samples)  # nothing served that the walk does not see
    tokens = {role: bearer(token_for(any_workspace, role)) for role in ROLES}
    answers = 0
    for route in routes:
        url = route.path
        for param in (
            "run_id",
            "job_id",
            "ref",
            "a",
            "b",
            "name",
            "pull_id",
            "token_id",
            "evidence_id",
            "model",
        ):
            url = url.replace(f"{{{param}}}", "none")
        sample = samples[(route.method, route.path)]
        if route.permission == "public":
            assert c.request(route.method, url, **sample).status_code == 200, route
            continue
        permission = Permission(route.permission)  # a real permission of the policy
        r = c.request(route.method, url, **sample)
        assert r.status_code == 401, (route, r.status_code)
        for role in ROLES:
            r = c.request(route.method, url, headers=tokens[role], **sample)
            answers += 1
            if permission in ROLE_PERMISSIONS[role]:
                assert r.status_code not in (401, 403), (role, route, r.status_code, r.text)
            else:
                assert r.status_code == 403, (role, route, r.status_code)
                assert r.json()["error"]["code"] == "access_denied"
                assert r.json()["error"]["details"]["permission"] == permission.value
    backend = any_workspace.backend
    report_figure(
        f"API authorisation matrix ({backend}): {len(routes)} routes x {len(ROLES)} roles, "
        f"{answers} answers checked"
    )


# The web side: every page (as the running app declares them) x every role. A page needs a
# sample request here, so a new page is a failing test until it is walked too.
def _page_samples() -> dict[tuple[str, str], dict[str, str]]:
    """(method, path) -> the form a POST sends (its CSRF token is added per session)."""
    return {
        ("GET", "/"): {},
        ("GET", "/signin"): {},
        ("POST", "/signin"): {"username": "nobody", "password": "x"},
        ("GET", "/signin/oidc"): {},  # (400 here: no provider configured)
        ("GET", "/signin/oidc/callback"): {},
        ("POST", "/signout"): {},
        ("GET", "/static/{name}"): {},
        ("GET", "/runs"): {},
        ("GET", "/runs/{run_id}"): {},
        ("GET", "/runs/{run_id}/report"): {},
        ("GET", "/jobs"): {},
        ("GET", "/jobs/{job_id}"): {},
        ("POST", "/jobs/{job_id}/cancel"): {},
        ("GET", "/audit"): {},
        ("POST", "/audit/verify"): {},
        ("GET", "/users"): {},
        ("POST", "/users"): {"name": "", "full_name": "", "roles": "viewer"},
        ("GET", "/users/{name}"): {},
        ("POST", "/users/{name}/roles"): {"roles": "viewer"},
        ("POST", "/users/{name}/password"): {"password": "x"},
        ("POST", "/users/{name}/disable"): {},
        ("POST", "/users/{name}/enable"): {},
        ("GET", "/tokens"): {},
        ("POST", "/tokens"): {"user": "none", "expires": "1d"},
        ("POST", "/tokens/{token_id}/revoke"): {},
        ("GET", "/sources"): {},
        ("GET", "/sources/{name}"): {},
        ("GET", "/pulls"): {},
        ("GET", "/pulls/{pull_id}"): {},
        ("GET", "/snapshots"): {},
        ("GET", "/snapshots/diff"): {},
        ("GET", "/snapshots/{ref}"): {},
        ("POST", "/snapshots/{ref}/quality"): {},
        ("GET", "/lake"): {},
        ("GET", "/lake/quarantine"): {},
        ("POST", "/lake/quarantine/retry"): {"ids": "none"},
        ("GET", "/validation"): {},
        ("GET", "/validation/{run_id}"): {},
        ("GET", "/models"): {},
        ("POST", "/models/run"): {"model": "none"},
        ("GET", "/models/jobs/{job_id}"): {},
        ("GET", "/models/jobs/{job_id}/status"): {},
        ("GET", "/runs/{run_id}/comparison"): {},
        ("GET", "/scenarios/new"): {},
        ("POST", "/scenarios/new"): {"model": "reference-hospital", "name": ""},
        ("GET", "/scenarios/{name}"): {},
    }


@pytest.mark.slow
def test_every_page_answers_every_role_as_the_matrix_says(
    workspace: Workspace, report_figure: Callable[[str], None]
) -> None:
    """Signed out, a page redirects to the sign-in page; signed in, a role the policy refuses
    gets the denied page (403, HTML) and one it allows gets past the gate. Walked with real
    sessions and real CSRF tokens, so the gate is the only thing answering 403."""
    from tests.web_helpers import session_for, web_client

    from caretwin.api.app import create_app, declared_pages
    from caretwin.web.deps import PUBLIC, SESSION_COOKIE, SIGNED_IN

    pages = declared_pages(create_app(workspace))
    samples = _page_samples()
    assert {(p.method, p.path) for p in pages} == set(samples)
    c = web_client(workspace)
    sessions = {role: session_for(workspace, [role], f"web-{role}") for role in ROLES}
    answers = 0
    for page in pages:
        url = page.path
        for param in ("run_id", "job_id", "name", "token_id", "pull_id", "ref"):
            url = url.replace(f"{{{param}}}", "none")
        url = url.replace("/static/none", "/static/app.css")
        url = url.replace("/snapshots/diff", "/snapshots/diff?a=none&b=none")
        form = samples[(page.method, page.path)]
        c.cookies.clear()
        r = c.request(page.method, url, data=form or None)
        if page.permission == PUBLIC:
            # open to anyone: answered, never sent to sign in (403: the sign-in form's token)
            assert r.status_code in (200, 400, 403), (page, r.status_code)
            continue
        assert r.status_code == 303 and r.headers["location"].startswith("/signin?next="), page
        for role in ROLES:
            sid, csrf = sessions[role]
            c.cookies.set(SESSION_COOKIE, sid)
            data = {**form, "csrf_token": csrf} if page.method == "POST" else None
            r = c.request(page.method, url, data=data)
            answers += 1
            allowed = (
                page.permission == SIGNED_IN
                or Permission(page.permission) in (ROLE_PERMISSIONS[role])
            )
            if allowed:
                assert r.status_code != 403, (role, page, r.status_code, r.text[:300])
                gate = r.headers.get("location", "").startswith("/signin?next=")
                assert not gate, (role, page)  # (sign-out itself goes to a bare /signin)
            else:
                assert r.status_code == 403, (role, page, r.status_code)
                assert "Not allowed" in r.text and page.permission in r.text, (role, page)
        if page.path == "/signout":  # signing out ended every session: open fresh ones
            sessions = {role: session_for(workspace, [role], f"web-{role}") for role in ROLES}
    from caretwin.audit import AuditLog

    denied = AuditLog(workspace).list(limit=5000, action="web.request")
    assert any(e.outcome == "denied" for e in denied)  # the refusals are in the trail
    report_figure(
        f"web authorisation matrix: {len(pages)} pages x {len(ROLES)} roles, {answers} answers"
    )
