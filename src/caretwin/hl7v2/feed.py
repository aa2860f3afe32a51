"""Feeding HL7 v2 messages into one ingest run: dedupe, order, apply, stage rows and lineage.

The ingest pipeline (:mod:`caretwin.ingest.pipeline`) owns the run: it reads the lake's raw
keys, collects normalized rows per table and key, quarantine rows and raw resources, and commits
them as one snapshot. This module adds ADT messages to such a run:

1. each message is parsed and checked (:mod:`~caretwin.hl7v2.events`); refusals are quarantined;
2. a message whose key (sender and MSH-10 control id, per message type) is already in the lake
   or earlier in the batch is a retransmission and changes nothing;
3. the rest are applied in message order (MSH-7, then EVN-2, then arrival) to the encounters as
   the lake holds them (:mod:`~caretwin.hl7v2.state`); a conflict quarantines that message only;
4. touched encounters, their movements, patients and new locations are staged whole (the
   lake's "latest wins" merge replaces an encounter's rows together), and each applied message
   is stored in ``resources`` as ``HL7v2:ADT^Axx`` with its content hash, for lineage.

Quarantine rows carry the message's starting line, its index in the reason, and the MSH
segment as the excerpt (MSH names systems and the message, never the patient).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from caretwin.hl7v2.er7 import Er7, Er7Error
from caretwin.hl7v2.events import (
    INTERNAL_ERROR,
    SEGMENT_SEQUENCE_ERROR,
    AdtEvent,
    Header,
    InvalidMessage,
    read_event,
    read_header,
)
from caretwin.hl7v2.framing import RawMessage
from caretwin.hl7v2.state import EncounterState, StateConflict, apply
from caretwin.lake import Lake

if TYPE_CHECKING:  # caretwin.ingest imports this module: no runtime import back
    from caretwin.ingest.report import TypeCounts

UNKNOWN = "HL7v2"
EXCERPT_CHARS = 400
APPLIED, DUPLICATE, REFUSED = "applied", "duplicate", "refused"


class RawSink(Protocol):
    def add(self, row: dict[str, Any]) -> None: ...


class IngestRun(Protocol):
    """The parts of the pipeline's ingest run that HL7 feeding uses."""

    records: int

    @property
    def lake(self) -> Lake: ...
    @property
    def known(self) -> set[tuple[str, str, str]]: ...
    @property
    def seen(self) -> set[tuple[str, str, str]]: ...
    @property
    def added_hashes(self) -> list[str]: ...
    @property
    def counts(self) -> dict[str, TypeCounts]: ...
    @property
    def rows(self) -> dict[str, dict[str, list[dict[str, Any]]]]: ...
    @property
    def quarantine(self) -> list[dict[str, Any]]: ...
    @property
    def raw(self) -> RawSink: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message: ``applied``, ``duplicate`` or ``refused`` (with why)."""

    status: str
    control_id: str = ""
    message_type: str = ""
    reason: str = ""
    code: str = ""
    where: str = ""
    ack: str = "AA"
    encounter_id: str = ""


@dataclass(slots=True)
class _Item:
    pos: int
    msg: RawMessage
    header: Header | None = None
    event: AdtEvent | None = None


def _canonical(header: Header, text: str) -> bytes:
    doc = {
        "resourceType": "HL7v2Message",
        "messageType": header.message_type,
        "sender": header.sender,
        "controlId": header.control_id,
        "er7": text,
    }
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


class _Feed:
    def __init__(self, run: IngestRun) -> None:
        self.run = run
        self.keys = {(t, i) for t, i, _ in run.known if t.startswith(UNKNOWN)}
        self.keys |= {(t, i) for t, i, _ in run.seen if t.startswith(UNKNOWN)}
        self.refused = _refused(run.lake)

    def refuse(self, item: _Item, exc: InvalidMessage | StateConflict) -> Outcome:
        header = item.header
        rtype = header.resource_type if header is not None else UNKNOWN
        msh = item.msg.text.split("\r", 1)[0] if header is not None else ""
        reason = f"message {item.msg.index}: {exc.reason}"
        self.run.counts[rtype].quarantined += 1
        self.run.quarantine.append(
            {
                "source_file": item.msg.source,
                "line": item.msg.line,
                "resource_type": rtype,
                "reason": reason,
                "excerpt": msh[:EXCERPT_CHARS],
            }
        )
        where = exc.where if isinstance(exc, InvalidMessage) else "PV1^1^19"
        ack = exc.ack if isinstance(exc, InvalidMessage) else "AE"
        return Outcome(
            REFUSED,
            header.control_id if header else "",
            header.message_type if header else "",
            exc.reason,
            exc.code,
            where,
            ack,
        )

    def read(self, item: _Item) -> None:
        if item.msg.error is not None:
            raise InvalidMessage(item.msg.error, SEGMENT_SEQUENCE_ERROR, "MSH", ack="AR")
        try:
            er7 = Er7(item.msg.text)
        except Er7Error as exc:
            raise InvalidMessage(str(exc), SEGMENT_SEQUENCE_ERROR, "MSH", ack="AR") from None
        item.header = read_header(er7)
        item.event = read_event(er7)


def _refused(lake: Lake) -> dict[tuple[str, str], str]:
    """Keys of messages quarantined before, with their reason.

    A message is judged once: resent with the same control id it gets the same answer, so
    re-ingesting a file changes nothing even where the lake's state has moved on since (a new
    decision needs a new message, as HL7 intends).
    """
    rows = lake.query(
        "SELECT resource_type, reason, excerpt FROM quarantine WHERE resource_type LIKE 'HL7v2:%'"
    ).to_pylist()
    found: dict[tuple[str, str], str] = {}
    for row in rows:
        try:
            header = read_header(Er7(row["excerpt"] or ""))
        except (Er7Error, InvalidMessage):
            continue
        found[(header.resource_type, header.key)] = row["reason"].split(": ", 1)[-1]
    return found


def _load(lake: Lake, table: str, key: str, ids: set[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    data = lake.read_table(table)
    mask = pc.is_in(data[key], value_set=pa.array(sorted(ids), pa.string()))
    rows: list[dict[str, Any]] = data.filter(mask).to_pylist()
    return rows


def _states(run: IngestRun, ids: set[str]) -> dict[str, EncounterState]:
    """Current state of encounters: rows staged earlier in this run, else the lake's."""
    staged_enc = run.rows.get("encounters", {})
    staged_mov = run.rows.get("movements", {})
    from_lake = ids - set(staged_enc)
    encs = {r["encounter_id"]: r for r in _load(run.lake, "encounters", "encounter_id", from_lake)}
    moves: dict[str, list[dict[str, Any]]] = {}
    for row in _load(run.lake, "movements", "encounter_id", from_lake):
        moves.setdefault(row["encounter_id"], []).append(row)
    for eid in ids & set(staged_enc):
        encs[eid] = staged_enc[eid][0]
        moves[eid] = staged_mov.get(eid, [])
    return {eid: EncounterState.from_rows(row, moves.get(eid, [])) for eid, row in encs.items()}


