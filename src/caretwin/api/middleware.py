"""ASGI middleware of the API: security headers and the audit of every request; body limits.

Written as plain ASGI (not Starlette's ``BaseHTTPMiddleware``) so nothing is buffered but what
must be: a request body is read whole, up to the limit, before the app sees it, so an oversized
body is refused with 413 however it is sent (with or without ``Content-Length``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import anyio.to_thread
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caretwin.access import Actor
from caretwin.api.deps import ANONYMOUS
from caretwin.api.errors import envelope
from caretwin.audit import AuditLog
from caretwin.workspace import Workspace

__all__ = ["API_CSP", "SECURITY_HEADERS", "AuditAndHeaders", "BodyLimit"]

log = logging.getLogger(__name__)

#: JSON answers load nothing, run nothing and may not be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS: dict[str, str] = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    # answers may hold results and audit events: no shared cache keeps them
    "cache-control": "no-store",
}


class Declared(Protocol):
    """A route's declaration (:class:`caretwin.api.app.DeclaredRoute`)."""

    @property
    def path(self) -> str: ...

    @property
    def permission(self) -> str: ...


#: Requests not audited: liveness probes would flood the trail and carry no actor.
UNAUDITED = frozenset({"/api/v1/health"})
#: Nor are the web app's static files (its pages are).
UNAUDITED_PREFIXES = ("/static/",)


class BodyLimit:
    """Refuse a request body over ``max_bytes`` with 413 and the error envelope."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = envelope(
            "request_too_large",
            f"the request body is larger than {self.max_bytes} bytes",
            {"max_bytes": self.max_bytes},
        )
        await JSONResponse(body, status_code=413)(scope, receive, send)


class AuditAndHeaders:
    """Add :data:`SECURITY_HEADERS` (and :data:`API_CSP` unless the route set its own CSP) to
    every answer, and audit every request: actor, route, outcome, status (never a header, so
    never the token). An unexpected exception becomes a 500 with the envelope, not a trace."""

    def __init__(self, app: ASGIApp, workspace: Workspace, routes: Mapping[int, Declared]) -> None:
        self.app = app
        self.workspace = workspace
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = False
        path = str(scope.get("path", ""))
        audited = path in UNAUDITED or path.startswith(UNAUDITED_PREFIXES)

        async def audit() -> None:
            nonlocal audited
            if not audited:
                audited = True
                await anyio.to_thread.run_sync(self._audit, scope, status)

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in names:
                        headers.append((name.encode(), value.encode()))
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", API_CSP.encode()))
                message = {**message, "headers": headers}
                # audited before answered: a client that reads the trail next finds this request
                await audit()
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                body = envelope("internal_error", "internal server error")
                await JSONResponse(body, status_code=500)(scope, receive, send_with_headers)
        finally:
            await audit()  # no answer sent (the client went away): audited all the same

    def _audit(self, scope: Scope, status: int) -> None:
        state: Any = scope.get("state", {})
        actor: Actor = state.get("actor", ANONYMOUS) if isinstance(state, dict) else ANONYMOUS
        declared = self.routes.get(id(scope.get("route")))
        template = declared.path if declared is not None else scope.get("path", "?")
        outcome = "ok" if status < 400 else "denied" if status in (401, 403) else "error"
        details: dict[str, Any] = {"status": status, "path": scope.get("path")}
        if declared is not None:
            details["permission"] = declared.permission
        # a web page's request reads as such in the trail
        action = "api.request" if str(scope.get("path", "")).startswith("/api/") else "web.request"
        try:
            AuditLog(self.workspace).record(
                actor, action, f"{scope.get('method')} {template}", outcome, details
            )
        except Exception:  # the answer is sent: an audit failure is logged, never hidden
            log.exception("could not audit %s %s", scope.get("method"), template)
