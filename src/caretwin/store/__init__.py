"""The metadata database: SQLAlchemy 2 models, Alembic migrations, snapshot records.

Works on SQLite (the default, one file in the workspace) and PostgreSQL (shared deployments);
see :mod:`caretwin.store.models` for the tables and :mod:`caretwin.store.migrate` for upgrades.
"""

from __future__ import annotations

from caretwin.store.jobs import Job
from caretwin.store.migrate import current_revision, head_revision, upgrade
from caretwin.store.models import AuditEvent, Base, Run, Snapshot, utcnow
from caretwin.store.records import (
    SnapshotInfo,
    add_snapshot,
    get_snapshot,
    latest_snapshot,
    list_snapshots,
)
from caretwin.store.scenarios import SavedScenario
from caretwin.store.schedules import Schedule, ScheduleFire
from caretwin.store.sessions import WebSessionRow

__all__ = [
    "AuditEvent",
    "Base",
    "Job",
    "Run",
    "SavedScenario",
    "Schedule",
    "ScheduleFire",
    "Snapshot",
    "SnapshotInfo",
    "WebSessionRow",
    "add_snapshot",
    "current_revision",
    "get_snapshot",
    "head_revision",
    "latest_snapshot",
    "list_snapshots",
    "upgrade",
    "utcnow",
]
