"""The metadata schema (models vs migrations, both backends) and snapshot records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from caretwin.access import Actor
from caretwin.errors import StoreError
from caretwin.store import (
    AuditEvent,
    Base,
    add_snapshot,
    current_revision,
    get_snapshot,
    head_revision,
    latest_snapshot,
    list_snapshots,
    upgrade,
)
from caretwin.workspace import Workspace


def test_models_match_migrations(any_workspace: Workspace) -> None:
    """The ORM models and the Alembic migrations describe the same schema."""
    with any_workspace.engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(mc, Base.metadata)
    assert diffs == []


def test_upgrade_is_idempotent(any_workspace: Workspace) -> None:
    upgrade(any_workspace.engine)
    upgrade(any_workspace.engine)
    assert current_revision(any_workspace.engine) == head_revision() == "0008_saved_scenarios"


def test_timestamps_come_back_utc_aware(any_workspace: Workspace) -> None:
    at = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)
    with any_workspace.session() as s:
        s.add(AuditEvent(at=at, actor="a", action="x", target="t", outcome="ok"))
    with any_workspace.session() as s:
        row = s.query(AuditEvent).one()
        assert row.at == at and row.at.tzinfo is not None and row.roles == []
        assert row.details == {}


def test_naive_timestamps_are_refused(workspace: Workspace) -> None:
    with pytest.raises(StoreError), workspace.session() as s:
        s.add(AuditEvent(at=datetime(2026, 1, 1), actor="a", action="x", target="t", outcome="ok"))
        s.flush()


def test_snapshots_roundtrip(any_workspace: Workspace) -> None:
    ws = any_workspace
    assert list_snapshots(ws) == [] and latest_snapshot(ws) is None
    first = add_snapshot(
        ws, "snap-1", Actor("ana", frozenset({"analyst"})), "fhir", {"Patient": 3}, "h1"
    )
    second = add_snapshot(ws, "snap-2", "bob", "cmms", {"WorkOrder": 7}, "h2")
    assert first.actor == "ana" and first.counts == {"Patient": 3}
    assert first.created_at.tzinfo is not None
    assert [s.snapshot_id for s in list_snapshots(ws)] == ["snap-2", "snap-1"]
    assert latest_snapshot(ws) == second
    assert get_snapshot(ws, "snap-1") == first
    assert get_snapshot(ws, "nope") is None
    assert second.to_dict()["counts"] == {"WorkOrder": 7}


def test_snapshot_ids_are_idempotent_but_never_reused(any_workspace: Workspace) -> None:
    ws = any_workspace
    a = add_snapshot(ws, "snap", "ana", "fhir", {"Patient": 1}, "same-hash")
    assert add_snapshot(ws, "snap", "ana", "fhir", {"Patient": 1}, "same-hash") == a
    with pytest.raises(StoreError, match="different data"):
        add_snapshot(ws, "snap", "ana", "fhir", {"Patient": 2}, "other-hash")
    assert len(list_snapshots(ws)) == 1
