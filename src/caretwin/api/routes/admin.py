"""Users, roles and API tokens (``caretwin users``, ``caretwin tokens``): administrators only.

A new token is in the answer of ``POST /api/v1/tokens`` and nowhere else, ever (stored as a
hash). Passwords travel in request bodies (send them over TLS) and are never echoed or audited.
Break-glass stays an operator's procedure on the server (``caretwin users break-glass``): it is
the way in when no administrator can sign in, which an API behind sign-in cannot be.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from caretwin.access import PERMISSION_MEANING, ROLE_PERMISSIONS
from caretwin.api.deps import TokensManage, UsersAdmin
from caretwin.services import tokens as tok
from caretwin.services import users as usr

router = APIRouter(tags=["admin"])


class NewUser(BaseModel):
    name: str = Field(max_length=64)
    full_name: str = Field(max_length=200, description="the printed name signatures carry")
    roles: list[str] = Field(min_length=1, max_length=20)
    password: str | None = Field(default=None, min_length=1, max_length=1000)


class Roles(BaseModel):
    roles: list[str] = Field(min_length=1, max_length=20)


class FullName(BaseModel):
    full_name: str = Field(max_length=200)


class Password(BaseModel):
    password: str = Field(min_length=1, max_length=1000)


class NewToken(BaseModel):
    user: str
    expires: str | None = Field(default="30d", description="30d, 12h, 90m; null: never")
    scopes: list[str] = Field(default_factory=list, description="permissions the token keeps")


def _items(found: list[usr.UserInfo] | list[tok.TokenInfo]) -> JSONResponse:
    return JSONResponse({"items": [x.to_dict() for x in found], "next_cursor": None})


@router.get("/users")
def users(ctx: UsersAdmin) -> JSONResponse:
    """Every user with full name, roles, state (whole list: users are few)."""
    return _items(usr.list_users(ctx))


@router.post("/users", status_code=201)
def add_user(body: NewUser, ctx: UsersAdmin) -> JSONResponse:
    """Add a user (``users add``)."""
    found = usr.add_user(ctx, body.name, body.full_name, body.roles, body.password)
    return JSONResponse(found.to_dict(), status_code=201)


@router.post("/users/{name}/disable")
def disable_user(name: str, ctx: UsersAdmin) -> JSONResponse:
    """No sign-in, no token: the user stays on record (``users disable``)."""
    return JSONResponse(usr.disable_user(ctx, name).to_dict())


@router.post("/users/{name}/enable")
def enable_user(name: str, ctx: UsersAdmin) -> JSONResponse:
    return JSONResponse(usr.enable_user(ctx, name).to_dict())


@router.put("/users/{name}/roles")
def set_roles(name: str, body: Roles, ctx: UsersAdmin) -> JSONResponse:
    """Replace the user's roles (audited before and after)."""
    return JSONResponse(usr.set_roles(ctx, name, body.roles).to_dict())


@router.put("/users/{name}/full-name")
def set_full_name(name: str, body: FullName, ctx: UsersAdmin) -> JSONResponse:
    return JSONResponse(usr.set_full_name(ctx, name, body.full_name).to_dict())


@router.put("/users/{name}/password")
def reset_password(name: str, body: Password, ctx: UsersAdmin) -> JSONResponse:
    """Set a new password and lift a lockout (``users reset-password``)."""
    return JSONResponse(usr.reset_password(ctx, name, body.password).to_dict())


@router.get("/roles")
def roles(ctx: UsersAdmin) -> JSONResponse:
    """The policy: each role and its permissions (a constant: no service to call)."""
    return JSONResponse(
        {
            "items": [
                {"name": role, "permissions": sorted(p.value for p in granted)}
                for role, granted in ROLE_PERMISSIONS.items()
            ],
            "permissions": {p.value: meaning for p, meaning in PERMISSION_MEANING.items()},
            "next_cursor": None,
        }
    )


@router.get("/tokens")
def tokens(ctx: TokensManage, user: str | None = None) -> JSONResponse:
    """Tokens (never the tokens themselves: id, prefix, owner, scopes, dates)."""
    return _items(tok.list_tokens(ctx, user))


@router.post("/tokens", status_code=201)
def create_token(body: NewToken, ctx: TokensManage) -> JSONResponse:
    """A new token of ``user``: ``token`` in this answer is the only time it is shown."""
    expires = None if body.expires is None else tok.parse_expiry(body.expires)
    created = tok.create_token(ctx, body.user, expires, body.scopes)
    return JSONResponse(created.to_dict(), status_code=201)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: str, ctx: TokensManage) -> JSONResponse:
    return JSONResponse(tok.revoke_token(ctx, token_id).to_dict())
