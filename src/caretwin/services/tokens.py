"""API tokens: create (shown once), list, revoke. Stored only as SHA-256 hashes.

A token acts as its user (sent as ``Authorization: Bearer``; checked by
:func:`caretwin.services.identity.authenticate_token`), limited to ``scopes`` when given. It
expires (30 days unless told otherwise, at most a year) and can be revoked; creation and
revocation are audited with the token's id, never the token.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from caretwin.access import Permission
from caretwin.errors import ConfigError
from caretwin.services.context import ServiceContext
from caretwin.services.identity import hash_token, new_token
from caretwin.services.results import ServiceResult
from caretwin.store.identity import ApiToken, User
from caretwin.store.models import utcnow

__all__ = [
    "DEFAULT_EXPIRY",
    "NewToken",
    "TokenInfo",
    "create_token",
    "list_tokens",
    "parse_expiry",
    "revoke_token",
]

DEFAULT_EXPIRY = timedelta(days=30)
_MAX_EXPIRY = timedelta(days=366)
_DURATION = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class NewToken(ServiceResult):
    """A token just created: the only time ``token`` is ever shown."""

    token: str
    id: str
    expires: datetime | None


class TokenInfo(ServiceResult):
    id: str
    user: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenInfo:
        return cls(
            id=row.token_id,
            user=row.user_name,
            prefix=row.prefix,
            scopes=list(row.scopes),
            created_at=row.created_at,
            created_by=row.created_by,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )


def parse_expiry(text: str) -> timedelta:
    """``30d``, ``12h`` or ``90m`` as a duration (at most 366 days)."""
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"invalid expiry {text!r}: give e.g. 30d, 12h or 90m")
    delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if delta > _MAX_EXPIRY:
        raise ConfigError(f"a token expires within 366 days, not {text}")
    return delta


def create_token(
    ctx: ServiceContext,
    user: str,
    expires_in: timedelta | None = DEFAULT_EXPIRY,
    scopes: list[str] | None = None,
) -> NewToken:
    """A new token of ``user``; ``scopes`` are permission names (``sim.run``, ``runs.read``)."""
    with ctx.operation("tokens.create", Permission.TOKENS_MANAGE, target=user) as op:
        valid = {p.value for p in Permission}
        wanted = sorted(set(scopes or []))
        unknown = [s for s in wanted if s not in valid]
        if unknown:
            raise ConfigError(
                f"unknown scope {', '.join(unknown)} (scopes are permissions: "
                f"{', '.join(sorted(valid))})"
            )
        token = new_token()
        now = utcnow()
        row = ApiToken(
            token_id="tok_" + secrets.token_hex(6),
            user_name=user,
            token_hash=hash_token(token),
            prefix=token[:8],
            scopes=wanted,
            created_at=now,
            created_by=ctx.actor.name,
            expires_at=None if expires_in is None else now + expires_in,
        )
        with ctx.workspace.session() as session:
            owner = session.get(User, user)
            if owner is None or owner.disabled:
                raise ConfigError(f"no enabled user {user!r}", details={"user": user})
            session.add(row)
        op.details.update({"token_id": row.token_id, "scopes": wanted})
        op.details["expires"] = None if row.expires_at is None else row.expires_at.isoformat()
        return NewToken(token=token, id=row.token_id, expires=row.expires_at)


def list_tokens(ctx: ServiceContext, user: str | None = None) -> list[TokenInfo]:
    with ctx.operation("tokens.list", Permission.TOKENS_MANAGE, target=user or "*") as op:
        stmt = select(ApiToken).order_by(ApiToken.created_at)
        if user is not None:
            stmt = stmt.where(ApiToken.user_name == user)
        with ctx.workspace.session() as session:
            found = [TokenInfo.of(r) for r in session.scalars(stmt)]
        op.details["count"] = len(found)
        return found


def revoke_token(ctx: ServiceContext, token_id: str) -> TokenInfo:
    """Revoke a token by its id; revoking a revoked token keeps its first revocation time."""
    with ctx.operation("tokens.revoke", Permission.TOKENS_MANAGE, target=token_id):
        with ctx.workspace.session() as session:
            row = session.get(ApiToken, token_id)
            if row is None:
                raise ConfigError(f"no token {token_id!r}", details={"token": token_id})
            if row.revoked_at is None:
                row.revoked_at = utcnow()
        return TokenInfo.of(row)
