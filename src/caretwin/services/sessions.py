"""Web sessions: who a browser is, server-side, between sign-in and sign-out.

A session is a random id in the browser's cookie and a row in ``web_sessions`` holding only the
id's SHA-256, the person, their roles and the session's CSRF token. :func:`resolve_session`
logs a session off when it has been idle ``security.session_idle_minutes`` or is older than
``security.session_max_hours`` (both audited); :func:`end_session` ends it server-side, so a
copied cookie is worthless after sign-out. Password sign-in is :func:`sign_in` (the identity
service's checks and lockout apply); single sign-on creates its session with
:func:`create_session` once the identity provider has vouched for the person.

Session ids are never logged or audited: audit events name the session by a short digest.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.errors import NotAuthenticated
from caretwin.services.identity import authenticate_password
from caretwin.services.results import ServiceResult
from caretwin.store.identity import User
from caretwin.store.models import utcnow
from caretwin.store.sessions import WebSessionRow
from caretwin.workspace import Workspace
from caretwin.workspace.auth import ProvisionMode

__all__ = [
    "NewSession",
    "WebSession",
    "create_session",
    "end_session",
    "resolve_session",
    "sign_in",
]

log = logging.getLogger(__name__)

#: How often the last-seen time is written (seconds): not a write per page view.
_TOUCH_EVERY = timedelta(seconds=30)


class NewSession(ServiceResult):
    """A session just created: ``session_id`` goes in the cookie, and nowhere else."""

    session_id: str
    csrf_token: str
    user: str
    expires_at: datetime


class WebSession(ServiceResult):
    """A live session: the person behind a cookie."""

    user: str
    full_name: str
    roles: list[str]
    method: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    #: A short digest naming the session in the audit trail (never the id itself).
    ref: str

    @property
    def actor(self) -> Actor:
        return Actor(name=self.user, roles=frozenset(self.roles), kind="user")


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _audit(ws: Workspace, actor: Actor, action: str, outcome: str, details: dict[str, str]) -> None:
    try:
        AuditLog(ws).record(actor, action, actor.name, outcome, details)
    except Exception:  # the session decision stands; the failure is logged, never hidden
        log.exception("could not audit %s of %s", action, actor.name)


def create_session(
    ws: Workspace,
    actor: Actor,
    full_name: str,
    method: str = "password",
    client: str | None = None,
    now: datetime | None = None,
) -> NewSession:
    """A new session for ``actor`` (already authenticated by ``method``); audited
    ``session.start``. The caller sets the cookie from ``session_id``."""
    now = now or utcnow()
    session_id = secrets.token_urlsafe(32)
    digest = _hash(session_id)
    row = WebSessionRow(
        session_hash=digest,
        user_name=actor.name,
        full_name=full_name,
        roles=sorted(actor.roles),
        method=method,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=ws.config.security.session_max_hours),
    )
    with ws.session() as session:
        session.add(row)
    details = {"session": digest[:12], "method": method, "client": client or "?"}
    _audit(ws, actor, "session.start", "ok", details)
    return NewSession(
        session_id=session_id, csrf_token=row.csrf_token, user=actor.name, expires_at=row.expires_at
    )


def sign_in(ws: Workspace, name: str, password: str, client: str | None = None) -> NewSession:
    """Check ``name``'s password (lockout and its audit apply) and open a session."""
    actor = authenticate_password(ws, name, password)
    with ws.session() as session:
        user = session.get(User, name)
        full_name = user.full_name if user is not None else name
    return create_session(ws, actor, full_name, "password", client)


def _table_decides_roles(ws: Workspace, method: str) -> bool:
    """Whether the user table's roles apply to a session: always, but for single sign-on in
    ``map`` mode, where the provider's claims gave the roles at sign-in (a table row of the
    same name then only serves to disable the person)."""
    oidc = ws.config.auth.oidc
    if method != "oidc" or oidc is None:
        return True
    return oidc.provision is ProvisionMode.REQUIRE_USER


def resolve_session(ws: Workspace, session_id: str, now: datetime | None = None) -> WebSession:
    """The live session behind ``session_id``, its activity time refreshed.

    Raises :class:`NotAuthenticated` for an unknown or ended session, and ends (audited
    ``session.expire``) one idle too long, past its absolute expiry, or whose user has since
    been disabled. A user's current roles apply at once: a role change needs no new sign-in.
    """
    now = now or utcnow()
    digest = _hash(session_id)
    policy = ws.config.security
    reason = None
    with ws.session() as session:
        row = session.get(WebSessionRow, digest)
        if row is None or row.ended_at is not None:
            raise NotAuthenticated("not signed in", details={"reason": "no session"})
        user = session.get(User, row.user_name)
        if now >= row.expires_at:
            reason = "expired"
        elif now - row.last_seen_at >= timedelta(minutes=policy.session_idle_minutes):
            reason = "idle"
        elif user is not None and user.disabled:
            reason = "user disabled"
        if reason is not None:
            row.ended_at = now
            row.end_reason = reason
        else:
            if user is not None and _table_decides_roles(ws, row.method):
                row.roles = sorted(user.roles)
                row.full_name = user.full_name
            if now - row.last_seen_at >= _TOUCH_EVERY:
                row.last_seen_at = now
            found = WebSession(
                user=row.user_name,
                full_name=row.full_name,
                roles=list(row.roles),
                method=row.method,
                csrf_token=row.csrf_token,
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                expires_at=row.expires_at,
                ref=digest[:12],
            )
        actor = Actor(name=row.user_name, roles=frozenset(row.roles), kind="user")
    if reason is not None:
        _audit(ws, actor, "session.expire", "ok", {"session": digest[:12], "reason": reason})
        raise NotAuthenticated(f"session ended: {reason}", details={"reason": reason})
    return found


def end_session(ws: Workspace, session_id: str, reason: str = "signed out") -> WebSession | None:
    """End a session server-side (sign-out; audited ``session.end``); ``None`` if it was not
    live."""
    try:
        live = resolve_session(ws, session_id)
    except NotAuthenticated:
        return None
    with ws.session() as session:
        session.execute(
            update(WebSessionRow)
            .where(WebSessionRow.session_hash == _hash(session_id))
            .values(ended_at=utcnow(), end_reason=reason)
        )
    _audit(ws, live.actor, "session.end", "ok", {"session": live.ref, "reason": reason})
    return live
