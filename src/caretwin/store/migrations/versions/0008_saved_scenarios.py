"""Saved scenarios: immutable versions of parameter overrides on a model.

Revision ID: 0008_saved_scenarios
Revises: 0007_job_queue
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008_saved_scenarios"
down_revision: str | None = "0007_job_queue"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "saved_scenarios",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_hash", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ux_saved_scenarios_name_version", "saved_scenarios", ["name", "version"], unique=True
    )
    op.create_index("ix_saved_scenarios_model", "saved_scenarios", ["model"])


def downgrade() -> None:
    op.drop_index("ix_saved_scenarios_model", table_name="saved_scenarios")
    op.drop_index("ux_saved_scenarios_name_version", table_name="saved_scenarios")
    op.drop_table("saved_scenarios")
