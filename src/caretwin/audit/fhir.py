"""The audit trail as FHIR R4 AuditEvent resources (NDJSON), for a hospital's audit repository.

One resource per event, oldest first: ``type`` is DICOM "Application Activity" with the
CareTwin action as ``subtype``; ``action`` is R for reads and E otherwise; ``outcome`` 0
(success), 4 (denied) or 8 (error); the acting person is the ``agent`` (``requestor``), the
workspace is the ``source`` observer, the target is the ``entity``, and the chain's place and
HMAC travel as entity details so an importer can cross-check the export with ``audit verify``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from caretwin.audit.log import PATIENT_DATA
from caretwin.audit.settings import AuditHome
from caretwin.store.models import AuditEvent

__all__ = ["to_fhir", "write_ndjson"]

_OUTCOME = {"ok": "0", "started": "0", "recovered": "0", "denied": "4", "error": "8"}
_READ_VERBS = ("list", "show", "read", "verify", "export", "diff", "quality", "manifest", "report")
ACTION_SYSTEM = "https://caretwin.dev/fhir/CodeSystem/audit-action"


def _action_code(action: str) -> str:
    verb = action.rsplit(".", 1)[-1]
    return "R" if verb in _READ_VERBS else "E"


def to_fhir(row: AuditEvent, site: str) -> dict[str, Any]:
    """One FHIR R4 AuditEvent (a plain dict) for ``row``."""
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                    "code": "humanuser"
                    if not row.actor.startswith("caretwin-")
                    else "dataprocessor",
                }
            ]
        },
        "who": {"display": row.actor},
        "requestor": True,
    }
    if row.roles:
        agent["role"] = [{"text": role} for role in row.roles]
    details = [{"type": "outcome", "valueString": row.outcome}]
    if row.seq is not None:
        details += [
            {"type": "seq", "valueString": str(row.seq)},
            {"type": "hash", "valueString": str(row.hash)},
        ]
    return {
        "resourceType": "AuditEvent",
        "id": f"caretwin-{row.id}",
        "type": {
            "system": "http://dicom.nema.org/resources/ontology/DCM",
            "code": "110100",
            "display": "Application Activity",
        },
        "subtype": [{"system": ACTION_SYSTEM, "code": row.action}],
        "action": _action_code(row.action),
        "recorded": row.at.isoformat(timespec="microseconds"),
        "outcome": _OUTCOME.get(row.outcome, "8"),
        "outcomeDesc": row.outcome,
        "agent": [agent],
        "source": {
            "site": site,
            "observer": {"display": f"CareTwin workspace {site}"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
        "entity": [{"what": {"display": row.target}, "detail": details}, *_patient(row)],
    }


def _patient(row: AuditEvent) -> list[dict[str, Any]]:
    if not (row.details or {}).get(PATIENT_DATA):
        return []
    return [
        {
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
                "display": "Person",
            },
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "1",
                "display": "Patient",
            },
            "what": {"display": "patient-level data in the lake"},
        }
    ]


def write_ndjson(home: AuditHome, out: Path, site: str) -> int:
    """Write every event to ``out`` (atomically: a temporary file renamed); returns the count."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with home.session() as session, tmp.open("wb") as fh:
            rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000)
            for row in rows:
                fh.write(orjson.dumps(to_fhir(row, site)) + b"\n")
                count += 1
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return count
