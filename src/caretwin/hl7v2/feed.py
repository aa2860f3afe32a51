"""Feeding HL7 v2 messages into one ingest batch: dedupe, order, apply, stage rows and lineage.

The ingest pipeline (:mod:`caretwin.ingest.pipeline`) owns the batch and commits it as one
snapshot; this module writes to it through the batch's API only (:class:`~caretwin.hl7v2.
staging.Batch`: rows by table and key, lineage rows, quarantine). :func:`feed_messages` does
steps 1-2 while the batch is fed; :meth:`PendingMessages.apply` steps 3-4 once the ingest's
stage has run, on top of this ingest's FHIR encounters:

1. each message's header is read and keyed (sender and MSH-10 control id); a message whose key
   is already in the lake or earlier in the batch is a retransmission and changes nothing, or a
   collision when its content differs, and one under a key refused before gets the same answer
   (:mod:`~caretwin.hl7v2.dedup`);
2. a new message is read whole and checked (:mod:`~caretwin.hl7v2.events`); refusals are
   quarantined;
3. the rest are applied in message order (MSH-7, then EVN-2, then arrival) to the encounters as
   the lake holds them (:mod:`~caretwin.hl7v2.state`); a conflict quarantines that message only;
4. touched encounters, their movements, patients and new locations are staged whole
   (:mod:`~caretwin.hl7v2.staging`: the lake's "latest wins" merge replaces an encounter's rows
   together), and each applied message is stored in ``resources`` as ``HL7v2:ADT^Axx`` with its
   content hash, for lineage.

Quarantine rows carry the message's starting line, its index and verdict in the reason, and the
MSH segment as the excerpt (MSH names systems and the message, never the patient). Whatever goes
wrong with one message is that message's :class:`Outcome` alone; an unexpected error is a
``failed`` outcome (``AE``, ERR-3 ``206``: not stored, send again), logged by type only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from caretwin.hl7v2 import dedup, staging
from caretwin.hl7v2.dedup import EXCERPT_CHARS, UNKNOWN, Verdict
from caretwin.hl7v2.er7 import Er7, Er7Error
from caretwin.hl7v2.events import (
    DUPLICATE_KEY,
    SEGMENT_SEQUENCE_ERROR,
    STORE_FAILED,
    AdtEvent,
    Header,
    InvalidMessage,
    read_event,
    read_header,
)
from caretwin.hl7v2.framing import RawMessage
from caretwin.hl7v2.staging import Batch, StagedRows
from caretwin.hl7v2.state import EncounterState, StateConflict, apply

__all__ = ["EXCERPT_CHARS", "UNKNOWN", "Batch", "Outcome", "PendingMessages", "feed_messages"]

log = logging.getLogger(__name__)
APPLIED, DUPLICATE, REFUSED = "applied", "duplicate", "refused"
#: Not stored for a reason that is not the message's fault: AE ``206``, send again.
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message: ``applied``, ``duplicate``, ``refused`` or ``failed``.

    ``ack`` is the MSA-1 to answer (``AA``, ``AE`` or ``AR``), ``code`` the ERR-3 (HL7 table
    0357), ``where`` the ERR-2 and ``reason`` the MSA-3/ERR-8 text of a refusal.
    """

    status: str
    control_id: str = ""
    message_type: str = ""
    reason: str = ""
    code: str = ""
    where: str = ""
    ack: str = "AA"
    encounter_id: str = ""

    @property
    def accepted(self) -> bool:
        return self.status in (APPLIED, DUPLICATE)


@dataclass(slots=True)
class _Item:
    pos: int
    msg: RawMessage
    er7: Er7 | None = None
    header: Header | None = None
    event: AdtEvent | None = None
    canon: bytes = b""
    digest: str = ""


def _canonical(header: Header, text: str) -> bytes:
    doc = {
        "resourceType": "HL7v2Message",
        "messageType": header.message_type,
        "sender": header.sender,
        "controlId": header.control_id,
        "er7": text,
    }
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def _internal(exc: BaseException) -> Verdict:
    # The type only: an exception's text may quote a field value (PHI).
    log.error("HL7 message not processed: internal error (%s)", type(exc).__name__)
    return Verdict(
        "AE",
        STORE_FAILED,
        "",
        f"internal error ({type(exc).__name__}); not stored, send again",
    )


