"""The ``web_sessions`` table: signed-in browser sessions of ``caretwin serve``.

Only the SHA-256 of a session id is stored (like API tokens), so a copy of the database cannot
be replayed as a cookie. A row carries who signed in (name, full name, roles: an SSO sign-in may
have no user row), the session's CSRF token, and the times idle logoff and absolute expiry read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from caretwin.store.models import Base, utcnow

__all__ = ["WebSessionRow"]


class WebSessionRow(Base):
    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_name"),)

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(300))
    roles: Mapped[list[str]] = mapped_column(default=list)
    #: How the person signed in: ``password`` or ``oidc`` (the audit trail shows it).
    method: Mapped[str] = mapped_column(String(40))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(40), default=None)
