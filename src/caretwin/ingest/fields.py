"""Small, typed accessors over parsed FHIR JSON that raise :class:`InvalidRecord` on bad shapes.

Validation is hand-written rather than done with ``fhir.resources`` models: ingestion only needs
the handful of fields the normalized tables use, and full pydantic FHIR models cost one to two
orders of magnitude in throughput (and would reject whole records over fields the lake never
reads). Every accessor names the FHIR path in its error, which becomes the quarantine reason.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from caretwin.fhir.dates import DateFormatError, parse_date, parse_datetime
from caretwin.ingest.records import InvalidRecord


def obj(value: Any, path: str) -> dict[str, Any]:
    """``value`` as a JSON object; ``{}`` when absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRecord(f"{path} must be an object")
    return value


def text(value: Any, path: str) -> str | None:
    """``value`` as a string; None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRecord(f"{path} must be a string")
    return value


def require_text(res: dict[str, Any], key: str, rtype: str) -> str:
    value = text(res.get(key), f"{rtype}.{key}")
    if not value:
        raise InvalidRecord(f"{rtype}.{key} is required")
    return value


def require_present(res: dict[str, Any], key: str, rtype: str) -> None:
    if not res.get(key):
        raise InvalidRecord(f"{rtype}.{key} is required")


def coding(value: Any, path: str) -> tuple[str | None, str | None, str | None]:
    """(system, code, display) of a Coding."""
    c = obj(value, path)
    return (
        text(c.get("system"), f"{path}.system"),
        text(c.get("code"), f"{path}.code"),
        text(c.get("display"), f"{path}.display"),
    )


def concept(value: Any, path: str) -> tuple[str | None, str | None, str | None]:
    """(system, code, display) of a CodeableConcept's first coding; display falls back to text."""
    cc = obj(value, path)
    codings = cc.get("coding")
    system = code = display = None
    if isinstance(codings, list) and codings:
        system, code, display = coding(codings[0], f"{path}.coding[0]")
    return system, code, display or text(cc.get("text"), f"{path}.text")


def instant(value: Any, path: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except DateFormatError as exc:
        raise InvalidRecord(f"{path}: {exc}") from None


def day(value: Any, path: str) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except DateFormatError as exc:
        raise InvalidRecord(f"{path}: {exc}") from None


def ordered(start: datetime | None, end: datetime | None, path: str) -> None:
    if start is not None and end is not None and end < start:
        raise InvalidRecord(f"{path} end is before start")


def period(value: Any, path: str) -> tuple[datetime | None, datetime | None]:
    """(start, end) of a Period, in UTC, checked to be in order."""
    p = obj(value, path)
    start = instant(p.get("start"), f"{path}.start")
    end = instant(p.get("end"), f"{path}.end")
    ordered(start, end, path)
    return start, end


def identifier_value(value: Any, path: str, prefer_system: str | None = None) -> str | None:
    """The value of the identifier with ``prefer_system``, else of the first identifier."""
    if not isinstance(value, list):
        return None
    idents = [i for i in value if isinstance(i, dict) and isinstance(i.get("value"), str)]
    for ident in idents:
        if prefer_system is not None and ident.get("system") == prefer_system:
            return str(ident["value"])
    return str(idents[0]["value"]) if idents else None