class _Feed:
    def __init__(self, run: Batch) -> None:
        self.run = run
        self.stored: dict[str, set[tuple[str, str]]] = {}
        for rtype, key, digest in (*staging.lake_keys(run.lake), *run.lineage_keys()):
            if rtype.startswith(UNKNOWN):
                self.stored.setdefault(key, set()).add((rtype, digest))
        self.verdicts = dedup.earlier_verdicts(run.lake)

    def refuse(self, item: _Item, verdict: Verdict, status: str = REFUSED) -> Outcome:
        header = item.header
        rtype = header.resource_type if header is not None else UNKNOWN
        self.run.quarantine(
            item.msg.source,
            item.msg.line,
            rtype,
            verdict.quarantine_reason(item.msg.index),
            dedup.msh_excerpt(item.msg.text) if header is not None else "",
        )
        return self.answer(item, verdict, status)

    def answer(self, item: _Item, verdict: Verdict, status: str = REFUSED) -> Outcome:
        header = item.header
        return Outcome(
            status,
            header.control_id if header else "",
            header.message_type if header else "",
            verdict.reason,
            verdict.code,
            verdict.where,
            verdict.ack,
        )

    def read_header(self, item: _Item) -> None:
        """The header only: enough to key the message (its body is read if it is new)."""
        if item.msg.error is not None:
            raise InvalidMessage(item.msg.error, SEGMENT_SEQUENCE_ERROR, "MSH", ack="AR")
        try:
            item.er7 = Er7(item.msg.text)
        except Er7Error as exc:
            raise InvalidMessage(str(exc), SEGMENT_SEQUENCE_ERROR, "MSH", ack="AR") from None
        item.header = read_header(item.er7)
        item.canon = _canonical(item.header, item.msg.text)
        item.digest = hashlib.sha256(item.canon).hexdigest()

    def read_body(self, item: _Item, outcomes: list[Outcome | None]) -> bool:
        """The event of a new message; ``False`` (and its outcome set) when it is refused."""
        assert item.er7 is not None
        try:
            item.event = read_event(item.er7)
        except InvalidMessage as exc:
            outcomes[item.pos] = self.refuse(item, _verdict(exc))
            return False
        except Exception as exc:  # a bug must cost this message only, never its batch
            outcomes[item.pos] = self.refuse(item, _internal(exc), FAILED)
            return False
        return True


def _verdict(exc: InvalidMessage | StateConflict, where: str = "PV1^1^19") -> Verdict:
    if isinstance(exc, InvalidMessage):
        return Verdict(exc.ack, exc.code, exc.where, exc.reason)
    return Verdict("AE", exc.code, where, exc.reason)


class PendingMessages:
    """Messages read, keyed and deduplicated, waiting for the ingest's staged rows."""

    def __init__(
        self,
        run: Batch,
        feed: _Feed,
        outcomes: list[Outcome | None],
        fresh: list[_Item],
        repeats: list[tuple[_Item, _Item]],
    ) -> None:
        self._run, self._feed, self._outcomes = run, feed, outcomes
        self._fresh, self._repeats = fresh, repeats

    def apply(self, staged: StagedRows) -> list[Outcome]:
        """Apply the new messages on top of ``staged`` (this ingest's FHIR encounters, after
        the stage ran); one :class:`Outcome` per message, in arrival order."""
        run, feed, outcomes = self._run, self._feed, self._outcomes
        staging.seed(run, staged)
        fresh = sorted(
            self._fresh, key=lambda it: (*it.event.order, it.pos) if it.event else (it.pos,)
        )
        _apply_all(run, feed, fresh, outcomes)
        for item, first in self._repeats:
            outcomes[item.pos] = _again(run, feed, item, first, outcomes)
        return [o if o is not None else Outcome(FAILED, reason="not processed") for o in outcomes]


def feed_messages(run: Batch, messages: Sequence[RawMessage]) -> PendingMessages:
    """Add ``messages`` (in arrival order) to ``run``: read, key and deduplicate them now
    (refusals are quarantined), apply them with :meth:`PendingMessages.apply` once the ingest's
    stage ran.

    Each message is judged alone: whatever goes wrong with one (a refusal, a state conflict, an
    unexpected error) is that message's outcome, and the others are applied.
    """
    feed = _Feed(run)
    outcomes: list[Outcome | None] = [None] * len(messages)
    items: list[_Item] = []
    for pos, msg in enumerate(messages):
        run.add_records(1)
        item = _Item(pos, msg)
        try:
            feed.read_header(item)
        except InvalidMessage as exc:
            outcomes[pos] = feed.refuse(item, _verdict(exc))
            continue
        except Exception as exc:  # a bug must cost this message only, never its batch
            item.header = None
            outcomes[pos] = feed.refuse(item, _internal(exc), FAILED)
            continue
        items.append(item)
    fresh, repeats = _dedupe(run, feed, items, outcomes)
    return PendingMessages(run, feed, outcomes, fresh, repeats)


_COLLISION = Verdict(
    "AE",
    DUPLICATE_KEY,
    "MSH^1^10",
    "MSH-10 control id was already used by this sender for a different message",
)


