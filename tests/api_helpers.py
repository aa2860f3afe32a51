"""Helpers of the API tests: an app on a workspace, users with tokens per role."""

from __future__ import annotations

from typing import Any

from caretwin.access import Actor
from caretwin.services.context import ServiceContext
from caretwin.services.tokens import create_token
from caretwin.services.users import add_user
from caretwin.workspace import Workspace

ADMIN = Actor(name="root-admin", roles=frozenset({"admin"}))


def token_for(ws: Workspace, role: str, name: str | None = None) -> str:
    """A fresh user with ``role`` and an API token of theirs."""
    ctx = ServiceContext(ws, ADMIN)
    user = name or f"u-{role}"
    add_user(ctx, user, f"User {role}", [role])
    return create_token(ctx, user).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client(ws: Workspace, **settings: Any) -> Any:
    """A TestClient (httpx) on the API of ``ws``; no job worker (tests run jobs in step)."""
    from fastapi.testclient import TestClient

    from caretwin.api.app import ApiSettings, create_app

    return TestClient(create_app(ws, ApiSettings(**settings)), raise_server_exceptions=False)
