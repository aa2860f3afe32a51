"""The lake rows ADT events read and write: encounter states and patients as the run holds them
(rows staged earlier in the run, else the lake's), and the rows staged once a batch is applied.

Touched encounters are staged whole, with all their movements (the lake's "latest wins" merge
replaces an encounter's rows together); locations only when a movement names them, with their
units, and only when the lake does not hold them yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from caretwin.hl7v2.events import AdtEvent
from caretwin.hl7v2.state import EncounterState
from caretwin.lake import Lake
from caretwin.lake.lake import parquet_select


class Batch(Protocol):
    """What HL7 feeding uses of an ingest batch (:class:`caretwin.ingest.batch.IngestBatch`):
    it reads the lake and the rows fed so far, and writes rows, lineage and refusals through
    these methods only."""

    @property
    def lake(self) -> Lake: ...
    def add_records(self, n: int) -> None: ...
    def count(self, rtype: str, *, added: int = 0, unchanged: int = 0) -> None: ...
    def quarantine(
        self, source_file: str, line: int, resource_type: str | None, reason: str, excerpt: str
    ) -> None: ...
    def rows(self, table: str) -> Mapping[str, list[dict[str, Any]]]: ...
    def add_rows(self, table: str, key: str, rows: list[dict[str, Any]]) -> None: ...
    def add_lineage(self, row: dict[str, Any]) -> None: ...
    def lineage_keys(self) -> set[tuple[str, str, str]]: ...


class StagedRows(Protocol):
    """The rows the ingest's stage produced (this ingest's FHIR encounters and patients)."""

    def rows(self, table: str) -> dict[str, list[dict[str, Any]]]: ...


#: The tables ADT events read and write.
TABLES = ("encounters", "movements", "patients")


def lake_keys(lake: Lake) -> set[tuple[str, str, str]]:
    """Raw keys ``(type, key, content hash)`` of the HL7 v2 messages the lake holds."""
    files = lake.catalog().entry("resources").files
    types = sorted({f.split("/", 1)[0][len("type=") :] for f in files if "HL7v2" in f})
    found = lake.partition_files("resources", "type", types)
    if not found:
        return set()
    keys = lake.query(
        "SELECT resource_type, resource_id, content_hash FROM "
        f"({parquet_select('resources', found)})"
    )
    return set(zip(*(keys[c].to_pylist() for c in keys.column_names), strict=True))


def seed(run: Batch, staged: StagedRows) -> None:
    """Take this ingest's FHIR rows of the tables events touch: events apply on top of them."""
    for table in TABLES:
        for key, rows in staged.rows(table).items():
            run.add_rows(table, key, rows)


def _load(lake: Lake, table: str, key: str, ids: set[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    data = lake.read_table(table)
    mask = pc.is_in(data[key], value_set=pa.array(sorted(ids), pa.string()))
    rows: list[dict[str, Any]] = data.filter(mask).to_pylist()
    return rows


def states(run: Batch, ids: set[str]) -> dict[str, EncounterState]:
    """Current state of encounters: rows staged earlier in this run, else the lake's."""
    staged_enc = run.rows("encounters")
    staged_mov = run.rows("movements")
    from_lake = ids - set(staged_enc)
    encs = {r["encounter_id"]: r for r in _load(run.lake, "encounters", "encounter_id", from_lake)}
    moves: dict[str, list[dict[str, Any]]] = {}
    for row in _load(run.lake, "movements", "encounter_id", from_lake):
        moves.setdefault(row["encounter_id"], []).append(row)
    for eid in ids & set(staged_enc):
        encs[eid] = staged_enc[eid][0]
        moves[eid] = staged_mov.get(eid, [])
    return {eid: EncounterState.from_rows(row, moves.get(eid, [])) for eid, row in encs.items()}


def patients(run: Batch, ids: set[str]) -> dict[str, dict[str, Any]]:
    staged = run.rows("patients")
    rows = _load(run.lake, "patients", "patient_id", ids - set(staged))
    found = {r["patient_id"]: r for r in rows}
    found.update({pid: staged[pid][0] for pid in ids & set(staged)})
    return found


def stage(
    run: Batch,
    states: dict[str, EncounterState | None],
    touched: set[str],
    patients: dict[str, dict[str, Any]],
    touched_patients: set[str],
    locations: dict[str, dict[str, Any]],
) -> None:
    """Stage touched encounters whole (with their movements), patients and new locations."""
    used: set[str] = set()
    for eid in sorted(touched):
        final = states[eid]
        assert final is not None
        run.add_rows("encounters", eid, [final.encounter_row()])
        run.add_rows("movements", eid, final.movement_rows())
        used.update(m.location_id for m in final.moves if m.location_id is not None)
    # Locations for the places movements name, with their units (a prior location that no
    # movement uses, e.g. a transfer's PV1-6 for a stay the lake already holds, adds nothing).
    units = {locations[lid]["part_of"] for lid in used if lid in locations}
    locations = {lid: row for lid, row in locations.items() if lid in used or lid in units}
    for pid in sorted(touched_patients):
        run.add_rows("patients", pid, [patients[pid]])
    _stage_locations(run, locations)


def merge_patient(patients: dict[str, dict[str, Any]], ev: AdtEvent) -> None:
    """Latest message wins per field; a field a message leaves empty keeps its earlier value."""
    old = patients.get(ev.patient_id, {})
    patients[ev.patient_id] = {
        "patient_id": ev.patient_id,
        "gender": ev.gender or old.get("gender"),
        "birth_date": ev.birth_date or old.get("birth_date"),
        "mrn": ev.mrn,
    }


def _stage_locations(run: Batch, locations: dict[str, dict[str, Any]]) -> None:
    if not locations:
        return
    staged = run.rows("locations")
    existing = set(run.lake.read_table("locations", ["location_id"])["location_id"].to_pylist())
    for lid in sorted(locations):
        if lid not in existing and lid not in staged:
            run.add_rows("locations", lid, [locations[lid]])
