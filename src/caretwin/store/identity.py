"""Metadata tables of identity: users, API tokens and break-glass grants.

A user row holds the printed name signatures will carry, the roles, and an argon2id hash of the
password (never the password). A token row holds the SHA-256 of the token (never the token), so
a copy of the database cannot be replayed against the API. A break-glass row is an emergency
admin grant to one OS user, with its reason and expiry, kept for the audit trail's readers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from caretwin.store.models import Base, utcnow

__all__ = ["ApiToken", "BreakGlassGrant", "User"]


class User(Base):
    """A person who may act on the workspace; ``name`` is the login (and OS user) name."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(300))
    roles: Mapped[list[str]] = mapped_column(default=list)
    password_hash: Mapped[str | None] = mapped_column(Text, default=None)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiToken(Base):
    """An API token of a user: only its SHA-256 is stored; ``prefix`` helps a human find it."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user_name"),)

    token_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_name: Mapped[str] = mapped_column(
        String(100), ForeignKey("users.name", ondelete="CASCADE")
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class BreakGlassGrant(Base):
    """Emergency admin rights of one OS user until ``expires_at``, with the reason given."""

    __tablename__ = "break_glass_grants"
    __table_args__ = (Index("ix_break_glass_os_user", "os_user"),)

    grant_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    os_user: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
