"""Web sessions of caretwin serve's pages (server-side; the cookie holds a random id).

Revision ID: 0006_web_sessions
Revises: 0005_jobs
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_web_sessions"
down_revision: str | None = "0005_jobs"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("full_name", sa.String(300), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(40), nullable=True),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_name"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_user", table_name="web_sessions")
    op.drop_table("web_sessions")
