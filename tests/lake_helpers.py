"""A small lake for front-end tests: three synthetic days of the reference hospital, ingested
through the services, plus a file of broken records so the quarantine has rows."""

from __future__ import annotations

from pathlib import Path

from caretwin.access import Actor
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import ingest
from caretwin.services.synth import synthesize
from caretwin.workspace import Workspace

ADMIN = Actor(name="lake-admin", roles=frozenset({"admin"}))

#: Broken records: not JSON, no resourceType, an Encounter without its required fields.
BROKEN = [
    "{not json",
    '{"id": "x1"}',
    '{"resourceType": "Encounter", "id": "bad-1"}',
]


def small_lake(ws: Workspace, tmp: Path, days: int = 3, broken: bool = True) -> Path:
    """Synthesise ``days`` days, ingest them as one snapshot, then (``broken``) a second
    snapshot whose file quarantines :data:`BROKEN`. Returns the data folder."""
    ctx = ServiceContext(ws, ADMIN)
    data = tmp / "synth"
    synthesize(ctx, "reference-hospital", days=days, seed=7, out_dir=data, warmup_days=0)
    ingest(ctx, [data])
    if broken:
        bad = tmp / "broken" / "Encounter.ndjson"
        bad.parent.mkdir(parents=True, exist_ok=True)
        first = (data / "Encounter.ndjson").read_text(encoding="utf-8").splitlines()[0]
        bad.write_text("\n".join([first.replace('"id":"', '"id":"z'), *BROKEN]) + "\n")
        ingest(ctx, [bad])
    return data
