"""Reading, verifying and exporting the audit trail as service operations (each audited)."""

from __future__ import annotations

from pathlib import Path

from caretwin.access import Permission
from caretwin.audit.log import AuditEntry, AuditLog
from caretwin.errors import AuditTampered, ConfigError
from caretwin.services.context import ServiceContext
from caretwin.services.results import ServiceResult

__all__ = [
    "AuditExport",
    "AuditProblem",
    "AuditVerification",
    "export_audit",
    "list_audit_events",
    "verify_audit",
]

EXPORT_FORMATS = ("fhir",)


class AuditProblem(ServiceResult):
    """The first problem found: its kind and the event it names."""

    kind: str
    message: str
    event_id: int | None = None
    seq: int | None = None


class AuditVerification(ServiceResult):
    """What ``audit verify`` checked: events, chain head, checkpoints read and written."""

    ok: bool
    events: int
    chained: int
    sealed: int
    head_seq: int | None
    head_hash: str | None
    checkpoints: int
    written: list[str]
    problem: AuditProblem | None = None


class AuditExport(ServiceResult):
    format: str
    path: str
    events: int


def list_audit_events(
    ctx: ServiceContext,
    limit: int = 100,
    action: str | None = None,
    actor: str | None = None,
    before: int | None = None,
) -> list[AuditEntry]:
    """The newest audit events (before this read's own event), newest first; ``before`` an
    event id: only older ones (the last id of the previous page)."""
    with ctx.operation("audit.list", Permission.AUDIT_READ, "audit") as op:
        op.details.update({"limit": limit, "action": action, "actor": actor, "before": before})
        events = AuditLog(ctx.workspace).list(
            limit=limit, action=action, actor=actor, before=before
        )
        op.details["count"] = len(events)
        return events


def verify_audit(ctx: ServiceContext) -> AuditVerification:
    """Check the hash chain and the checkpoints; a clean chain gets a new checkpoint.

    Raises :class:`AuditTampered` naming the first event edited, deleted, inserted or
    reordered (or the newest deleted, or a forged checkpoint); its details are this result.
    """
    with ctx.operation("audit.verify", Permission.AUDIT_READ, "audit") as op:
        report = AuditLog(ctx.workspace).verify()
        problem = report.problem
        # the fields mirror ChainReport's (and ChainProblem's): read them, with ``ok``, by name
        result = AuditVerification.model_validate(report, from_attributes=True)
        op.details.update({"events": report.events, "head_seq": report.head_seq, "ok": report.ok})
        if problem is not None:
            op.details.update({"kind": problem.kind, "event_id": problem.event_id})
            raise AuditTampered(
                f"audit trail {problem.kind}: {problem.message}", details=result.to_dict()
            )
        return result


def export_audit(ctx: ServiceContext, out: Path, format: str = "fhir") -> AuditExport:
    """Write every audit event, oldest first, as FHIR R4 AuditEvent NDJSON to ``out``."""
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"audit export format must be one of {list(EXPORT_FORMATS)}")
    with ctx.operation("audit.export", Permission.AUDIT_READ, str(out)) as op:
        from caretwin.audit.fhir import write_ndjson

        try:
            count = write_ndjson(ctx.workspace, out, ctx.workspace.config.name)
        except OSError as exc:
            raise ConfigError(f"cannot write the audit export {out}: {exc.strerror}") from exc
        op.details.update({"format": format, "events": count})
        return AuditExport(format=format, path=str(out), events=count)
