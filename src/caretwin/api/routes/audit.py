"""The audit trail: list (paginated, newest first), verify the hash chain, export as FHIR."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from caretwin.api.deps import AuditRead
from caretwin.api.pagination import Cursor, Limit, decode_cursor, page
from caretwin.errors import ConfigError
from caretwin.services.audit import export_audit, list_audit_events, verify_audit

router = APIRouter(tags=["audit"])


@router.get("/audit")
def audit(
    ctx: AuditRead,
    cursor: Cursor = None,
    limit: Limit = 100,
    action: str | None = None,
    actor: str | None = None,
) -> JSONResponse:
    """Audit events, newest first; follow ``next_cursor`` for older ones."""
    before = decode_cursor(cursor)
    if before is not None and not isinstance(before, int):
        raise ConfigError("invalid cursor: pass next_cursor from the previous page")
    found = list_audit_events(ctx, limit=limit + 1, action=action, actor=actor, before=before)
    return JSONResponse(page(found, limit, key=lambda e: e.id))


@router.get("/audit/verify")
def verify(ctx: AuditRead) -> JSONResponse:
    """Check the chain and checkpoints; 409 with the first tampered event named if they fail."""
    return JSONResponse(verify_audit(ctx).to_dict())


@router.get("/audit/export", response_class=Response)
def export(ctx: AuditRead) -> Response:
    """Every event, oldest first, as FHIR R4 AuditEvent NDJSON (``audit export --format fhir``)."""
    import tempfile
    from pathlib import Path

    # the service writes a file (the CLI's interface); an owner-only scratch folder holds it
    with tempfile.TemporaryDirectory(prefix="caretwin-audit-") as tmp:
        out = Path(tmp) / "audit.ndjson"
        done = export_audit(ctx, out, "fhir")
        body = out.read_bytes()
    return Response(
        body,
        media_type="application/fhir+ndjson",
        headers={"x-caretwin-events": str(done.events)},
    )
