"""FHIR ``date`` / ``dateTime`` / ``instant`` parsing into UTC.

FHIR allows partial dates (``2025``, ``2025-01``) and requires a time zone whenever a time is
given. The parser is strict about the shape (a regular expression of the FHIR grammar, since
:func:`datetime.fromisoformat` also accepts forms FHIR forbids, like ``20250106``) and lenient in
two documented ways: a partial date means its first instant, and a time without a zone is read
as UTC (the generator always writes ``Z``; real feeds that omit it are treated the same way rather
than losing the record). Offsets are converted, so ``10:00-04:00`` becomes ``14:00Z``.

Error messages never quote the value: a birth date is PHI, and reasons are shown by
``caretwin lake quarantine``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache

_DATE_TIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


class DateFormatError(ValueError):
    """A value that is not a FHIR date or dateTime."""


def parse_datetime(value: object) -> datetime:
    """A FHIR dateTime as an aware UTC datetime (microsecond precision).

    Only strings reach the cache: a list or an object in a date field is unhashable, and the
    cache would raise TypeError instead of saying what is wrong.
    """
    if type(value) is not str:
        raise DateFormatError(f"not a dateTime string: {_kind(value)}")
    return _parse_datetime(value)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


@lru_cache(maxsize=8192)
def _parse_datetime(value: str) -> datetime:
    """Cached: the same instant recurs within a resource (an encounter's end is its last
    location's end) and across resources, and parsing is the largest cost of normalizing an
    Encounter."""
    if (
        len(value) == 20
        and value[4] == value[7] == "-"
        and value[10] == "T"
        and value[13] == value[16] == ":"
        and value[19] == "Z"
        and value.isascii()
    ):
        # the common shape, 2025-01-06T08:30:00Z, without the regex: with every separator in
        # place fromisoformat accepts only digits in the other places (else it raises and the
        # checked path below gives the error)
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    m = _DATE_TIME.fullmatch(value)
    if m is None:
        raise DateFormatError("not a FHIR dateTime")
    try:
        if m.group(4) is None:
            year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
            return datetime(year, month, day, tzinfo=UTC)
        text = value if m.group(7) else value + "Z"
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):  # a field out of range; or year 1 / 9999 shifted out
        raise DateFormatError("invalid dateTime (a field is out of range)") from None


def parse_date(value: object) -> date:
    """A FHIR date (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; partial means the first day)."""
    if type(value) is not str:
        raise DateFormatError(f"not a date string: {_kind(value)}")
    m = _DATE.fullmatch(value)
    if m is None:
        raise DateFormatError("not a FHIR date")
    try:
        return date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
    except ValueError:
        raise DateFormatError("invalid date (a field is out of range)") from None
