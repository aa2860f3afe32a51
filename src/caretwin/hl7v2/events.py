"""One ADT message checked and read into an :class:`AdtEvent` (or refused with a reason).

Only what the lake needs is read: MSH (type, control id, time), EVN (recorded and occurred
times), PID (MRN, birth date, sex) and PV1 (class, locations, admit source, visit number,
disposition, admit and discharge times). A message is refused when it cannot be identified or
placed: no MSH, not ADT, an unsupported trigger, no control id, no PID-3, no PV1, an unknown
patient class, no visit number nor fallback, a malformed timestamp, or a discharge time before
the admit time. Reasons name fields, never values, since values are PHI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from caretwin.hl7v2 import codes, ids
from caretwin.hl7v2.er7 import Er7, Er7Error, TimestampError, parse_date, parse_dtm
from caretwin.hl7v2.ids import PointOfCare

#: Supported trigger events and what they mean.
TRIGGERS: dict[str, str] = {
    "A01": "admit",
    "A02": "transfer",
    "A03": "discharge",
    "A04": "register",
    "A08": "update",
    "A11": "cancel admit",
    "A12": "cancel transfer",
    "A13": "cancel discharge",
}
#: Triggers whose PV1-3 must name a place (where the patient goes, or returns to).
NEEDS_LOCATION = {"A02", "A12"}

# HL7 table 0357 message error condition codes used in ERR-3 (docs/hl7v2.md has the table).
SEGMENT_SEQUENCE_ERROR = "100"  # no MSH, segments before MSH, PID or PV1 missing
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"  # a malformed timestamp, times in the wrong order
TABLE_VALUE_NOT_FOUND = "103"  # PV1-2 not in table 0004
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT = "201"
UNKNOWN_KEY = "204"  # a cancel of something the encounter does not have
DUPLICATE_KEY = "205"  # a control id already used for a different message (a collision)
STORE_FAILED = "206"  # not stored (storage failed, or an internal error): send again
INTERNAL_ERROR = "207"  # the event contradicts the encounter's state (A11 after discharge)
#: Codes whose refusal is not a verdict on the message: never cached, a resend is read afresh.
TRANSIENT_CODES = frozenset({STORE_FAILED})


class InvalidMessage(ValueError):
    """A message refused. ``ack`` is the MSA-1 code to answer (``AR`` reject, ``AE`` error),
    ``code`` the HL7 table 0357 code and ``where`` the ERR-2 location (``PV1^1^19``)."""

    def __init__(self, reason: str, code: str, where: str = "", ack: str = "AE") -> None:
        super().__init__(reason)
        self.reason, self.code, self.where, self.ack = reason, code, where, ack


@dataclass(frozen=True, slots=True)
class Header:
    """What every message has, even one refused later: enough to key, order and answer it."""

    message_type: str  # "ADT^A01"
    trigger: str
    control_id: str
    sender: str  # MSH-3 and MSH-4 namespaces, "ADTApp@GHHSFacility"
    message_time: datetime

    @property
    def resource_type(self) -> str:
        return f"HL7v2:{self.message_type}"

    @property
    def key(self) -> str:
        """The dedup key: a retransmission repeats the sender and MSH-10 of the original."""
        return f"{self.sender}:{self.control_id}"


@dataclass(frozen=True, slots=True)
class AdtEvent:
    header: Header
    recorded: datetime | None  # EVN-2
    occurred: datetime | None  # EVN-6
    patient_id: str
    mrn: str
    gender: str | None
    birth_date: date | None
    encounter_id: str
    class_code: str
    location: PointOfCare | None
    prior_location: PointOfCare | None
    admit_source: str | None
    discharge_disposition: str | None
    admit_time: datetime | None  # PV1-44
    discharge_time: datetime | None  # PV1-45

    @property
    def trigger(self) -> str:
        return self.header.trigger

    @property
    def when(self) -> datetime:
        """When the event happened: EVN-6, else EVN-2, else MSH-7."""
        return self.occurred or self.recorded or self.header.message_time

    @property
    def order(self) -> tuple[datetime, datetime]:
        """Sort key (before arrival order): MSH-7, then EVN-2."""
        return (self.header.message_time, self.recorded or self.header.message_time)


def _time(msg: Er7, segment: str, field: int, required: bool = False) -> datetime | None:
    value = msg.get(segment, field)
    where = f"{segment}^1^{field}"
    ack = "AR" if segment == "MSH" else "AE"  # a broken header can never be accepted
    if not value:
        if required:
            raise InvalidMessage(
                f"{segment}-{field} is required", REQUIRED_FIELD_MISSING, where, ack=ack
            )
        return None
    try:
        return parse_dtm(value)
    except TimestampError as exc:
        raise InvalidMessage(f"{segment}-{field}: {exc}", DATA_TYPE_ERROR, where, ack=ack) from None


def read_header(msg: Er7) -> Header:
    """MSH checked: an ADT message of a supported trigger with a control id and a time."""
    mtype, trigger = msg.get("MSH", 9, 1, 1).upper(), msg.get("MSH", 9, 1, 2).upper()
    if mtype != "ADT":
        raise InvalidMessage(
            "MSH-9 is not an ADT message", UNSUPPORTED_MESSAGE_TYPE, "MSH^1^9", ack="AR"
        )
    if trigger not in TRIGGERS:
        raise InvalidMessage(
            "MSH-9 trigger event is not supported", UNSUPPORTED_EVENT, "MSH^1^9", ack="AR"
        )
    control_id = msg.get("MSH", 10)
    if not control_id:
        raise InvalidMessage(
            "MSH-10 message control id is required", REQUIRED_FIELD_MISSING, "MSH^1^10", ack="AR"
        )
    message_time = _time(msg, "MSH", 7, required=True)
    assert message_time is not None
    sender = f"{msg.get('MSH', 3)}@{msg.get('MSH', 4)}"
    return Header(f"ADT^{trigger}", trigger, control_id, sender, message_time)


def _point_of_care(msg: Er7, field: int) -> PointOfCare | None:
    poc = PointOfCare(
        facility=msg.get("PV1", field, 1, 4),
        unit=msg.get("PV1", field, 1, 1),
        room=msg.get("PV1", field, 1, 2),
        bed=msg.get("PV1", field, 1, 3),
    )
    return None if poc.empty else poc


def _mrn(msg: Er7) -> tuple[str, str]:
    """(authority, value) of PID-3: the repetition typed ``MR``, else the first one."""
    reps = max(msg.repetitions("PID", 3), 1)
    chosen = 1
    for rep in range(1, reps + 1):
        if msg.get("PID", 3, rep, 5).upper() == "MR" and msg.get("PID", 3, rep, 1):
            chosen = rep
            break
    value = msg.get("PID", 3, chosen, 1)
    if not value:
        raise InvalidMessage(
            "PID-3 patient identifier is required", REQUIRED_FIELD_MISSING, "PID^1^3"
        )
    return _authority(msg, "PID", 3, chosen), value


def _authority(msg: Er7, segment: str, field: int, rep: int = 1) -> str:
    """CX.4 assigning authority (namespace&universal id&type); the sender when absent."""
    parts = [msg.get(segment, field, rep, 4, sub) for sub in (1, 2, 3)]
    text = "&".join(parts).strip("&")
    return text or f"{msg.get('MSH', 3)}@{msg.get('MSH', 4)}"


def _encounter_id(msg: Er7, mrn_key: tuple[str, str], admit: datetime | None) -> str:
    """PV1-19 visit number; else PID-18 account number; else MRN and PV1-44 admit time."""
    for segment, field in (("PV1", 19), ("PID", 18)):
        visit = msg.get(segment, field, 1, 1)
        if visit:
            return ids.encounter_id(_authority(msg, segment, field), visit)
    if admit is not None:
        return ids.encounter_id(f"mrn:{mrn_key[0]}", f"{mrn_key[1]}@{admit.isoformat()}")
    raise InvalidMessage(
        "no visit number: PV1-19, PID-18 or PV1-44 (with PID-3) is required",
        REQUIRED_FIELD_MISSING,
        "PV1^1^19",
    )


def _code(msg: Er7, segment: str, field: int) -> str:
    return msg.get(segment, field, 1, 1)


def read_event(msg: Er7) -> AdtEvent:
    """The event of one parsed message, or :class:`InvalidMessage`."""
    header = read_header(msg)
    for segment in ("PID", "PV1"):  # EVN is read when present: some senders omit it
        if not msg.has(segment):
            raise InvalidMessage(f"{segment} segment is required", SEGMENT_SEQUENCE_ERROR, segment)
    recorded = _time(msg, "EVN", 2)
    occurred = _time(msg, "EVN", 6)
    authority, mrn = _mrn(msg)
    try:
        birth = parse_date(msg.get("PID", 7))
    except TimestampError as exc:
        raise InvalidMessage(f"PID-7: {exc}", DATA_TYPE_ERROR, "PID^1^7") from None
    pclass = _code(msg, "PV1", 2).upper()
    if not pclass:
        raise InvalidMessage("PV1-2 patient class is required", REQUIRED_FIELD_MISSING, "PV1^1^2")
    if pclass not in codes.PATIENT_CLASS:
        raise InvalidMessage(
            "PV1-2 patient class is not in HL7 table 0004", TABLE_VALUE_NOT_FOUND, "PV1^1^2"
        )
    admit = _time(msg, "PV1", 44)
    discharge = _time(msg, "PV1", 45)
    if admit is not None and discharge is not None and discharge < admit:
        raise InvalidMessage(
            "PV1-45 discharge time is before PV1-44 admit time", DATA_TYPE_ERROR, "PV1^1^45"
        )
    location = _point_of_care(msg, 3)
    if header.trigger in NEEDS_LOCATION and location is None:
        raise InvalidMessage(
            f"PV1-3 assigned location is required for {header.trigger}",
            REQUIRED_FIELD_MISSING,
            "PV1^1^3",
        )
    disposition = _code(msg, "PV1", 36)
    if disposition.isdigit() and len(disposition) == 1:
        disposition = disposition.zfill(2)  # table 0112 codes are two digits
    return AdtEvent(
        header=header,
        recorded=recorded,
        occurred=occurred,
        patient_id=ids.patient_id(authority, mrn),
        mrn=mrn,
        gender=codes.GENDER.get(_code(msg, "PID", 8).upper()),
        birth_date=birth,
        encounter_id=_encounter_id(msg, (authority, mrn), admit),
        class_code=codes.PATIENT_CLASS[pclass],
        location=location,
        prior_location=_point_of_care(msg, 6),
        admit_source=codes.mapped(codes.ADMIT_SOURCE, _code(msg, "PV1", 14)),
        discharge_disposition=codes.mapped(codes.DISCHARGE_DISPOSITION, disposition),
        admit_time=admit,
        discharge_time=discharge,
    )


def parse_event(text: str) -> AdtEvent:
    """Parse and read one message's text; refusals raise :class:`InvalidMessage`."""
    try:
        msg = Er7(text)
    except Er7Error as exc:
        raise InvalidMessage(str(exc), SEGMENT_SEQUENCE_ERROR, "MSH", ack="AR") from None
    return read_event(msg)
