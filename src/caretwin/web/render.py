"""Rendering pages: one Jinja2 environment, the layout's header and navigation per person.

Templates live in ``caretwin/web/templates`` (a plugin adds its own folder with
:func:`add_template_folder`) and extend ``base.html``. Autoescaping is on; templates carry no
inline script or style (the page CSP forbids them): behaviour is in ``/static/app.js``, looks
in ``/static/app.css``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    select_autoescape,
)
from starlette.concurrency import run_in_threadpool

from caretwin.access import Actor, Permission
from caretwin.errors import AccessDenied, CareTwinError, NotAuthenticated
from caretwin.plugins.specs import NavLink
from caretwin.services.sessions import WebSession, resolve_session
from caretwin.version import __version__
from caretwin.web.deps import CSRF_FIELD, SESSION_COOKIE, SIGNED_IN, Page, workspace_of

__all__ = ["add_template_folder", "allowed_links", "environment", "error_page", "render"]

_extra_folders: list[Path] = []


def add_template_folder(folder: Path) -> None:
    """Let a plugin's templates (which may extend ``base.html``) be found by name."""
    if folder not in _extra_folders:
        _extra_folders.append(folder)
        environment.cache_clear()


@functools.cache
def environment() -> Environment:
    loaders: list[BaseLoader] = [PackageLoader("caretwin.web", "templates")]
    loaders += [FileSystemLoader(str(f)) for f in _extra_folders]
    env = Environment(
        loader=ChoiceLoader(loaders), autoescape=select_autoescape(default=True), auto_reload=False
    )
    env.globals["version"] = __version__
    env.globals["csrf_field_name"] = CSRF_FIELD
    return env


def allowed_links(links: Sequence[NavLink], actor: Actor) -> list[NavLink]:
    """The registered pages ``actor`` may open, in navigation order."""
    out = []
    for link in links:
        if link.permission == SIGNED_IN or actor.can(Permission(link.permission)):
            out.append(link)
    return sorted(out, key=lambda link: (link.order, link.title))


def _html(
    request: Request,
    session: WebSession | None,
    template: str,
    status: int,
    context: dict[str, Any],
) -> HTMLResponse:
    links: list[NavLink] = list(getattr(request.app.state, "nav", []))
    nav = allowed_links(links, session.actor) if session is not None else []
    text = (
        environment()
        .get_template(template)
        .render(
            session=session,
            csrf_token=session.csrf_token if session is not None else None,
            nav=[link for link in nav if link.path != "/"],
            current=request.url.path,
            **context,
        )
    )
    return HTMLResponse(text, status_code=status)


def render(page: Page, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered for the person behind ``page``."""
    return _html(page.request, page.session, template, status, context)


async def error_page(request: Request, exc: CareTwinError, status: int) -> HTMLResponse:
    """The page of an error: the denied page for a refusal, the error page otherwise."""
    session = None
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        try:
            session = await run_in_threadpool(resolve_session, workspace_of(request), sid)
        except NotAuthenticated:
            session = None
    if isinstance(exc, AccessDenied):
        csrf = exc.details.get("reason") == "csrf"
        return _html(
            request,
            session,
            "denied.html",
            status,
            {
                "title": "Not allowed",
                "message": str(exc),
                "csrf": csrf,
                "permission": exc.details.get("permission"),
            },
        )
    return _html(
        request, session, "error.html", status,
        {"title": "Something went wrong" if status >= 500 else "Cannot do that",
         "message": str(exc) if status < 500 else "internal error: the server log has the cause",
         "status": status},
    )  # fmt: skip
