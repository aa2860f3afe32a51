"""Who is acting: passwords, API tokens, OS users of a shared workspace, idle sessions.

These functions decide *who* an actor is; :func:`caretwin.access.require` (through
``ctx.operation``) decides what that actor may do. Failures are audited (never the password or
the token itself) and raise :class:`~caretwin.errors.NotAuthenticated`, the API's 401.

* Passwords are argon2id hashes (``argon2-cffi``). After ``security.lockout_after`` failures in
  a row an account is locked for ``security.lockout_minutes``; a success resets the count.
* API tokens are ``ct_`` + 32 random bytes; only their SHA-256 is stored, so the database alone
  cannot be replayed. A token may be scoped to some of its user's permissions.
* On a shared workspace the CLI's OS user (from the process's uid, never ``$USER``) must be an
  enabled user of the table, unless a break-glass grant for that OS user is active.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from caretwin.access import Actor, Permission, os_login
from caretwin.audit import AuditLog
from caretwin.errors import ConfigError, InvalidToken, NotAuthenticated
from caretwin.store.identity import ApiToken, BreakGlassGrant, User
from caretwin.store.models import utcnow
from caretwin.workspace import Workspace
from caretwin.workspace.config import SecurityPolicy

__all__ = [
    "BREAK_GLASS",
    "PASSWORD_HASHER",
    "TOKEN_PREFIX",
    "authenticate_password",
    "authenticate_token",
    "cli_actor",
    "hash_password",
    "hash_token",
    "new_token",
    "read_password_file",
    "session_expired",
]

TOKEN_PREFIX = "ct_"
#: The actor kind of an OS user acting under a break-glass grant, and a marker among its roles
#: (a name no user can be given, granting nothing itself) so every audit event shows it.
BREAK_GLASS = "break-glass"

log = logging.getLogger(__name__)

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): the library's default
# (64 MiB, 4 lanes) takes half a second a sign-in on a small shared server. A hash made with
# other parameters is re-made at the next successful sign-in (``check_needs_rehash``).
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_BAD_LOGIN = "invalid user name or password"
_LAST_USED_EVERY = timedelta(minutes=1)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so an unknown name costs as much as a
    wrong password and timing does not tell which names exist (made once, on first need)."""
    return PASSWORD_HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash stored for ``password``; refuses an empty one."""
    if not password:
        raise ConfigError("a password must not be empty")
    return PASSWORD_HASHER.hash(password)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh API token: shown once to its creator, stored only as :func:`hash_token`."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def read_password_file(path: Path) -> str:
    """The password in ``path``: its first line without the line ending."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the password file {path}: {exc.strerror}") from exc
    lines = text.splitlines()
    password = lines[0] if lines else ""
    if not password:
        raise ConfigError(f"the password file {path} is empty")
    return password


def _audit_failure(ws: Workspace, name: str, action: str, target: str, reason: str) -> None:
    """Audit a refusal; an audit failure (say, a read-only database) never hides the refusal."""
    try:
        AuditLog(ws).record(
            Actor(name=name, roles=frozenset(), kind="anonymous"),
            action,
            target,
            "denied",
            {"reason": reason},
        )
    except Exception:
        log.exception("could not audit the refused %s of %s", action, name)


