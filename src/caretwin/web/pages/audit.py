"""The audit viewer (auditors, admins): filter by action and actor, page back, verify the chain."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from caretwin.errors import AuditTampered
from caretwin.services.audit import AuditVerification, list_audit_events, verify_audit
from caretwin.web.deps import AuditPage
from caretwin.web.render import render
from caretwin.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 50


def _events_page(
    page: AuditPage,
    action: str | None,
    actor: str | None,
    before: int | None,
    verification: AuditVerification | None = None,
    status: int = 200,
) -> Response:
    events = list_audit_events(
        page.ctx, limit=PAGE_SIZE + 1, action=action or None, actor=actor or None, before=before
    )
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    return render(
        page, "audit.html", status, title="Audit trail", events=events, action=action or "",
        actor=actor or "", before=before, next_before=events[-1].id if more and events else None,
        verification=verification,
    )  # fmt: skip


@router.get("/audit")
def audit(
    page: AuditPage,
    action: str | None = Query(None, max_length=100),
    actor: str | None = Query(None, max_length=200),
    before: int | None = Query(None, ge=1),
) -> Response:
    return _events_page(page, action, actor, before)


@router.post("/audit/verify")
def verify(page: AuditPage) -> Response:
    """Check the chain and checkpoints (a clean chain gets a new checkpoint): the result shown
    above the newest events; a tampered trail names the first event found (409)."""
    try:
        result = verify_audit(page.ctx)
        status = 200
    except AuditTampered as exc:
        result = AuditVerification.model_validate(exc.details)
        status = 409
    return _events_page(page, None, None, None, verification=result, status=status)
