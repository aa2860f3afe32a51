"""The append-only audit log of every service operation."""

from __future__ import annotations

from caretwin.audit.log import OUTCOMES, AuditEntry, AuditLog, sanitize_details

__all__ = ["OUTCOMES", "AuditEntry", "AuditLog", "sanitize_details"]
