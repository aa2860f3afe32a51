"""Applying ADT events to an encounter: the semantics of each trigger, cancels included.

An :class:`EncounterState` is exactly what the lake holds for one encounter (its ``encounters``
row and its ``movements``), so state is read from the lake, events are applied in order, and the
result replaces the encounter's rows. Times: an event happens at EVN-6, else EVN-2, else MSH-7
(:attr:`AdtEvent.when`); an admission starts at PV1-44 and a discharge ends at PV1-45 when given.

A feed may start mid-stay, so an event for an encounter the lake does not hold creates it from
the message's own snapshot (PV1-44 start, PV1-6 prior location for a transfer, PV1-3 location)
instead of being refused. An event that contradicts the state (a transfer after discharge, a
discharge before admission, cancelling a transfer that never happened) raises
:class:`StateConflict` and goes to quarantine. Cancels reverse their event:

- A11 cancel admit: the encounter becomes ``cancelled`` and loses its movements;
- A12 cancel transfer: the last movement is removed and the one before it is open again;
- A13 cancel discharge: ``end`` and disposition are cleared, status ``in-progress``, and the last
  movement is open again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from caretwin.hl7v2.events import INTERNAL_ERROR, UNKNOWN_KEY, AdtEvent

IN_PROGRESS, FINISHED, CANCELLED = "in-progress", "finished", "cancelled"
ACTIVE, COMPLETED = "active", "completed"


class StateConflict(ValueError):
    """An event that cannot apply to the encounter as the lake holds it."""

    def __init__(self, reason: str, code: str = INTERNAL_ERROR) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


@dataclass(slots=True)
class Movement:
    location_id: str | None
    status: str | None
    start: datetime | None
    end: datetime | None


@dataclass(slots=True)
class EncounterState:
    encounter_id: str
    patient_id: str | None
    class_code: str | None
    status: str | None
    start: datetime | None
    end: datetime | None
    part_of: str | None = None
    admit_source: str | None = None
    discharge_disposition: str | None = None
    moves: list[Movement] = field(default_factory=list)

    @classmethod
    def from_rows(cls, enc: dict[str, Any], moves: list[dict[str, Any]]) -> EncounterState:
        ordered = sorted(moves, key=lambda m: m["seq"])
        return cls(
            encounter_id=enc["encounter_id"],
            **{k: enc[k] for k in _ENC_FIELDS},
            moves=[Movement(m["location_id"], m["status"], m["start"], m["end"]) for m in ordered],
        )

    def encounter_row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("encounter_id", *_ENC_FIELDS)}

    def movement_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "encounter_id": self.encounter_id,
                "seq": seq,
                "location_id": m.location_id,
                "status": m.status,
                "start": m.start,
                "end": m.end,
            }
            for seq, m in enumerate(self.moves)
        ]

    @property
    def open_move(self) -> Movement | None:
        last = self.moves[-1] if self.moves else None
        return last if last is not None and last.end is None else None


_ENC_FIELDS = (
    "patient_id",
    "class_code",
    "status",
    "start",
    "end",
    "part_of",
    "admit_source",
    "discharge_disposition",
)


def _loc(ev: AdtEvent) -> str | None:
    return ev.location.location_id() if ev.location is not None else None


def _new(ev: AdtEvent, start: datetime, status: str = IN_PROGRESS) -> EncounterState:
    return EncounterState(
        encounter_id=ev.encounter_id,
        patient_id=ev.patient_id,
        class_code=ev.class_code,
        status=status,
        start=start,
        end=None,
        admit_source=ev.admit_source,
    )


def _open_at(state: EncounterState, location: str | None, at: datetime) -> None:
    if location is not None:
        state.moves.append(Movement(location, ACTIVE, at, None))


def _close(state: EncounterState, at: datetime, what: str) -> None:
    move = state.open_move
    if move is None:
        return
    if move.start is not None and at < move.start:
        raise StateConflict(f"{what} is before the current location's start")
    move.end, move.status = at, COMPLETED


def _reopen_last(state: EncounterState) -> None:
    if state.moves:
        state.moves[-1].end, state.moves[-1].status = None, ACTIVE


def _update_fields(state: EncounterState, ev: AdtEvent) -> None:
    state.patient_id = ev.patient_id
    state.class_code = ev.class_code
    state.admit_source = ev.admit_source or state.admit_source


def _admit(state: EncounterState | None, ev: AdtEvent) -> EncounterState:
    """A01 admit / A04 register: open the encounter at PV1-44 (else the event time)."""
    start = ev.admit_time or ev.when
    if state is None or state.status == CANCELLED:
        state = _new(ev, start)
        _open_at(state, _loc(ev), start)
        return state
    if state.status == FINISHED:
        raise StateConflict(f"{ev.trigger} for an encounter already discharged (send A13 first)")
    _update_fields(state, ev)  # e.g. an A04 ED registration followed by the A01 admission
    if ev.admit_time is not None:
        state.start = ev.admit_time
    location = _loc(ev)
    current = state.open_move
    if location is not None and (current is None or current.location_id != location):
        _close(state, ev.when, "the admission")
        _open_at(state, location, ev.when)
    return state


def _transfer(state: EncounterState | None, ev: AdtEvent) -> EncounterState:
    """A02: close the current movement at the event time and open one at PV1-3."""
    at, location = ev.when, _loc(ev)
    if state is None:
        start = ev.admit_time or at
        if at < start:
            raise StateConflict("transfer is before the admission")
        state = _new(ev, start)
        if ev.prior_location is not None and start < at:
            state.moves.append(Movement(ev.prior_location.location_id(), COMPLETED, start, at))
        _open_at(state, location, at)
        return state
    if state.status != IN_PROGRESS:
        raise StateConflict(f"transfer of an encounter that is {state.status}")
    if state.start is not None and at < state.start:
        raise StateConflict("transfer is before the admission")
    _update_fields(state, ev)
    current = state.open_move
    if current is not None and current.location_id == location:
        return state  # already there: a repeated transfer changes nothing
    _close(state, at, "the transfer")
    _open_at(state, location, at)
    return state


def _discharge(state: EncounterState | None, ev: AdtEvent) -> EncounterState:
    """A03: end the encounter at PV1-45 (else the event time) and close its movement."""
    end = ev.discharge_time or ev.when
    if state is None:
        start = ev.admit_time or end
        if end < start:
            raise StateConflict("discharge is before the admission")
        state = _new(ev, start)
        _open_at(state, _loc(ev), start)
    elif state.status == CANCELLED:
        raise StateConflict("discharge of a cancelled admission")
    _update_fields(state, ev)
    if state.start is not None and end < state.start:
        raise StateConflict("discharge is before the admission")
    if state.status == FINISHED:
        _reopen_last(state)  # a corrected discharge: move the end, keep one closed movement
    _close(state, end, "the discharge")
    state.end, state.status = end, FINISHED
    state.discharge_disposition = ev.discharge_disposition or state.discharge_disposition
    return state


def _update(state: EncounterState | None, ev: AdtEvent) -> EncounterState:
    """A08: correct patient and visit fields; a different PV1-3 corrects the current place."""
    if state is None:
        start = ev.admit_time or ev.when
        state = _new(ev, start)
        _open_at(state, _loc(ev), start)
        if ev.discharge_time is not None:
            _close(state, ev.discharge_time, "the discharge")
            state.end, state.status = ev.discharge_time, FINISHED
            state.discharge_disposition = ev.discharge_disposition
        return state
    _update_fields(state, ev)
    if ev.admit_time is not None and ev.admit_time != state.start:
        if state.end is not None and state.end < ev.admit_time:
            raise StateConflict("updated admit time is after the discharge")
        first = state.moves[0] if state.moves else None
        if first is not None and first.start == state.start:
            first.start = ev.admit_time  # the first movement starts with the encounter
        state.start = ev.admit_time
    if state.status == FINISHED and ev.discharge_disposition:
        state.discharge_disposition = ev.discharge_disposition
    current, location = state.open_move, _loc(ev)
    if current is not None and location is not None:
        current.location_id = location
    return state


def _cancel_admit(state: EncounterState | None, ev: AdtEvent) -> EncounterState:
    """A11: the admission did not happen (kept as a ``cancelled`` row, without movements)."""
    if state is None:
        state = _new(ev, ev.admit_time or ev.when, CANCELLED)
        return state
    if state.status == FINISHED:
        raise StateConflict("A11 for a discharged encounter (send A13 first)")
    state.status, state.end, state.moves = CANCELLED, None, []
    return state


def _cancel_transfer(state: EncounterState | None, ev: AdtEvent) -> EncounterState:
    """A12: remove the last movement and open the previous one again."""
    if state is None:
        # Mid-stream feed: the patient is back at PV1-3 (the location before the transfer).
        state = _new(ev, ev.admit_time or ev.when)
        _open_at(state, _loc(ev), state.start or ev.when)
        return state
    if state.status != IN_PROGRESS:
        raise StateConflict(f"A12 for an encounter that is {state.status}")
    if len(state.moves) < 2 or state.open_move is None:
        raise StateConflict("A12 but the encounter has no transfer to cancel", UNKNOWN_KEY)
    state.moves.pop()
    _reopen_last(state)
    return state


def _cancel_discharge(state: EncounterState | None, ev: AdtEvent) -> EncounterState:
    """A13: the patient is still here: clear the end, reopen the last movement."""
    if state is None:
        state = _new(ev, ev.admit_time or ev.when)
        _open_at(state, _loc(ev), state.start or ev.when)
        return state
    if state.status != FINISHED:
        raise StateConflict(f"A13 for an encounter that is {state.status}", UNKNOWN_KEY)
    state.status, state.end, state.discharge_disposition = IN_PROGRESS, None, None
    _reopen_last(state)
    return state


_APPLY = {
    "A01": _admit,
    "A04": _admit,
    "A02": _transfer,
    "A03": _discharge,
    "A08": _update,
    "A11": _cancel_admit,
    "A12": _cancel_transfer,
    "A13": _cancel_discharge,
}


def apply(state: EncounterState | None, ev: AdtEvent) -> EncounterState:
    """``state`` after ``ev``; the input is not modified, so a conflict leaves it intact."""
    copy = None
    if state is not None:
        copy = replace(state, moves=[replace(m) for m in state.moves])
    return _APPLY[ev.trigger](copy, ev)
