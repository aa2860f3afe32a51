"""Who is browsing, and may they: every page declares its permission through these dependencies.

A page takes its :class:`Page` as ``page: AuditPage`` (an alias of
``Annotated[Page, Depends(PageAccess(Permission.AUDIT_READ))]``), :data:`SignedInPage` (any
signed-in person) or :data:`PublicPage`. The dependency resolves the session cookie
(:func:`caretwin.services.sessions.resolve_session`: idle logoff, absolute expiry), checks the
CSRF token of every POST form against the session's, and checks the page's permission before
the page runs. No session: :class:`~caretwin.errors.NotAuthenticated`, which the page routes
(:mod:`caretwin.web.routing`) answer with a redirect to the sign-in page; not permitted:
:class:`~caretwin.errors.AccessDenied`, answered with the denied page (403, audited).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from caretwin.access import Actor, Permission, require
from caretwin.errors import AccessDenied, NotAuthenticated
from caretwin.services.context import ServiceContext
from caretwin.services.sessions import WebSession, resolve_session
from caretwin.workspace import Workspace

__all__ = [
    "ANONYMOUS",
    "CSRF_FIELD",
    "PUBLIC",
    "SESSION_COOKIE",
    "SIGNED_IN",
    "AdminPage",
    "AuditPage",
    "DataPage",
    "IngestPage",
    "Page",
    "PageAccess",
    "PublicPage",
    "RunsPage",
    "SignedInPage",
    "SimulatePage",
    "TokensPage",
    "check_csrf",
    "client_address",
    "workspace_of",
]

SESSION_COOKIE = "caretwin_session"
CSRF_FIELD = "csrf_token"
#: The declaration of a page anyone may open (sign-in, static files).
PUBLIC = "public"
#: The declaration of a page any signed-in person may open (home, sign-out).
SIGNED_IN = "signed-in"
ANONYMOUS = Actor(name="anonymous", roles=frozenset(), kind="anonymous")


@dataclass(frozen=True)
class Page:
    """What a page handler gets: the request, the service context to call services with, and
    the session (``None`` on a public page opened without one)."""

    request: Request
    ctx: ServiceContext
    session: WebSession | None

    @property
    def actor(self) -> Actor:
        return self.ctx.actor


def workspace_of(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def client_address(request: Request) -> str:
    """The client's address (a trusted proxy's ``X-Forwarded-For`` applied by uvicorn)."""
    return request.client.host if request.client is not None else "?"


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse a POST whose form's ``csrf_token`` is not ``expected`` (403, audited)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise AccessDenied(
            "the form's security token is missing or stale: reload the page and try again",
            details={"reason": "csrf"},
        )


class PageAccess:
    """The dependency of a page needing ``permission`` (:data:`SIGNED_IN`, or ``None``: public)."""

    def __init__(self, permission: Permission | str | None) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> Page:
        ws = workspace_of(request)
        sid = request.cookies.get(SESSION_COOKIE)
        if self.permission is None:
            session = None
            if sid:
                try:
                    session = await run_in_threadpool(resolve_session, ws, sid)
                except NotAuthenticated:
                    session = None
            actor = session.actor if session is not None else ANONYMOUS
            return Page(request, ServiceContext(ws, actor), session)
        if not sid:
            raise NotAuthenticated("not signed in", details={"reason": "no session"})
        session = await run_in_threadpool(resolve_session, ws, sid)
        actor = session.actor
        request.state.actor = actor  # the request's audit event names who it was
        if request.method == "POST":
            await check_csrf(request, session.csrf_token)
        if self.permission != SIGNED_IN:
            require(actor, Permission(self.permission))
        return Page(request, ServiceContext(ws, actor), session)

    @property
    def declared(self) -> str:
        if self.permission is None:
            return PUBLIC
        return str(self.permission)  # a Permission is a StrEnum: str() is its value


PublicPage = Annotated[Page, Depends(PageAccess(None))]
SignedInPage = Annotated[Page, Depends(PageAccess(SIGNED_IN))]
RunsPage = Annotated[Page, Depends(PageAccess(Permission.RUNS_READ))]
SimulatePage = Annotated[Page, Depends(PageAccess(Permission.SIMULATE))]
AuditPage = Annotated[Page, Depends(PageAccess(Permission.AUDIT_READ))]
AdminPage = Annotated[Page, Depends(PageAccess(Permission.USERS_ADMIN))]
TokensPage = Annotated[Page, Depends(PageAccess(Permission.TOKENS_MANAGE))]
DataPage = Annotated[Page, Depends(PageAccess(Permission.DATA_READ))]
IngestPage = Annotated[Page, Depends(PageAccess(Permission.INGEST))]
