"""The data-quality report's shape: table profiles and check findings (ids and counts only).

A report never holds record content: findings carry counts, a few example resource ids, and for
code checks the offending code values (only when they look like codes; anything else is withheld,
since a free-text value in a code column could be anything a source system put there).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["ColumnProfile", "Finding", "QualityReport", "TableProfile", "ValueCount"]


class ColumnProfile(BaseModel):
    column: str
    nulls: int
    null_rate: float  # nulls / rows; 0.0 for an empty table


class TableProfile(BaseModel):
    table: str
    rows: int
    columns: list[ColumnProfile] = Field(default_factory=list)


class ValueCount(BaseModel):
    value: str
    count: int


class Finding(BaseModel):
    """One check's outcome over the lake (and the part of it a snapshot delivered)."""

    check: str
    kind: str
    table: str
    column: str
    title: str
    count: int  # offending rows in the table (for overlaps: offending encounters)
    examples: list[str] = Field(default_factory=list)  # a few offending resource ids, sorted
    in_snapshot: int | None = None  # of ``count``, rows whose record the snapshot delivered
    quarantined: int = 0  # records of the snapshot refused at ingest for this defect
    quarantine_examples: list[str] = Field(default_factory=list)  # "file:line"
    value_set: str | None = None
    values: list[ValueCount] = Field(default_factory=list)  # offending codes, most frequent first

    @property
    def total(self) -> int:
        return self.count + self.quarantined


class QualityReport(BaseModel):
    """The data-quality report of one snapshot (or of the whole lake when none is named)."""

    snapshot_id: str | None
    snapshot_data_hash: str | None
    lake_data_hash: str
    # True when the lake is still in the state the snapshot produced; otherwise the tables are
    # evaluated as they are now and ``in_snapshot`` narrows each finding to the snapshot's records.
    current: bool
    tables: list[TableProfile] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    value_sets: dict[str, str] = Field(default_factory=dict)  # id -> code system URL

    @property
    def defects(self) -> int:
        return sum(f.total for f in self.findings)

    def finding(self, check_id: str) -> Finding:
        for f in self.findings:
            if f.check == check_id:
                return f
        raise KeyError(check_id)

    def summary(self) -> dict[str, int]:
        """Defects per check kind (reference, period, overlap, value_set)."""
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + f.total
        return out
