"""The metadata database's tables as typed SQLAlchemy 2 ORM models.

The metadata database holds what must be queryable and durable across runs — the audit trail,
the run record, the lake's snapshots — and nothing bulky: event data lives in the Parquet lake,
run artefacts in run folders. The schema is owned by the Alembic migrations in
``caretwin/store/migrations``; these models must stay in step with them (a test checks it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["AuditEvent", "Base", "Run", "Snapshot", "UTCDateTime", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on every backend.

    SQLite has no timezone-aware type and hands back naive datetimes; PostgreSQL hands back the
    session time zone. Normalising both here means callers can compare and serialise timestamps
    without caring which database the workspace uses.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        # SQLite stores the text as given; dropping the offset keeps its sort order sane.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every CareTwin metadata table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class AuditEvent(Base):
    """One audited operation. Append-only: nothing in CareTwin updates or deletes these rows.

    ``details`` holds ids, counts and hashes only — never PHI.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_action", "action"),
        Index("ix_audit_events_actor", "actor"),
        # One event per place in the chain: a fork cannot even be stored.
        Index("ux_audit_events_seq", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(default=list)
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(20))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The hash chain (caretwin.audit.chain): place, link, HMAC and the key's id. Null for the
    # events written before the chain, which its genesis event seals.
    seq: Mapped[int | None] = mapped_column(Integer, default=None)
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    hash: Mapped[str | None] = mapped_column(String(64), default=None)
    key_id: Mapped[str | None] = mapped_column(String(32), default=None)


class Run(Base):
    """One simulation, calibration, synthesis or demo run; ``manifest`` is its full manifest."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_created_at", "created_at"), Index("ix_runs_kind", "kind"))

    run_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    actor: Mapped[str] = mapped_column(String(200))
    model_name: Mapped[str | None] = mapped_column(String(200), default=None)
    model_hash: Mapped[str | None] = mapped_column(String(128), default=None)
    scenario: Mapped[str | None] = mapped_column(Text, default=None)
    seed: Mapped[int | None] = mapped_column(Integer, default=None)
    replications: Mapped[int | None] = mapped_column(Integer, default=None)
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report_path: Mapped[str | None] = mapped_column(Text, default=None)


class Snapshot(Base):
    """One state of the lake after an ingestion: what came in, how much, and its content hash."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_created_at", "created_at"),)

    snapshot_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    data_hash: Mapped[str] = mapped_column(String(128))


# The connectors' tables live in their own module but on this Base; importing it here puts them
# in ``Base.metadata`` wherever the models are loaded (Alembic's env, the schema test).
from caretwin.store import identity as _identity  # noqa: E402, F401 - users, tokens, break-glass
from caretwin.store import sources as _sources  # noqa: E402, F401 - registers its tables on Base