def _again(
    run: Batch, feed: _Feed, item: _Item, first: _Item, outcomes: list[Outcome | None]
) -> Outcome:
    """A message under the key of an earlier one in the batch, answered as a later batch would:
    a duplicate or a collision of a stored message, the same refusal for the same MSH."""
    done = outcomes[first.pos]
    assert done is not None and item.header is not None and first.header is not None
    if done.status == APPLIED:
        same = item.header.resource_type == first.header.resource_type
        if same and dedup.same_but_msh7(first.msg.text, item.msg.text):
            run.count(item.header.resource_type, unchanged=1)
            return replace(done, status=DUPLICATE)
        return feed.refuse(item, _COLLISION)
    if done.status == FAILED:  # not judged: this one is not either, and is sent again
        return replace(done)
    excerpt = dedup.msh_excerpt(first.msg.text)
    if dedup.same_but_msh7(excerpt, dedup.msh_excerpt(item.msg.text)):
        return replace(done)
    return feed.refuse(item, _COLLISION)


def _dedupe(
    run: Batch, feed: _Feed, items: list[_Item], outcomes: list[Outcome | None]
) -> tuple[list[_Item], list[tuple[_Item, _Item]]]:
    """Retransmissions, collisions and earlier verdicts answered.

    Returns the fresh items, and the later messages under a key first seen in the batch with
    their first (answered by :func:`_again` once the first is).
    """
    collision = _COLLISION
    unsure = {
        it.header.key
        for it in items
        if it.header is not None
        and it.header.key in feed.stored
        and (it.header.resource_type, it.digest) not in feed.stored[it.header.key]
    }
    texts = dedup.stored_texts(run.lake, unsure) if unsure else {}
    first: dict[str, _Item] = {}
    fresh: list[_Item] = []
    repeats: list[tuple[_Item, _Item]] = []
    for item in items:
        header = item.header
        assert header is not None
        key = header.key
        if key in feed.stored:
            same = (header.resource_type, item.digest) in feed.stored[key] or any(
                rtype == header.resource_type and dedup.same_but_msh7(text, item.msg.text)
                for rtype, text in texts.get(key, [])
            )
            if not same:
                outcomes[item.pos] = feed.refuse(item, collision)
                continue
        elif key in feed.verdicts:
            excerpt, verdict = feed.verdicts[key]
            if not dedup.same_but_msh7(excerpt, dedup.msh_excerpt(item.msg.text)):
                outcomes[item.pos] = feed.refuse(item, collision)
                continue
            run.count(header.resource_type, unchanged=1)
            earlier = Verdict(verdict.ack, verdict.code, verdict.where, verdict.reason)
            outcomes[item.pos] = feed.answer(item, earlier)
            continue
        elif key in first:
            repeats.append((item, first[key]))
            continue
        else:
            first[key] = item
            if feed.read_body(item, outcomes):
                fresh.append(item)
            continue
        run.count(header.resource_type, unchanged=1)
        outcomes[item.pos] = Outcome(DUPLICATE, header.control_id, header.message_type)
    return fresh, repeats


def _apply_all(run: Batch, feed: _Feed, items: list[_Item], outcomes: list[Outcome | None]) -> None:
    events = [it.event for it in items if it.event is not None]
    states: dict[str, EncounterState | None] = dict(
        staging.states(run, {e.encounter_id for e in events})
    )
    patients = staging.patients(run, {e.patient_id for e in events})
    touched: set[str] = set()
    touched_patients: set[str] = set()
    locations: dict[str, dict[str, Any]] = {}
    for item in items:
        ev = item.event
        assert ev is not None and item.header is not None
        try:
            # Everything that can fail is computed before anything is changed.
            state = apply(states.get(ev.encounter_id), ev)
            places = [r for p in (ev.location, ev.prior_location) if p for r in p.rows()]
        except StateConflict as exc:
            outcomes[item.pos] = feed.refuse(item, _verdict(exc))
            continue
        except Exception as exc:  # a bug must cost this message only, never its batch
            outcomes[item.pos] = feed.refuse(item, _internal(exc), FAILED)
            continue
        states[ev.encounter_id] = state
        touched.add(ev.encounter_id)
        touched_patients.add(ev.patient_id)
        staging.merge_patient(patients, ev)
        locations.update((r["location_id"], r) for r in places)
        _store_raw(run, item)
        outcomes[item.pos] = Outcome(
            APPLIED,
            item.header.control_id,
            item.header.message_type,
            encounter_id=ev.encounter_id,
        )
    staging.stage(run, states, touched, patients, touched_patients, locations)


def _store_raw(run: Batch, item: _Item) -> None:
    header = item.header
    assert header is not None
    run.add_lineage(
        {
            "resource_type": header.resource_type,
            "resource_id": header.key,
            "content_hash": item.digest,
            "source_file": item.msg.source,
            "line": item.msg.line,
            "json": item.canon.decode(),
        }
    )