def _patients(run: IngestRun, ids: set[str]) -> dict[str, dict[str, Any]]:
    staged = run.rows.get("patients", {})
    rows = _load(run.lake, "patients", "patient_id", ids - set(staged))
    found = {r["patient_id"]: r for r in rows}
    found.update({pid: staged[pid][0] for pid in ids & set(staged)})
    return found


def feed_messages(run: IngestRun, messages: Sequence[RawMessage]) -> list[Outcome]:
    """Add ``messages`` (in arrival order) to ``run``; one :class:`Outcome` per message."""
    feed = _Feed(run)
    outcomes: list[Outcome | None] = [None] * len(messages)
    fresh: list[_Item] = []
    batch_keys: set[tuple[str, str]] = set()
    for pos, msg in enumerate(messages):
        run.records += 1
        item = _Item(pos, msg)
        try:
            feed.read(item)
        except InvalidMessage as exc:
            outcomes[pos] = feed.refuse(item, exc)
            continue
        assert item.header is not None and item.event is not None
        key = (item.header.resource_type, item.header.key)
        if key in feed.refused:
            run.counts[key[0]].unchanged += 1
            outcomes[pos] = Outcome(
                REFUSED,
                item.header.control_id,
                item.header.message_type,
                reason=f"refused before: {feed.refused[key]}",
                code=INTERNAL_ERROR,
                where="MSH^1^10",
            )
            continue
        if key in feed.keys or key in batch_keys:
            run.counts[key[0]].unchanged += 1
            outcomes[pos] = Outcome(
                DUPLICATE,
                item.header.control_id,
                item.header.message_type,
                encounter_id=item.event.encounter_id,
            )
            continue
        batch_keys.add(key)
        fresh.append(item)
    fresh.sort(key=lambda it: (*it.event.order, it.pos) if it.event else (it.pos,))
    _apply_all(run, feed, fresh, outcomes)
    return [o if o is not None else Outcome(REFUSED, reason="not processed") for o in outcomes]


