"""Sign-in, sign-out, the home page of each role, and the app's static files."""

from __future__ import annotations

import hmac
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from caretwin.access import PERMISSION_MEANING
from caretwin.audit import AuditLog
from caretwin.errors import AccessDenied, NotAuthenticated
from caretwin.services.oidc import oidc_provider
from caretwin.services.sessions import end_session, sign_in
from caretwin.web.deps import (
    SESSION_COOKIE,
    PublicPage,
    SignedInPage,
    client_address,
    workspace_of,
)
from caretwin.web.render import allowed_links, render
from caretwin.web.routing import PageRoute
from caretwin.web.throttle import SignInThrottle

router = APIRouter(route_class=PageRoute)

#: The pre-session CSRF cookie of the sign-in form (double submit: cookie == hidden field).
SIGNIN_COOKIE = "caretwin_signin"
STATIC = Path(__file__).resolve().parents[1] / "static"


def _secure(request: Request) -> bool:
    """Secure cookies under TLS (uvicorn applies a trusted proxy's ``X-Forwarded-Proto``)."""
    return request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never ``//host`` or ``https://host`` (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _throttle(request: Request) -> SignInThrottle:
    state = request.app.state
    throttle: SignInThrottle | None = getattr(state, "signin_throttle", None)
    if throttle is None:
        policy = workspace_of(request).config.security
        throttle = SignInThrottle(policy.signin_throttle_after, policy.signin_throttle_seconds)
        state.signin_throttle = throttle
    return throttle


def _signin_form(
    page: PublicPage, next_page: str, status: int = 200, error: str | None = None
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        page, "signin.html", status, title="Sign in", next_page=next_page, form_token=token,
        error=error, sso=oidc_provider(workspace_of(page.request)),
    )  # fmt: skip
    response.set_cookie(
        SIGNIN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(page.request),
        path="/signin",
    )  # fmt: skip
    return response


@router.get("/signin")
def signin_page(page: PublicPage, next: str | None = None) -> Response:
    """The sign-in form (a signed-in person goes straight on)."""
    if page.session is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _signin_form(page, _safe_next(next))


@router.post("/signin")
async def signin(
    page: PublicPage,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password (lockout applies), throttle repeated failures, open a session."""
    request = page.request
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf_token, expected):
        raise AccessDenied(
            "the sign-in form's security token is missing or stale: reload the page",
            details={"reason": "csrf"},
        )
    ws = workspace_of(request)
    client = client_address(request)
    keys = [f"user:{username}", f"addr:{client}"]
    throttle = _throttle(request)
    wait = throttle.wait_seconds(keys)
    if wait > 0:
        await run_in_threadpool(_audit_throttled, page, username, client)
        response = _signin_form(
            page, _safe_next(next), 429,
            f"Too many failed sign-ins: wait {int(wait) + 1} seconds and try again.",
        )  # fmt: skip
        response.headers["retry-after"] = str(int(wait) + 1)
        return response
    try:
        new = await run_in_threadpool(sign_in, ws, username, password, client)
    except NotAuthenticated as exc:
        throttle.failed(keys)
        message = str(exc) if "locked" in str(exc) or "disabled" in str(exc) else None
        return _signin_form(
            page, _safe_next(next), 401, message or "Invalid user name or password."
        )
    throttle.succeeded(keys[0])
    old = request.cookies.get(SESSION_COOKIE)
    if old:  # a new id at every sign-in: a planted cookie never becomes a live session
        await run_in_threadpool(end_session, ws, old, "replaced")
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, new.session_id, httponly=True, samesite="lax", secure=_secure(request),
        path="/",
    )  # fmt: skip
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


def _audit_throttled(page: PublicPage, username: str, client: str) -> None:
    AuditLog(page.ctx.workspace).record(
        page.ctx.actor, "auth.throttle", username, "denied", {"client": client}
    )


@router.post("/signout")
def signout(page: SignedInPage) -> Response:
    """End the session server-side and forget the cookie."""
    sid = page.request.cookies.get(SESSION_COOKIE, "")
    end_session(page.ctx.workspace, sid, "signed out")
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(page: SignedInPage) -> Response:
    """What the person's roles let them do: the pages they may open, their permissions."""
    links = [link for link in allowed_links(page.request.app.state.nav, page.actor)]
    granted = [
        (perm.value, meaning)
        for perm, meaning in PERMISSION_MEANING.items()
        if page.actor.can(perm)
    ]
    return render(page, "home.html", title="Home", links=links, granted=granted)


@lru_cache(maxsize=1)
def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


_TYPES = {".css": "text/css", ".js": "text/javascript"}


@router.get("/static/{name}")
def static(page: PublicPage, name: str) -> Response:
    """The app's own CSS and JS, and Plotly from the installed ``plotly`` package (no CDN)."""
    path = _plotly_js() if name == "plotly.min.js" else STATIC / name
    if name.startswith(".") or "/" in name or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        path,
        media_type=_TYPES.get(path.suffix, "application/octet-stream"),
        headers={"cache-control": "public, max-age=3600"},
    )