def authenticate_password(ws: Workspace, name: str, password: str) -> Actor:
    """The user ``name`` if ``password`` is theirs and the account is enabled and not locked.

    Every failure is audited (``auth.password``, ``denied``); the failure that locks the
    account is audited as ``auth.lockout``; a success as ``auth.password`` ``ok``.
    """
    policy = ws.config.security
    now = utcnow()
    with ws.session() as session:
        user = session.get(User, name)
        if user is None or user.password_hash is None:
            _verify(_dummy_hash(), password)
            reason = "unknown user" if user is None else "no password set"
            outcome: tuple[str, str] | None = (reason, _BAD_LOGIN)
        elif user.disabled:
            outcome = ("disabled", f"user {name!r} is disabled")
        elif user.locked_until is not None and user.locked_until > now:
            until = user.locked_until.strftime("%Y-%m-%d %H:%M UTC")
            outcome = ("locked", f"user {name!r} is locked after failed sign-ins until {until}")
        elif not _verify(user.password_hash, password):
            user.failed_logins += 1
            outcome = ("wrong password", _BAD_LOGIN)
            if user.failed_logins >= policy.lockout_after:
                user.locked_until = now + timedelta(minutes=policy.lockout_minutes)
                user.failed_logins = 0
                outcome = ("wrong password; locked", _BAD_LOGIN)
        else:
            outcome = None
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = now
            if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
                user.password_hash = PASSWORD_HASHER.hash(password)
            actor = Actor(name=user.name, roles=frozenset(user.roles))
    if outcome is not None:
        reason, message = outcome
        _audit_failure(ws, name, "auth.password", name, reason)
        if reason == "wrong password; locked":  # this failure locked the account
            _audit_failure(ws, name, "auth.lockout", name, f"{policy.lockout_after} failures")
        raise NotAuthenticated(message, details={"user": name})
    AuditLog(ws).record(actor, "auth.password", name, "ok", {})
    return actor


def _verify(password_hash: str, password: str) -> bool:
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate_token(ws: Workspace, token: str) -> Actor:
    """The actor an API token (``Authorization: Bearer``) stands for, limited to its scopes.

    Refused (audited ``auth.token`` ``denied``): unknown, revoked or expired tokens and tokens of
    disabled users. A success records the token's ``last_used_at`` (to the minute; the server audits
    every request).
    """
    now = utcnow()
    digest = hash_token(token.strip())
    with ws.session() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        user = None if row is None else session.get(User, row.user_name)
        reason = None
        if row is None or user is None:
            reason = "unknown token"
        elif row.revoked_at is not None:
            reason = "revoked"
        elif row.expires_at is not None and row.expires_at <= now:
            reason = "expired"
        elif user.disabled:
            reason = "user disabled"
        else:
            # At most once a minute: a write per API request would serialise every request on
            # the database for a figure `tokens list` shows to the minute.
            if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_EVERY:
                row.last_used_at = now
            scopes = frozenset(Permission(s) for s in row.scopes) if row.scopes else None
            actor = Actor(name=user.name, roles=frozenset(user.roles), kind="token", scopes=scopes)
        target = "token" if row is None else row.token_id
        who = "anonymous" if row is None else row.user_name
    if reason is not None:
        _audit_failure(ws, who, "auth.token", target, reason)
        raise InvalidToken(
            f"API token refused: {reason}", details={"token": target, "reason": reason}
        )
    return actor


def cli_actor(ws: Workspace) -> Actor:
    """Who the command line acts as on ``ws``.

    A workspace the OS user created: that OS user with the ``admin`` role, as always. A shared
    workspace: the OS user's row in the user table (refused when absent or disabled), or admin
    under an active break-glass grant for that OS user.
    """
    if not ws.shared:
        return Actor.os_user()
    name = os_login()
    now = utcnow()
    with ws.session() as session:
        grant = session.scalars(
            select(BreakGlassGrant)
            .where(BreakGlassGrant.os_user == name, BreakGlassGrant.expires_at > now)
            .order_by(BreakGlassGrant.expires_at.desc())
        ).first()
        user = session.get(User, name)
        roles = None if user is None or user.disabled else frozenset(user.roles)
    if grant is not None:
        marked = (roles or frozenset()) | {"admin", BREAK_GLASS}
        return Actor(name=name, roles=marked, kind=BREAK_GLASS)
    if roles is None:
        reason = "unknown OS user" if user is None else "disabled"
        _audit_failure(ws, name, "auth.os_user", name, reason)
        raise NotAuthenticated(
            f"OS user {name!r} is not an enabled user of the shared workspace {ws.root} "
            f"(an admin adds one with: caretwin users add {name} ...)",
            details={"user": name, "reason": reason},
        )
    return Actor(name=name, roles=roles)


def session_expired(
    policy: SecurityPolicy, last_activity: datetime, now: datetime | None = None
) -> bool:
    """Whether a session idle since ``last_activity`` is to be logged off (idle session
    logoff: the server calls this on every request before refreshing the activity time)."""
    now = now or utcnow()
    return now - last_activity >= timedelta(minutes=policy.session_idle_minutes)
