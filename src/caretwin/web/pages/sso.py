"""Single sign-on through the workspace's OpenID Connect provider (docs/security.md).

``/signin/oidc`` starts the authorization-code flow (state, nonce and PKCE kept server-side in
:class:`~caretwin.services.oidc.PendingSignIns`; the browser holds only a binding value in an
HttpOnly cookie) and sends the browser to the provider; ``/signin/oidc/callback`` finishes it
(:func:`~caretwin.services.oidc.finish_oidc_sign_in`) and opens a web session like the password
form does. A refused callback (denied at the provider, a replayed or foreign state, a token
that does not validate) renders the sign-in failure page, never a session.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from caretwin.errors import AccessDenied, ConfigError, IdentityProviderError, NotAuthenticated
from caretwin.services.oidc import (
    PendingSignIns,
    begin_oidc_sign_in,
    finish_oidc_sign_in,
    oidc_provider,
)
from caretwin.services.sessions import create_session, end_session
from caretwin.web.deps import SESSION_COOKIE, PublicPage, client_address, workspace_of
from caretwin.web.render import render
from caretwin.web.routing import PageRoute

__all__ = ["BINDING_COOKIE", "router"]

router = APIRouter(route_class=PageRoute)

#: The browser's half of a sign-in in progress (the server holds state, nonce and verifier).
BINDING_COOKIE = "caretwin_oidc"
_CALLBACK = "/signin/oidc/callback"


def _pending(request: Request) -> PendingSignIns:
    state = request.app.state
    pending: PendingSignIns | None = getattr(state, "oidc_pending", None)
    if pending is None:
        pending = state.oidc_pending = PendingSignIns()
    return pending


def _redirect_uri(request: Request) -> str:
    """The callback URL registered at the provider: configured, or this site's own."""
    settings = workspace_of(request).config.auth.oidc
    if settings is not None and settings.redirect_uri:
        return settings.redirect_uri
    return str(request.base_url).rstrip("/") + _CALLBACK


def _failed(page: PublicPage, message: str, status: int) -> Response:
    response = render(page, "signin_failed.html", status, title="Sign-in failed", message=message)
    response.delete_cookie(BINDING_COOKIE, path="/signin/oidc")
    return response


@router.get("/signin/oidc")
async def oidc_start(page: PublicPage, next: str | None = None) -> Response:
    """Send the browser to the identity provider."""
    ws = workspace_of(page.request)
    if oidc_provider(ws) is None:
        raise ConfigError("single sign-on is not configured on this server")
    try:
        start = await run_in_threadpool(
            begin_oidc_sign_in, ws, _pending(page.request), _redirect_uri(page.request), next
        )
    except IdentityProviderError as exc:
        return _failed(page, f"The sign-in service cannot be reached: {exc}", 502)
    response = RedirectResponse(start.url, status_code=303)
    response.set_cookie(
        BINDING_COOKIE, start.binding, max_age=int(_pending(page.request).ttl_seconds),
        httponly=True, secure=page.request.url.scheme == "https", path="/signin/oidc",
        # Lax, not Strict: the callback is a top-level navigation coming from the provider.
        samesite="lax",
    )  # fmt: skip
    return response


@router.get(_CALLBACK)
async def oidc_callback(
    page: PublicPage,
    state: str | None = None,
    code: str | None = None,
    error: str | None = None,
) -> Response:
    """Check the callback, open a session, and go where the person was going."""
    request = page.request
    ws = workspace_of(request)
    if oidc_provider(ws) is None:
        raise ConfigError("single sign-on is not configured on this server")
    try:
        done = await run_in_threadpool(
            lambda: finish_oidc_sign_in(
                ws, _pending(request), state=state, code=code, error=error,
                binding=request.cookies.get(BINDING_COOKIE),
            )
        )  # fmt: skip
    except IdentityProviderError as exc:
        return _failed(page, f"The sign-in service answered something unusable: {exc}", 502)
    except NotAuthenticated as exc:
        return _failed(page, str(exc), 401)
    except AccessDenied as exc:
        return _failed(page, str(exc), 403)
    client = client_address(request)
    full_name = done.full_name or done.actor.name
    new = await run_in_threadpool(create_session, ws, done.actor, full_name, "oidc", client)
    old = request.cookies.get(SESSION_COOKIE)
    if old:  # a new id at every sign-in: a planted cookie never becomes a live session
        await run_in_threadpool(end_session, ws, old, "replaced")
    response = RedirectResponse(done.next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, new.session_id, httponly=True, samesite="lax",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    response.delete_cookie(BINDING_COOKIE, path="/signin/oidc")
    return response
