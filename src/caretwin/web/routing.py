"""The route class of every page: errors become HTML pages, pages get their own CSP.

A page router is ``APIRouter(route_class=PageRoute)``. Its routes answer CareTwin's errors
(raised by the access dependency or by the services a page calls) with a page, never with the
API's JSON envelope: no session redirects to ``/signin?next=...``; a denial renders the denied
page (403; the request is audited as denied); a missing run or job 404; a bad form value 400.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

import caretwin.errors as e

__all__ = ["PAGE_CSP", "STATUS", "PageRoute", "page_status", "signin_redirect"]

log = logging.getLogger(__name__)

#: Pages run only the app's own scripts and styles (no inline script or style attribute);
#: frames only the app's own report route, which has its own sandboxing CSP.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

STATUS: dict[type[e.CareTwinError], int] = {
    e.CareTwinError: 500,
    e.ConfigError: 400,
    e.DefinitionError: 422,
    e.ScenarioNotFound: 422,
    e.DataError: 422,
    e.LakeEmpty: 409,
    e.RunNotFound: 404,
    e.JobNotFound: 404,
    e.SavedScenarioNotFound: 404,
    e.AccessDenied: 403,
    e.AuditTampered: 409,
    e.DiskFull: 507,
}


def page_status(exc: e.CareTwinError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":  # after signing in, come back to a page, not a form post
        target = "/"
    return RedirectResponse(f"/signin?next={quote(target, safe='/')}", status_code=303)


class PageRoute(APIRoute):
    """An API route answering errors with pages and carrying :data:`PAGE_CSP`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            from caretwin.web.render import error_page

            try:
                response = await handler(request)
            except e.NotAuthenticated:
                response = signin_redirect(request)
            except e.CareTwinError as exc:
                response = await error_page(request, exc, page_status(exc))
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err.get('loc', ())[1:])}: {err.get('msg', '')}"
                    for err in exc.errors()
                )
                bad = e.ConfigError(f"the form is invalid: {problems}")
                response = await error_page(request, bad, 400)
            if "content-security-policy" not in response.headers:
                response.headers["content-security-policy"] = PAGE_CSP
            if request.url.scheme == "https":  # browsers keep to HTTPS for this site from now on
                response.headers.setdefault("strict-transport-security", "max-age=31536000")
            return response

        return page_handler
