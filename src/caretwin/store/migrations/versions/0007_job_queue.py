"""The job queue: leases, cancel requests and results on jobs; schedules and their fires.

Revision ID: 0007_job_queue
Revises: 0006_web_sessions
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007_job_queue"
down_revision: str | None = "0006_web_sessions"
branch_labels: str | None = None
depends_on: str | None = None

_JOB_COLUMNS = (
    ("result", sa.JSON()),
    ("cancel_requested_by", sa.String(200)),
    ("cancelled_by", sa.String(200)),
    ("worker", sa.String(200)),
    ("heartbeat_at", sa.DateTime(timezone=True)),
    ("lease_expires_at", sa.DateTime(timezone=True)),
    ("schedule", sa.String(100)),
)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for name, kind in _JOB_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_jobs_kind_created", "jobs", ["kind", "created_at"])
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("cron", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("owner_kind", sa.String(40), nullable=False),
        sa.Column("owner_roles", sa.JSON(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "schedule_fires",
        sa.Column("schedule", sa.String(100), primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
        sa.Column("job_id", sa.String(40), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("schedule_fires")
    op.drop_table("schedules")
    op.drop_index("ix_jobs_kind_created", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("attempts")
        for name, _ in reversed(_JOB_COLUMNS):
            batch.drop_column(name)
