"""Metadata tables of the data-platform connectors: sources, watermarks, pulls.

A source row stores *where* and *how* to connect, never a secret: authentication settings name an
environment variable or a file path that holds the secret (see :mod:`caretwin.connectors.config`).
A watermark is the server instant up to which one resource type of one source is known to be in
the lake; it only moves after the data it covers has been ingested. A pull row records each pull's
outcome and, for a Bulk Data export, the job state needed to resume it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from caretwin.store.models import Base, utcnow

__all__ = ["Pull", "Source", "SourceWatermark"]


class Source(Base):
    """A configured external data source (today: a FHIR R4 server)."""

    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    base_url: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class SourceWatermark(Base):
    """Per (source, resource type): the server instant everything before which is ingested."""

    __tablename__ = "source_watermarks"

    source: Mapped[str] = mapped_column(
        String(100), ForeignKey("sources.name", ondelete="CASCADE"), primary_key=True
    )
    resource_type: Mapped[str] = mapped_column(String(100), primary_key=True)
    watermark: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    pull_id: Mapped[str] = mapped_column(String(100))


class Pull(Base):
    """One pull from a source: mode, status, counts, transfer statistics and resumable state."""

    __tablename__ = "source_pulls"
    __table_args__ = (Index("ix_source_pulls_source_started", "source", "started_at"),)

    pull_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    actor: Mapped[str] = mapped_column(String(200))
    staging_dir: Mapped[str] = mapped_column(Text)
    snapshot_id: Mapped[str | None] = mapped_column(String(100), default=None)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
