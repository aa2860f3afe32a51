"""Users of a workspace: add, list, disable, set roles, reset passwords; break-glass.

Every change is an audited operation under ``users.admin``; a role change records the roles
before and after. Passwords reach these functions in clear only to be hashed (argon2id): they
are never stored, audited or returned. The last enabled admin of a shared workspace cannot be
disabled or lose the role (that would lock every operator out but through break-glass).
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
from datetime import datetime, timedelta

from sqlalchemy import select

from caretwin.access import ROLES, Actor, Permission, os_login
from caretwin.errors import AccessDenied, ConfigError
from caretwin.services.context import ServiceContext
from caretwin.services.identity import BREAK_GLASS, hash_password
from caretwin.services.results import ServiceResult
from caretwin.store.identity import BreakGlassGrant, User
from caretwin.store.models import utcnow
from caretwin.workspace import Workspace

__all__ = [
    "BREAK_GLASS_ACTION",
    "BreakGlassInfo",
    "UserInfo",
    "add_user",
    "break_glass",
    "disable_user",
    "enable_user",
    "list_users",
    "reset_password",
    "set_full_name",
    "set_roles",
]

#: The audit action of a break-glass grant (and of a refused attempt).
BREAK_GLASS_ACTION = "security.break_glass"
_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,63}")


class UserInfo(ServiceResult):
    name: str
    full_name: str
    roles: list[str]
    disabled: bool
    has_password: bool
    locked_until: datetime | None
    created_at: datetime
    created_by: str
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserInfo:
        return cls(
            name=user.name,
            full_name=user.full_name,
            roles=sorted(user.roles),
            disabled=user.disabled,
            has_password=user.password_hash is not None,
            locked_until=user.locked_until,
            created_at=user.created_at,
            created_by=user.created_by,
            last_login_at=user.last_login_at,
        )


class BreakGlassInfo(ServiceResult):
    os_user: str
    reason: str
    started_at: datetime
    expires_at: datetime


def _check_roles(roles: list[str]) -> list[str]:
    if not roles:
        raise ConfigError("a user needs at least one role", details={"roles": ROLES})
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ConfigError(
            f"unknown role {', '.join(unknown)} (roles: {', '.join(ROLES)})",
            details={"unknown": unknown},
        )
    return sorted(set(roles))


def _get(session_user: User | None, name: str) -> User:
    if session_user is None:
        raise ConfigError(f"no user {name!r}", details={"user": name})
    return session_user


def add_user(
    ctx: ServiceContext, name: str, full_name: str, roles: list[str], password: str | None = None
) -> UserInfo:
    """Add user ``name`` (the login and, on a shared workspace, the OS user name)."""
    with ctx.operation("users.add", Permission.USERS_ADMIN, target=name) as op:
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"invalid user name {name!r}: lower-case letters, digits, _ . - (max 64)"
            )
        if not full_name.strip():
            raise ConfigError("a user needs a full name (the name signatures carry)")
        checked = _check_roles(roles)
        op.details.update({"roles": checked, "password": password is not None})
        with ctx.workspace.session() as session:
            if session.get(User, name) is not None:
                raise ConfigError(f"user {name!r} already exists", details={"user": name})
            user = User(
                name=name,
                full_name=full_name.strip(),
                roles=checked,
                password_hash=None if password is None else hash_password(password),
                disabled=False,
                failed_logins=0,
                created_at=utcnow(),
                created_by=ctx.actor.name,
            )
            session.add(user)
        return UserInfo.of(user)


def list_users(ctx: ServiceContext) -> list[UserInfo]:
    with ctx.operation("users.list", Permission.USERS_ADMIN, target="users") as op:
        with ctx.workspace.session() as session:
            users = [UserInfo.of(u) for u in session.scalars(select(User).order_by(User.name))]
        op.details["count"] = len(users)
        return users


def _keep_an_admin(ctx: ServiceContext, name: str, roles_after: list[str] | None) -> None:
    """Refuse a change that leaves a shared workspace without an enabled admin."""
    if not ctx.workspace.shared or (roles_after is not None and "admin" in roles_after):
        return
    with ctx.workspace.session() as session:
        admins = session.scalars(select(User).where(User.disabled.is_(False))).all()
        others = [u for u in admins if "admin" in u.roles and u.name != name]
    if not others:
        raise AccessDenied(
            f"{name!r} is the last enabled admin of this shared workspace",
            details={"user": name, "permission": Permission.USERS_ADMIN.value},
        )


def disable_user(ctx: ServiceContext, name: str) -> UserInfo:
    """Disable ``name``: no sign-in, no token, no OS mapping (the row stays, for the trail)."""
    with ctx.operation("users.disable", Permission.USERS_ADMIN, target=name):
        _keep_an_admin(ctx, name, None)
        with ctx.workspace.session() as session:
            user = _get(session.get(User, name), name)
            user.disabled = True
        return UserInfo.of(user)


def enable_user(ctx: ServiceContext, name: str) -> UserInfo:
    """Enable ``name`` again (a lockout is lifted by ``reset_password``, not here)."""
    with ctx.operation("users.enable", Permission.USERS_ADMIN, target=name):
        with ctx.workspace.session() as session:
            user = _get(session.get(User, name), name)
            user.disabled = False
        return UserInfo.of(user)


def set_roles(ctx: ServiceContext, name: str, roles: list[str]) -> UserInfo:
    """Replace the roles of ``name``; the audit event records them before and after."""
    with ctx.operation("users.set_roles", Permission.USERS_ADMIN, target=name) as op:
        checked = _check_roles(roles)
        _keep_an_admin(ctx, name, checked)
        with ctx.workspace.session() as session:
            user = _get(session.get(User, name), name)
            op.details.update({"before": sorted(user.roles), "after": checked})
            user.roles = checked
        return UserInfo.of(user)


def set_full_name(ctx: ServiceContext, name: str, full_name: str) -> UserInfo:
    """Correct the printed name of ``name`` (audited with the name before and after)."""
    with ctx.operation("users.set_full_name", Permission.USERS_ADMIN, target=name) as op:
        if not full_name.strip():
            raise ConfigError("a user needs a full name (the name signatures carry)")
        with ctx.workspace.session() as session:
            user = _get(session.get(User, name), name)
            op.details.update({"before": user.full_name, "after": full_name.strip()})
            user.full_name = full_name.strip()
        return UserInfo.of(user)


def reset_password(ctx: ServiceContext, name: str, password: str) -> UserInfo:
    """Set a new password for ``name`` and lift a lockout."""
    with ctx.operation("users.reset_password", Permission.USERS_ADMIN, target=name):
        with ctx.workspace.session() as session:
            user = _get(session.get(User, name), name)
            user.password_hash = hash_password(password)
            user.failed_logins = 0
            user.locked_until = None
        return UserInfo.of(user)


def break_glass(ws: Workspace, reason: str, minutes: int = 60) -> BreakGlassInfo:
    """Grant the OS user admin on shared workspace ``ws`` for ``minutes`` (emergency access).

    Only the OS account that owns the workspace folder (the service account that created it) or
    root may break the glass: they can already reach the files, so the grant adds no power, it
    makes its use visible. Audited as ``security.break_glass`` with the reason; every command
    under the grant prints a banner and is audited with the actor kind ``break-glass``.
    """
    name = os_login()
    if not ws.shared:
        raise ConfigError("break-glass is for shared workspaces (here the OS user is admin)")
    if not reason.strip():
        raise ConfigError("break-glass needs a reason")
    limit = ws.config.security.break_glass_max_minutes
    if not 1 <= minutes <= limit:
        raise ConfigError(f"break-glass lasts 1 to {limit} minutes, not {minutes}")
    uid = os.getuid()
    allowed = uid in (0, ws.root.stat().st_uid)
    # Refused: the actor holds no role, so the operation below audits the denial and raises.
    roles = frozenset({"admin", BREAK_GLASS}) if allowed else frozenset()
    ctx = ServiceContext(ws, Actor(name=name, roles=roles, kind=BREAK_GLASS))
    if not allowed:
        with (
            suppress(AccessDenied),
            ctx.operation(BREAK_GLASS_ACTION, Permission.WORKSPACE_ADMIN, name),
        ):
            pass  # never entered: the refusal is audited as ``denied``
        raise AccessDenied(
            f"only root or the owner of {ws.root} may break the glass",
            details={"actor": name, "permission": "break-glass"},
        )
    with ctx.operation(BREAK_GLASS_ACTION, Permission.WORKSPACE_ADMIN, target=name) as op:
        now = utcnow()
        grant = BreakGlassGrant(
            os_user=name,
            reason=reason.strip(),
            started_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
        with ws.session() as session:
            session.add(grant)
        op.details.update({"reason": grant.reason, "minutes": minutes, "uid": uid})
        return BreakGlassInfo(
            os_user=name, reason=grant.reason, started_at=now, expires_at=grant.expires_at
        )
