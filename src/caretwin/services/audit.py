"""Reading the audit trail as a service operation (reading it is itself audited)."""

from __future__ import annotations

from caretwin.access import Permission
from caretwin.audit.log import AuditEntry, AuditLog
from caretwin.services.context import ServiceContext

__all__ = ["list_audit_events"]


def list_audit_events(
    ctx: ServiceContext, limit: int = 100, action: str | None = None, actor: str | None = None
) -> list[AuditEntry]:
    """The newest audit events (before this read's own event), newest first."""
    with ctx.operation("audit.list", Permission.AUDIT_READ, "audit") as op:
        op.details.update({"limit": limit, "action": action, "actor": actor})
        events = AuditLog(ctx.workspace).list(limit=limit, action=action, actor=actor)
        op.details["count"] = len(events)
        return events