def _apply_all(
    run: IngestRun, feed: _Feed, items: list[_Item], outcomes: list[Outcome | None]
) -> None:
    events = [it.event for it in items if it.event is not None]
    states: dict[str, EncounterState | None] = dict(_states(run, {e.encounter_id for e in events}))
    patients = _patients(run, {e.patient_id for e in events})
    touched: set[str] = set()
    touched_patients: set[str] = set()
    locations: dict[str, dict[str, Any]] = {}
    for item in items:
        ev = item.event
        assert ev is not None and item.header is not None
        try:
            states[ev.encounter_id] = apply(states.get(ev.encounter_id), ev)
        except StateConflict as exc:
            outcomes[item.pos] = feed.refuse(item, exc)
            continue
        touched.add(ev.encounter_id)
        touched_patients.add(ev.patient_id)
        _patient(patients, ev)
        for poc in (ev.location, ev.prior_location):
            if poc is not None:
                locations.update((r["location_id"], r) for r in poc.rows())
        _store_raw(run, item, ev)
        outcomes[item.pos] = Outcome(
            APPLIED,
            item.header.control_id,
            item.header.message_type,
            encounter_id=ev.encounter_id,
        )
    used: set[str] = set()
    for eid in sorted(touched):
        state = states[eid]
        assert state is not None
        run.rows.setdefault("encounters", {})[eid] = [state.encounter_row()]
        run.rows.setdefault("movements", {})[eid] = state.movement_rows()
        used.update(m.location_id for m in state.moves if m.location_id is not None)
    # Locations for the places movements name, with their units (a prior location that no
    # movement uses, e.g. a transfer's PV1-6 for a stay the lake already holds, adds nothing).
    units = {locations[lid]["part_of"] for lid in used if lid in locations}
    locations = {lid: row for lid, row in locations.items() if lid in used or lid in units}
    for pid in sorted(touched_patients):
        run.rows.setdefault("patients", {})[pid] = [patients[pid]]
    _stage_locations(run, locations)


def _patient(patients: dict[str, dict[str, Any]], ev: AdtEvent) -> None:
    """Latest message wins per field; a field a message leaves empty keeps its earlier value."""
    old = patients.get(ev.patient_id, {})
    patients[ev.patient_id] = {
        "patient_id": ev.patient_id,
        "gender": ev.gender or old.get("gender"),
        "birth_date": ev.birth_date or old.get("birth_date"),
        "mrn": ev.mrn,
    }


def _stage_locations(run: IngestRun, locations: dict[str, dict[str, Any]]) -> None:
    if not locations:
        return
    staged = run.rows.get("locations", {})
    existing = set(run.lake.read_table("locations", ["location_id"])["location_id"].to_pylist())
    for lid in sorted(locations):
        if lid not in existing and lid not in staged:
            run.rows.setdefault("locations", {})[lid] = [locations[lid]]


def _store_raw(run: IngestRun, item: _Item, ev: AdtEvent) -> None:
    header = ev.header
    canon = _canonical(header, item.msg.text)
    digest = hashlib.sha256(canon).hexdigest()
    key = (header.resource_type, header.key, digest)
    run.seen.add(key)
    run.added_hashes.append(digest)
    run.counts[header.resource_type].added += 1
    run.raw.add(
        {
            "resource_type": header.resource_type,
            "resource_id": header.key,
            "content_hash": digest,
            "source_file": item.msg.source,
            "line": item.msg.line,
            "json": canon.decode(),
        }
    )
