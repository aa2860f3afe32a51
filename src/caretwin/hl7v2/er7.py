"""A typed, forgiving reader of one ER7 (pipe-and-hat) message, and HL7 ``DTM`` timestamps.

The grammar is small: segments end at ``\\r``, fields split at MSH-1, then repetitions,
components and subcomponents at the MSH-2 encoding characters, with escape sequences such as
``\\T\\``. This module reads it itself instead of through ``hl7.parse``, because on hostile
input that library (0.4.x) logs whole field values (PHI) on an unknown escape, raises
``ValueError`` on ``\\.brX\\``, expands ``\\.sk2000000000\\`` into gigabytes, and raises
assorted exceptions on odd encoding characters. Here the only exception is :class:`Er7Error`,
raised once, at construction, for a header that defines no usable separators; nothing is
logged; every value is bounded by the message's own length.

Reading follows the ``hl7`` library's compatibility rules: absent segments, fields, repetitions,
components and subcomponents read as ``""``; asking for component 1 of a field that has
components returns the first; HL7's explicit null ``""`` reads as absent. Unknown escape
sequences (locally defined ``\\Z..\\``, formatting, character-set switches) are dropped, as the
standard allows; an escape character without its closing one is kept as sent.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta, timezone

_SEGMENT_END = re.compile(r"[\r\n]+")
_DTM = re.compile(
    r"(?P<Y>\d{4})(?:(?P<m>\d{2})(?:(?P<d>\d{2})(?:(?P<H>\d{2})(?:(?P<M>\d{2})"
    r"(?:(?P<S>\d{2})(?:\.(?P<f>\d{1,4}))?)?)?)?)?)?(?P<z>[+-]\d{4})?"
)
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")


class Er7Error(ValueError):
    """The text is not an HL7 v2 message that can be read (the reason never quotes values)."""


class TimestampError(ValueError):
    """A DTM field that does not follow the HL7 grammar (the value is never quoted: PHI)."""


def _bad_separator(char: str) -> bool:
    return char.isalnum() or char.isspace() or not char.isprintable()


class Er7:
    """One message, split into segments and fields; values are read lazily."""

    def __init__(self, text: str) -> None:
        if not text.startswith("MSH") or len(text) < 8:
            raise Er7Error("does not start with an MSH segment")
        fs = text[3]
        if _bad_separator(fs):
            raise Er7Error("MSH-1 field separator is not a usable separator")
        head = _SEGMENT_END.split(text, 1)[0]
        end = head.find(fs, 4)
        enc = head[4:end] if end >= 0 else head[4:]
        # component, repetition, escape, subcomponent (and truncation, v2.7): at least the first
        # two, all distinct from each other and from the field separator.
        if not 2 <= len(enc) <= 5 or len(set(enc + fs)) != len(enc) + 1:
            raise Er7Error("MSH-2 encoding characters are not usable separators")
        if any(_bad_separator(c) for c in enc):
            raise Er7Error("MSH-2 encoding characters are not usable separators")
        self.fs, self.comp, self.rep = fs, enc[0], enc[1]
        self.esc = enc[2] if len(enc) > 2 else ""
        self.sub = enc[3] if len(enc) > 3 else ""
        self._segments: dict[str, list[str]] = {}
        self._lines: dict[str, str] = {}
        for line in _SEGMENT_END.split(text):
            if not line:
                continue
            if line.startswith("MSH"):
                rest = line[4 + len(enc) + 1 :] if end >= 0 else ""
                fields = ["MSH", fs, enc, *rest.split(fs)] if end >= 0 else ["MSH", fs, enc]
            else:
                fields = line.split(fs)
            # The first occurrence is the one ADT mapping reads (one PID, one PV1 per message).
            self._segments.setdefault(fields[0], fields)
            self._lines.setdefault(fields[0], line)

    def has(self, segment: str) -> bool:
        return segment in self._segments

    def _raw(self, segment: str, field: int) -> str:
        fields = self._segments.get(segment)
        if fields is None or not 0 < field < len(fields):
            return ""
        return fields[field]

    def get(self, segment: str, field: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
        """One leaf value (unescaped), ``""`` where the segment, field or part is absent."""
        raw = self._raw(segment, field)
        if segment == "MSH" and field in (1, 2):
            return raw if (rep, comp, sub) == (1, 1, 1) else ""
        value = _nth(_nth(raw, self.rep, rep), self.comp, comp)
        value = _nth(value, self.sub, sub) if self.sub else (value if sub == 1 else "")
        text = self.unescape(value).strip()
        return "" if text == '""' else text

    def repetitions(self, segment: str, field: int) -> int:
        """How many repetitions field ``segment-field`` has (0 if absent)."""
        raw = self._raw(segment, field)
        return len(raw.split(self.rep)) if raw else 0

    def segment_text(self, segment: str) -> str:
        """The first ``segment`` as sent (separators and escapes untouched), ``""`` if absent."""
        return self._lines.get(segment, "")

    def unescape(self, value: str) -> str:
        esc = self.esc
        if not esc or esc not in value:
            return value
        out: list[str] = []
        i = 0
        while i < len(value):
            j = value.find(esc, i)
            if j < 0:
                out.append(value[i:])
                break
            out.append(value[i:j])
            k = value.find(esc, j + 1)
            if k < 0:  # no closing escape character: kept as sent
                out.append(value[j:])
                break
            out.append(self._sequence(value[j + 1 : k]))
            i = k + 1
        return "".join(out)

    def _sequence(self, seq: str) -> str:
        named = {"F": self.fs, "S": self.comp, "T": self.sub, "R": self.rep, "E": self.esc}
        if seq in named:
            return named[seq]
        if seq[:1] == "X" and _HEX.fullmatch(seq[1:]):
            data = bytes.fromhex(seq[1:])
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                return data.decode("latin-1")
        return ""  # formatting, highlighting, charset switches, local (Z) sequences: dropped


def _nth(text: str, sep: str, n: int) -> str:
    """The ``n``-th (1-based) part of ``text`` split at ``sep``; ``""`` if there is none."""
    if n == 1:
        return text.split(sep, 1)[0]
    parts = text.split(sep)
    return parts[n - 1] if 0 < n <= len(parts) else ""


def _read_dtm(value: str) -> tuple[datetime, timedelta | None]:
    """The local date-time a DTM names and its UTC offset (``None`` when it has none)."""
    match = _DTM.fullmatch(value)
    if match is None:
        raise TimestampError("not an HL7 DTM timestamp")
    g = match.groupdict()
    frac = g["f"] or ""
    try:
        local = datetime(
            int(g["Y"]),
            int(g["m"] or 1),
            int(g["d"] or 1),
            int(g["H"] or 0),
            int(g["M"] or 0),
            int(g["S"] or 0),
            int(frac.ljust(6, "0")),
        )
    except ValueError:
        raise TimestampError("invalid timestamp (a part is out of range)") from None
    zone = g["z"]
    if zone is None:
        return local, None
    hours, minutes = int(zone[1:3]), int(zone[3:5])
    if hours > 23 or minutes > 59:
        raise TimestampError("invalid timestamp (the UTC offset is out of range)")
    offset = timedelta(hours=hours, minutes=minutes)
    return local, -offset if zone[0] == "-" else offset


def parse_dtm(value: str) -> datetime | None:
    """An HL7 ``DTM`` as an aware UTC datetime; ``None`` for an empty value.

    A value without a UTC offset is read as UTC, the same lenient rule FHIR ingestion applies to
    zone-less times: HL7 says such a time is the sender's local time, which the message does not
    name, and dropping the event would lose more than a fixed offset costs.
    """
    if not value:
        return None
    local, offset = _read_dtm(value)
    if offset is None:
        return local.replace(tzinfo=UTC)
    try:
        return local.replace(tzinfo=timezone(offset)).astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted past the calendar's ends
        raise TimestampError("invalid timestamp (out of range in UTC)") from None


def parse_date(value: str) -> date | None:
    """The date part of an HL7 ``DT``/``DTM`` (birth dates carry a time in some feeds)."""
    if not value:
        return None
    # Birth date is a calendar date in the sender's frame: taken before any offset shift.
    return _read_dtm(value)[0].date()


def silence_hl7_library_logs() -> None:
    """Drop every record of the ``hl7`` library's loggers: they quote whole field values.

    CareTwin no longer parses through it, but the listener uses its MLLP streams and tests and
    plugins may call ``hl7.parse``; its loggers are named after their file paths, so they are
    found through the modules.
    """
    import hl7.containers
    import hl7.util

    for module in (hl7.util, hl7.containers):
        logger = getattr(module, "logger", None)
        if isinstance(logger, logging.Logger):
            logger.handlers[:] = [logging.NullHandler()]
            logger.propagate = False
            logger.setLevel(logging.CRITICAL + 1)
            logger.disabled = True
