"""Errors as HTTP answers: one status per branch of the exception tree, one JSON envelope.

:data:`STATUS` maps :mod:`caretwin.errors` classes to statuses; an error takes the status of
the nearest class in its MRO, so a new subclass answers like its parent until it is given its
own line. FastAPI's request validation errors and Starlette's own (unknown route, wrong method)
answer with the same envelope, so a client parses one shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import caretwin.errors as e

__all__ = ["STATUS", "envelope", "install_error_handlers", "status_for"]

log = logging.getLogger(__name__)

STATUS: dict[type[e.CareTwinError], int] = {
    e.CareTwinError: 500,
    e.ConfigError: 400,  # a bad parameter or setting in the request
    e.WorkspaceNotFound: 500,  # the server's own workspace: not the client's fault
    e.PluginMismatch: 409,  # the run needs plugins this server lacks
    e.DefinitionError: 422,  # the twin definition sent is invalid (field paths in details)
    e.ScenarioNotFound: 422,
    e.DataError: 422,
    e.LakeEmpty: 409,  # the request is fine; the workspace has no data for it yet
    e.CalibrationError: 422,
    e.SimulationError: 500,
    e.StoreError: 500,
    e.RunNotFound: 404,
    e.JobNotFound: 404,
    e.ScheduleNotFound: 404,
    e.EvidenceNotFound: 404,
    e.SavedScenarioNotFound: 404,
    e.DiskFull: 507,
    e.AccessDenied: 403,
    e.NotAuthenticated: 401,
    e.IdentityProviderError: 502,  # the sign-in provider is down or misconfigured
    e.Cancelled: 409,  # the job the request waited on was cancelled
    e.AuditTampered: 409,  # verify found the trail tampered with: the finding, not a failure
}


def status_for(exc: e.CareTwinError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The envelope of an error that is not one of CareTwin's (validation, routing)."""
    error = e.CareTwinError(message, details=details)
    error.code = code
    return error.envelope()


def error_response(exc: e.CareTwinError) -> JSONResponse:
    status = status_for(exc)
    headers = None
    if status == 401:
        # RFC 6750 §3.1: a token sent and refused is invalid_token; no credentials, no error code.
        invalid = isinstance(exc, e.InvalidToken)
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"' if invalid else "Bearer"}
    return JSONResponse(exc.envelope(), status_code=status, headers=headers)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def install_error_handlers(app: FastAPI) -> None:
    async def caretwin_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, e.CareTwinError)
        return error_response(exc)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            {"path": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        body = envelope("invalid_request", "the request is invalid", {"problems": problems})
        return JSONResponse(body, status_code=422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            envelope(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    app.add_exception_handler(e.CareTwinError, caretwin_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
