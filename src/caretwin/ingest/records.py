"""What the readers hand to the pipeline: one :class:`Record` per input resource or CSV row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Kind of a record: a FHIR resource, or a row of a CMMS work-order CSV.
FHIR = "fhir"
WORK_ORDER = "work_order"
#: ``resource_type`` recorded for work-order rows in the raw ``resources`` table.
WORK_ORDER_TYPE = "WorkOrder"
EXCERPT_CHARS = 400


class InvalidRecord(ValueError):
    """A record that cannot enter the lake; ``reason`` goes to the quarantine table."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Record:
    """One input record with its provenance.

    ``line`` is the 1-based line of ``source_file`` (for a bundle entry: the line of the bundle;
    ``entry`` is then the 0-based index in ``Bundle.entry``). ``refs`` maps the enclosing bundle's
    ``fullUrl`` values to resource ids so ``urn:uuid:`` references resolve. ``error`` is set when
    the record could not even be read (bad JSON, not an object): it goes straight to quarantine.
    """

    source_file: str
    line: int
    kind: str = FHIR
    data: dict[str, Any] | None = None
    entry: int | None = None
    refs: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    excerpt: str = ""
    file_type: str | None = None

    @property
    def resource_type(self) -> str | None:
        if self.kind == WORK_ORDER:
            return WORK_ORDER_TYPE
        rt = self.data.get("resourceType") if self.data is not None else None
        return rt if isinstance(rt, str) else None

    def where(self, reason: str) -> str:
        """``reason`` prefixed with the bundle entry it concerns, if any."""
        return reason if self.entry is None else f"Bundle.entry[{self.entry}]: {reason}"
