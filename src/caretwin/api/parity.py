"""Which API route does what each CLI command does, or why a command has none.

The HTTP API covers every operation of the command line; ``tests/test_api_parity.py`` walks
every CLI command and fails when one is in none of these tables, or names a route the app does
not serve (``docs/api.md`` prints them).
"""

from __future__ import annotations

__all__ = ["CLI_ROUTES", "JOB_ROUTES", "NO_ROUTE", "PENDING_JOB_ROUTES"]

_V1 = "/api/v1"

#: CLI command -> the routes doing it in the request ("METHOD /path").
CLI_ROUTES: dict[str, tuple[str, ...]] = {
    "audit export": (f"GET {_V1}/audit/export",),
    "audit list": (f"GET {_V1}/audit",),
    "audit verify": (f"GET {_V1}/audit/verify",),
    "examples": (f"GET {_V1}/examples",),
    "forecast": (
        f"POST {_V1}/forecasts",
        f"GET {_V1}/forecasts",
        f"GET {_V1}/forecasts/{{run_id}}",
    ),
    "forecast-state": (f"POST {_V1}/forecast-states",),
    "hl7 parse": (f"POST {_V1}/hl7/parse",),
    "lake quarantine": (f"GET {_V1}/lake/quarantine",),
    "lake retry": (f"POST {_V1}/lake/quarantine/retry",),
    "lake tables": (f"GET {_V1}/lake/tables",),
    "plugins list": (f"GET {_V1}/plugins",),
    "runs list": (f"GET {_V1}/runs",),
    "runs show": (f"GET {_V1}/runs/{{run_id}}", f"GET {_V1}/runs/{{run_id}}/manifest"),
    "scenarios compare": (f"GET {_V1}/runs/{{run_id}}/comparison",),
    "scenarios delete": (f"DELETE {_V1}/scenarios/{{name}}",),
    "scenarios list": (f"GET {_V1}/scenarios",),
    "scenarios params": (f"GET {_V1}/models/{{model}}/parameters", f"GET {_V1}/models"),
    "scenarios save": (f"POST {_V1}/scenarios",),
    "scenarios show": (f"GET {_V1}/scenarios/{{name}}",),
    "schema": (f"GET {_V1}/schema",),
    "snapshots diff": (f"GET {_V1}/snapshots/{{a}}/diff/{{b}}",),
    "snapshots list": (f"GET {_V1}/snapshots",),
    "snapshots quality": (f"GET {_V1}/snapshots/{{ref}}/quality",),
    "snapshots show": (f"GET {_V1}/snapshots/{{ref}}",),
    "validation evidence add": (f"POST {_V1}/validation/evidence",),
    "validation evidence list": (f"GET {_V1}/validation/evidence",),
    "validation evidence sign": (f"POST {_V1}/validation/evidence/{{evidence_id}}/sign",),
    "validation forecasts": (f"GET {_V1}/validation/forecasts",),
    "validation plans": (f"GET {_V1}/validation/plans",),
    "validation schema": (f"GET {_V1}/validation/schema",),
    "validation show": (f"GET {_V1}/validation/runs/{{run_id}}",),
    "validation verify": (f"POST {_V1}/validation/verify",),
    "sources add fhir": (f"POST {_V1}/sources",),
    "sources list": (f"GET {_V1}/sources",),
    "sources remove": (f"DELETE {_V1}/sources/{{name}}",),
    "sources set-url": (f"PATCH {_V1}/sources/{{name}}",),
    "sources show": (
        f"GET {_V1}/sources/{{name}}",
        f"GET {_V1}/pulls",
        f"GET {_V1}/pulls/{{pull_id}}",
    ),
    "tokens create": (f"POST {_V1}/tokens",),
    "tokens list": (f"GET {_V1}/tokens",),
    "tokens revoke": (f"POST {_V1}/tokens/{{token_id}}/revoke",),
    "users add": (f"POST {_V1}/users",),
    "users disable": (f"POST {_V1}/users/{{name}}/disable",),
    "users enable": (f"POST {_V1}/users/{{name}}/enable",),
    "users list": (f"GET {_V1}/users", f"GET {_V1}/roles"),
    "users reset-password": (f"PUT {_V1}/users/{{name}}/password",),
    "users set-full-name": (f"PUT {_V1}/users/{{name}}/full-name",),
    "users set-roles": (f"PUT {_V1}/users/{{name}}/roles",),
    "jobs cancel": (f"POST {_V1}/jobs/{{job_id}}/cancel",),
    "jobs list": (f"GET {_V1}/jobs",),
    "jobs show": (f"GET {_V1}/jobs/{{job_id}}",),
    "schedules add": (f"POST {_V1}/schedules",),
    "schedules list": (f"GET {_V1}/schedules",),
    "schedules remove": (f"DELETE {_V1}/schedules/{{name}}",),
    "validate": (f"POST {_V1}/validate",),
    "views list": (f"GET {_V1}/views",),
    "views run": (f"POST {_V1}/views/{{name}}/run",),
    "views show": (f"GET {_V1}/views/{{name}}",),
}

#: CLI commands that run long: through the API they are background jobs (202, then
#: ``GET /api/v1/jobs/{id}``), and what they record is read back through the routes beside.
JOB_ROUTES: dict[str, tuple[str, ...]] = {
    "simulate": (f"POST {_V1}/simulations",),
    "experiment": (
        f"POST {_V1}/experiments",
        f"GET {_V1}/experiments",
        f"GET {_V1}/experiments/{{run_id}}",
    ),
    "synth": (f"POST {_V1}/synth",),
    "ingest": (f"POST {_V1}/ingests",),
    "calibrate": (f"POST {_V1}/calibrations",),
    "pull": (f"POST {_V1}/pulls",),
    "reproduce": (f"POST {_V1}/runs/{{run_id}}/reproduce",),
    "validation run": (f"POST {_V1}/validation/runs", f"GET {_V1}/validation/runs"),
}

#: Job routes of :data:`JOB_ROUTES` not served yet (the jobs work adds them); the parity test
#: fails once one is served and still listed here, so this set only shrinks.
PENDING_JOB_ROUTES: frozenset[str] = frozenset()

#: CLI commands with no route, and why.
NO_ROUTE: dict[str, str] = {
    "init": "creates the workspace a server is then started on",
    "serve": "starts the server itself",
    "demo": "an end-to-end tour writing into a fresh workspace; the API has each step",
    "warmup": "compiles the fast engine in the calling process; the server's workers compile "
    "on their first simulation",
    "backup": "an operator's copy of the server's files, written on the server's disk",
    "restore": "brings a workspace back into a fresh folder, before any server runs on it",
    "listen mllp": "a long-running MLLP listener process of its own, not a request",
    "users break-glass": "the way in when no administrator can sign in, so by design an OS "
    "user's action on the server, not a request behind sign-in",
    "auth oidc-check": "the IT team's check of the server's sign-in settings against the "
    "provider, run on the server while setting single sign-on up",
    "worker": "a long-running process taking jobs from the queue, on the server or beside it, "
    "not a request",
    "schedules pause": "an operator's switch on the server; a paused schedule is removed and "
    "added again through the API",
    "schedules resume": "an operator's switch on the server; the API adds the schedule again "
    "instead",
    "views test": "a conformance check of the view engine against test files on the server, "
    "not an operation on the workspace",
}
