"""Generated FHIR NDJSON for ingest tests that need many (or large) records, not particular ones."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson


def stay(eid: str, patient: str, start: str, end: str, cls: str = "IMP") -> dict[str, Any]:
    """A finished Encounter of ``Patient/<patient>`` from ``start`` to ``end``; callers add
    their own fields (locations, text) after these, so the keys keep this order."""
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"code": cls},
        "subject": {"reference": f"Patient/{patient}"},
        "period": {"start": start, "end": end},
    }


def write_ndjson(path: Path, resources: Iterable[object]) -> Path:
    """Write ``resources`` one JSON line each (orjson, generated lazily) to ``path``."""
    with open(path, "wb") as fh:
        for resource in resources:
            fh.write(orjson.dumps(resource) + b"\n")
    return path
