"""The lake's quarantine (list, retry), snapshot quality, view runs and HL7 parsing.

Every read here needs ``data.read`` and its service audits it as a read of patient-level data
(``patient_data`` in the event, with the view, table or snapshot and the row count; never the
values). A quarantined row is shown by file, line and reason only: its excerpt may hold PHI.
"""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from caretwin.api.deps import DataIngest, DataRead
from caretwin.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from caretwin.errors import ConfigError
from caretwin.services.ingestion import QuarantineKey, quarantine_key, quarantine_rows

router = APIRouter(tags=["lake"])

#: The most rows a view run answers with (the CLI writes more to a file).
MAX_VIEW_ROWS = 1000


def _quarantine_after(cursor: str | None) -> QuarantineKey | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    try:
        source_file, line, reason = orjson.loads(str(key))
        return QuarantineKey(str(source_file), int(line), str(reason))
    except (orjson.JSONDecodeError, TypeError, ValueError):
        raise ConfigError("invalid cursor: pass next_cursor from the previous page") from None


@router.get("/lake/quarantine")
def quarantine(ctx: DataRead, cursor: Cursor = None, limit: Limit = 50) -> JSONResponse:
    """Quarantined records by file, line and reason, each with the id a retry selects by."""
    found = quarantine_rows(ctx, limit=limit + 1, after=_quarantine_after(cursor))
    shown = found[:limit]
    more = len(found) > limit and bool(shown)
    nxt = encode_cursor(orjson.dumps(list(quarantine_key(shown[-1]))).decode()) if more else None
    return JSONResponse({"items": [r.to_dict() for r in shown], "next_cursor": nxt})


class RetryRequest(BaseModel):
    ids: list[str] = Field(default_factory=list, max_length=10_000)
    all: bool = Field(default=False, description="retry every quarantined record")


@router.post("/lake/quarantine/retry")
def retry(body: RetryRequest, ctx: DataIngest) -> JSONResponse:
    """Run quarantined records through ingestion again (``caretwin lake retry``)."""
    from caretwin.services.ingest_retry import retry_quarantine

    return JSONResponse(retry_quarantine(ctx, body.ids, all_rows=body.all).to_dict())


@router.get("/snapshots/{ref}/quality")
def quality(ref: str, ctx: DataRead) -> JSONResponse:
    """The data-quality report of snapshot ``ref`` (``latest``: the newest), recorded as a run."""
    from caretwin.services.snapshots import snapshot_quality

    run = snapshot_quality(ctx, None if ref == "latest" else ref)
    return JSONResponse(run.to_dict())


class ViewRunRequest(BaseModel):
    limit: int = Field(default=100, ge=0, le=MAX_VIEW_ROWS)
    engine: Literal["auto", "compiled", "native", "interpreted"] = "auto"


@router.post("/views/{name}/run")
def view_run(name: str, body: ViewRunRequest, ctx: DataRead) -> JSONResponse:
    """Run a view over the lake (``caretwin views run``): its rows, recorded as a run."""
    from caretwin.services.views import run_workspace_view

    found = run_workspace_view(ctx, name, limit=body.limit, engine=body.engine, fmt="json")
    return JSONResponse(found.to_dict())


@router.post("/hl7/parse")
async def hl7_parse(request: Request, ctx: DataRead) -> JSONResponse:
    """What each HL7 v2 message of the ``text/plain`` body maps to and the ACK it would get
    (``caretwin hl7 parse``); nothing is stored."""
    from starlette.concurrency import run_in_threadpool

    from caretwin.services.hl7 import describe_hl7_text

    found = await run_in_threadpool(describe_hl7_text, ctx, await request.body())
    return JSONResponse(found.to_dict())
