"""A typed, forgiving view of one parsed message, over the ``hl7`` library.

``hl7`` does the parsing (separators from MSH-1/MSH-2, repetitions, components, escape
sequences such as ``\\T\\``); this module only adds what mapping needs: absent fields and
components read as ``""`` instead of raising, and HL7 ``DTM`` timestamps checked against the
grammar before ``hl7.parse_datetime`` reads them (it accepts a valid prefix and ignores the rest,
so ``2025-01-06`` would silently become 2025-01-01).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import hl7

_DTM = re.compile(
    r"\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,4})?)?)?)?)?)?(?:[+-]\d{4})?"
)


class Er7Error(ValueError):
    """The text is not an HL7 v2 message the library can parse."""


class TimestampError(ValueError):
    """A DTM field that does not follow the HL7 grammar (the value is never quoted: PHI)."""


class Er7:
    """One parsed message."""

    def __init__(self, text: str) -> None:
        if not text.startswith("MSH") or len(text) < 8:
            raise Er7Error("does not start with an MSH segment")
        try:
            self._msg: Any = hl7.parse(text)
        except Exception as exc:  # the library raises several unrelated types on bad input
            raise Er7Error(f"unparseable ({exc.__class__.__name__})") from None

    def has(self, segment: str) -> bool:
        try:
            self._msg.segment(segment)
        except KeyError:
            return False
        return True

    def get(self, segment: str, field: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
        """One leaf value (unescaped), ``""`` where the segment, field or part is absent."""
        try:
            value = self._msg.extract_field(segment, 1, field, rep, comp, sub)
        except (KeyError, IndexError):
            return ""
        text = str(value).strip()
        return "" if text == '""' else text  # HL7's explicit null reads as absent

    def repetitions(self, segment: str, field: int) -> int:
        """How many repetitions field ``segment-field`` has (0 if absent)."""
        try:
            seg = self._msg.segment(segment)
        except KeyError:
            return 0
        if field >= len(seg):
            return 0
        return len(seg(field)) if str(seg(field)) else 0

    def segment_text(self, segment: str) -> str:
        try:
            return str(self._msg.segment(segment))
        except KeyError:
            return ""

    @property
    def message(self) -> Any:
        """The library's ``hl7.Message`` (used to build ACKs)."""
        return self._msg


def parse_dtm(value: str) -> datetime | None:
    """An HL7 ``DTM`` as an aware UTC datetime; ``None`` for an empty value.

    A value without a UTC offset is read as UTC, the same lenient rule FHIR ingestion applies to
    zone-less times: HL7 says such a time is the sender's local time, which the message does not
    name, and dropping the event would lose more than a fixed offset costs.
    """
    if not value:
        return None
    if _DTM.fullmatch(value) is None:
        raise TimestampError("not an HL7 DTM timestamp")
    try:
        parsed: datetime = hl7.parse_datetime(value)
    except (ValueError, OverflowError):
        raise TimestampError("invalid timestamp (a part is out of range)") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(value: str) -> date | None:
    """The date part of an HL7 ``DT``/``DTM`` (birth dates carry a time in some feeds)."""
    parsed = parse_dtm(value)
    if parsed is None:
        return None
    # Birth date is a calendar date in the sender's frame: take it before any offset shift.
    return date(int(value[0:4]), int(value[4:6] or 1), int(value[6:8] or 1))
