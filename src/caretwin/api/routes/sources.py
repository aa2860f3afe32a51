"""Data sources (add, change, remove) and the pulls on record.

A source added through the API authenticates with nothing (``auth: none``): a bearer or SMART
source names a secret *on the server* (an environment variable, a file), and a request naming
one would have the server send that secret to whatever URL the request gives. Sources with
credentials are added by an operator on the server, ``caretwin sources add fhir``. Running a
pull is a background job (``POST /api/v1/pulls``, the jobs routes).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from caretwin.api.deps import DataRead, SourcesManage
from caretwin.api.pagination import Cursor, Limit, decode_cursor, page
from caretwin.errors import ConfigError
from caretwin.services import sources as svc
from caretwin.services.pulls import list_pulls, show_pull

router = APIRouter(tags=["sources"])


class SourceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # no auth: see the module docstring

    name: str = Field(description="letters, digits, '_', '.', '-'")
    base_url: str = Field(description="the FHIR R4 server's base URL")
    page_size: int = Field(default=500, ge=1, le=10_000)
    timeout: float = Field(default=30.0, gt=0, le=600)
    max_retries: int = Field(default=5, ge=0, le=50)
    reconcile_deletes: bool = False


class BaseUrlRequest(BaseModel):
    base_url: str


@router.post("/sources", status_code=201)
def add_source(body: SourceRequest, ctx: SourcesManage) -> JSONResponse:
    """Add a FHIR R4 server without authentication as a source (``sources add fhir``)."""
    from caretwin.connectors import SourceConfig

    try:
        config = SourceConfig.model_validate(body.model_dump())
    except ValidationError as exc:
        msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(f"invalid source: {msgs}") from None
    return JSONResponse(svc.add_source(ctx, config).to_dict(), status_code=201)


@router.patch("/sources/{name}")
def set_base_url(name: str, body: BaseUrlRequest, ctx: SourcesManage) -> JSONResponse:
    """Point a source at another base URL, keeping its watermarks (``sources set-url``)."""
    try:
        return JSONResponse(svc.set_base_url(ctx, name, body.base_url).to_dict())
    except ValidationError as exc:
        msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(f"invalid source: {msgs}") from None


@router.delete("/sources/{name}")
def remove_source(name: str, ctx: SourcesManage) -> JSONResponse:
    """Forget a source and its watermarks; its pulls stay on record (``sources remove``)."""
    return JSONResponse(svc.remove_source(ctx, name).to_dict())


@router.get("/pulls")
def pulls(
    ctx: DataRead, cursor: Cursor = None, limit: Limit = 50, source: str | None = None
) -> JSONResponse:
    """Pulls of every source, newest first (``source`` filters)."""
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, str):
        raise ConfigError("invalid cursor: pass next_cursor from the previous page")
    found = list_pulls(ctx, source=source, limit=limit + 1, after=after)
    return JSONResponse(page(found, limit, key=lambda p: p.pull_id))


@router.get("/pulls/{pull_id}")
def pull(pull_id: str, ctx: DataRead) -> JSONResponse:
    """One pull: mode, status, counts per type, transfer statistics, its snapshot."""
    return JSONResponse(show_pull(ctx, pull_id).to_dict())
