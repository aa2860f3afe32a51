"""Data sources, per-type watermarks and pulls (FHIR REST and Bulk Data connectors).

Revision ID: 0002_sources
Revises: 0001_initial
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_sources"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "source_watermarks",
        sa.Column(
            "source",
            sa.String(100),
            sa.ForeignKey("sources.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("resource_type", sa.String(100), primary_key=True),
        sa.Column("watermark", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pull_id", sa.String(100), nullable=False),
    )
    op.create_table(
        "source_pulls",
        sa.Column("pull_id", sa.String(100), primary_key=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("staging_dir", sa.Text(), nullable=False),
        sa.Column("snapshot_id", sa.String(100), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
    )
    op.create_index("ix_source_pulls_source_started", "source_pulls", ["source", "started_at"])


def downgrade() -> None:
    op.drop_table("source_pulls")
    op.drop_table("source_watermarks")
    op.drop_table("sources")
