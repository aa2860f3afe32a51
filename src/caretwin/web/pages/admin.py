"""Administration (admins): users (add, disable, enable, roles, password) and API tokens
(create, shown once; list; revoke). Every change is a service operation, audited there."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from caretwin.access import ROLES, Permission
from caretwin.errors import ConfigError
from caretwin.services.tokens import create_token, list_tokens, parse_expiry, revoke_token
from caretwin.services.users import (
    add_user,
    disable_user,
    enable_user,
    list_users,
    reset_password,
    set_roles,
)
from caretwin.web.deps import AdminPage, TokensPage
from caretwin.web.render import render
from caretwin.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)

Text = Annotated[str, Form(max_length=300)]
Roles = Annotated[list[str], Form()]


def _users_page(page: AdminPage, status: int = 200, message: str | None = None) -> Response:
    return render(
        page, "users.html", status, title="Users", users=list_users(page.ctx), roles=ROLES,
        message=message,
    )  # fmt: skip


@router.get("/users")
def users(page: AdminPage) -> Response:
    return _users_page(page)


@router.post("/users")
def user_add(
    page: AdminPage,
    name: Text,
    full_name: Text,
    roles: Roles,
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    added = add_user(page.ctx, name.strip(), full_name, roles, password or None)
    return _users_page(page, 201, f"User {added.name} added.")


def _user_page(page: AdminPage, name: str, message: str | None = None) -> Response:
    found = next((u for u in list_users(page.ctx) if u.name == name), None)
    if found is None:
        raise ConfigError(f"no user {name!r}", details={"user": name})
    return render(page, "user.html", title=f"User {name}", user=found, roles=ROLES, message=message)


@router.get("/users/{name}")
def user(page: AdminPage, name: str) -> Response:
    return _user_page(page, name)


@router.post("/users/{name}/roles")
def user_roles(page: AdminPage, name: str, roles: Roles) -> Response:
    set_roles(page.ctx, name, roles)
    return _user_page(page, name, "Roles saved.")


@router.post("/users/{name}/password")
def user_password(
    page: AdminPage, name: str, password: Annotated[str, Form(min_length=1, max_length=1000)]
) -> Response:
    reset_password(page.ctx, name, password)
    return _user_page(page, name, "Password reset; failed sign-ins and lockout cleared.")


@router.post("/users/{name}/disable")
def user_disable(page: AdminPage, name: str) -> Response:
    disable_user(page.ctx, name)
    return _user_page(page, name, "User disabled: their sessions end at their next request.")


@router.post("/users/{name}/enable")
def user_enable(page: AdminPage, name: str) -> Response:
    enable_user(page.ctx, name)
    return _user_page(page, name, "User enabled.")


def _tokens_page(
    page: TokensPage, status: int = 200, new_token: str | None = None, message: str | None = None
) -> Response:
    users = [u.name for u in list_users(page.ctx)] if page.actor.can(Permission.USERS_ADMIN) else []
    return render(
        page, "tokens.html", status, title="API tokens", tokens=list_tokens(page.ctx),
        users=users, scopes=[p.value for p in Permission], new_token=new_token, message=message,
    )  # fmt: skip


@router.get("/tokens")
def tokens(page: TokensPage) -> Response:
    return _tokens_page(page)


@router.post("/tokens")
def token_create(
    page: TokensPage,
    user: Text,
    expires: Annotated[str, Form(max_length=20)] = "30d",
    scopes: Roles = [],  # noqa: B006  # FastAPI copies form defaults per request
) -> Response:
    made = create_token(page.ctx, user.strip(), parse_expiry(expires.strip()), scopes or None)
    return _tokens_page(page, 201, new_token=made.token, message=f"Token {made.id} created.")


@router.post("/tokens/{token_id}/revoke")
def token_revoke(page: TokensPage, token_id: str) -> Response:
    revoke_token(page.ctx, token_id)
    return RedirectResponse("/tokens", status_code=303)
