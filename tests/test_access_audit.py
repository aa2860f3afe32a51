"""Roles and permissions, the audit log, and the audited service operation."""

from __future__ import annotations

from pathlib import Path

import pytest

from caretwin.access import ROLE_PERMISSIONS, Actor, Permission, permissions_for, require
from caretwin.audit import AuditLog, sanitize_details
from caretwin.errors import AccessDenied, DataError
from caretwin.services.context import ServiceContext
from caretwin.workspace import Workspace

ADMIN = Actor("root", frozenset({"admin"}))
VIEWER = Actor("vic", frozenset({"viewer"}))


def test_role_table() -> None:
    assert ROLE_PERMISSIONS["admin"] == frozenset(Permission)
    assert Permission.AUDIT_READ not in ROLE_PERMISSIONS["analyst"]
    assert Permission.INGEST not in ROLE_PERMISSIONS["clinician"]
    assert Permission.SIMULATE in ROLE_PERMISSIONS["clinician"]
    assert ROLE_PERMISSIONS["viewer"] == {Permission.MODEL_READ, Permission.RUNS_READ}
    for role, perms in ROLE_PERMISSIONS.items():
        assert perms <= ROLE_PERMISSIONS["admin"], role


def test_permissions_union_and_unknown_roles_fail_closed() -> None:
    assert permissions_for(frozenset({"viewer", "clinician"})) == ROLE_PERMISSIONS["clinician"]
    assert permissions_for(frozenset({"superuser"})) == frozenset()


def test_require() -> None:
    require(ADMIN, Permission.AUDIT_READ)
    with pytest.raises(AccessDenied) as info:
        require(VIEWER, Permission.SIMULATE)
    assert info.value.exit_code == 8
    assert info.value.details == {"actor": "vic", "permission": "sim.run"}


def test_os_user_is_admin() -> None:
    actor = Actor.os_user()
    assert actor.name and actor.roles == {"admin"} and actor.kind == "user"


def test_permission_values_are_strings() -> None:
    assert Permission.SIMULATE.value == "sim.run"
    assert str(Permission.CALIBRATE) == "model.calibrate"


def test_audit_record_and_list(any_workspace: Workspace) -> None:
    log = AuditLog(any_workspace)
    log.record(ADMIN, "sim.run", "RH1", "ok", {"run_id": "sim-1", "path": Path("/x")})
    log.record(VIEWER, "sim.run", "RH1", "denied", {"permission": "sim.run"})
    log.record(ADMIN, "data.ingest", "bundle.json", "error")
    events = log.list()
    assert [e.outcome for e in events] == ["error", "denied", "ok"]
    # the chain's genesis came first (caretwin.audit.chain); listed only when asked for
    (genesis,) = log.list(action="audit.genesis")
    assert genesis.seq == 1 and [e.seq for e in events] == [4, 3, 2]
    assert events[2].details == {"run_id": "sim-1", "path": "/x"}
    assert events[1].roles == ("viewer",)
    assert events[0].at.tzinfo is not None
    assert [e.actor for e in log.list(actor="vic")] == ["vic"]
    assert [e.target for e in log.list(action="data.ingest")] == ["bundle.json"]
    assert len(log.list(limit=2)) == 2
    assert events[0].to_dict()["action"] == "data.ingest"


def test_audit_rejects_unknown_outcome(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="outcome"):
        AuditLog(workspace).record(ADMIN, "x", "y", "maybe")


def test_audit_redacts_phi_only_keys() -> None:
    clean = sanitize_details(
        {"count": 3, "patient": {"birthDate": "1970-01-01", "id": "p1"}, "rows": [{"phone": "1"}]}
    )
    assert clean == {
        "count": 3,
        "patient": {"birthDate": "[redacted]", "id": "p1"},
        "rows": [{"phone": "[redacted]"}],
    }


def test_operation_ok(any_workspace: Workspace) -> None:
    ctx = ServiceContext(any_workspace, ADMIN)
    with ctx.operation("sim.run", Permission.SIMULATE, "RH1") as op:
        assert [e.outcome for e in ctx.audit.list()] == ["started"]  # a long operation
        op.details["replications"] = 5
    event, started = ctx.audit.list()
    assert (event.action, event.target, event.outcome) == ("sim.run", "RH1", "ok")
    assert (started.action, started.target, started.details) == ("sim.run", "RH1", {})
    assert event.details == {"replications": 5}
    assert event.actor == "root" and event.roles == ("admin",)
    with ctx.operation("model.validate", Permission.MODEL_READ, "RH1"):
        pass  # a short operation: no started event
    assert [e.outcome for e in ctx.audit.list()] == ["ok", "ok", "started"]


def test_operation_denied_before_the_block_runs(any_workspace: Workspace) -> None:
    ctx = ServiceContext(any_workspace, VIEWER)
    ran = False
    with pytest.raises(AccessDenied), ctx.operation("sim.run", Permission.SIMULATE, "RH1"):
        ran = True
    assert not ran
    (event,) = AuditLog(any_workspace).list()
    assert event.outcome == "denied" and event.details == {"permission": "sim.run"}


def test_operation_error_is_audited_and_reraised(any_workspace: Workspace) -> None:
    ctx = ServiceContext(any_workspace, ADMIN)
    with (
        pytest.raises(DataError, match="no patients"),
        ctx.operation("data.ingest", Permission.INGEST, "b.json") as op,
    ):
        op.details["files"] = 1
        raise DataError("no patients")
    event, started = ctx.audit.list()
    assert started.outcome == "started"
    assert event.outcome == "error"
    assert event.details == {"files": 1, "error": {"type": "DataError", "message": "no patients"}}


def test_access_denied_inside_the_block_is_a_denial(workspace: Workspace) -> None:
    ctx = ServiceContext(workspace, VIEWER)
    with pytest.raises(AccessDenied), ctx.operation("runs.reproduce", Permission.RUNS_READ, "r"):
        require(ctx.actor, Permission.SIMULATE)
    (event,) = ctx.audit.list()
    assert event.outcome == "denied" and event.details["permission"] == "sim.run"


def test_for_cli_resolves_workspace_and_os_user(workspace: Workspace) -> None:
    ctx = ServiceContext.for_cli(workspace.root)
    assert ctx.workspace.root == workspace.root
    assert ctx.actor == Actor.os_user()
    ctx.workspace.close()
