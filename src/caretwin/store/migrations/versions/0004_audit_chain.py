"""The audit hash chain: sequence number, previous hash, HMAC and key id on every event.

Existing events keep null chain columns; the first event written after this revision is the
chain's genesis, which seals them under one hash (caretwin.audit.chain).

Revision ID: 0004_audit_chain
Revises: 0003_identity
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_audit_chain"
down_revision: str | None = "0003_identity"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("key_id", sa.String(32), nullable=True))
        batch.create_index("ux_audit_events_seq", ["seq"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ux_audit_events_seq")
        batch.drop_column("key_id")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
