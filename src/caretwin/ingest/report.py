"""The result of one ingest: what was added, what was already there, what was quarantined."""

from __future__ import annotations

from pydantic import BaseModel, Field

from caretwin.lake.counts import TypeCounts

__all__ = ["QUARANTINE_HINT", "IngestReport", "TypeCounts"]

#: Where a user reads why records were quarantined (said by every summary that counts them).
QUARANTINE_HINT = "See why with `caretwin lake quarantine`."


class IngestReport(BaseModel):
    """One ingest's outcome; serialized as the CLI's ``--format json`` output.

    ``snapshot_id`` is the hash over the content hashes this ingest added (the empty-set hash and
    ``no_change`` when it added nothing); ``data_hash`` identifies the whole lake afterwards.
    ``quarantined`` counts records refused in this run, ``quarantine_rows_added`` the rows new to
    the quarantine table (a re-ingest of the same bad file adds none).
    """

    snapshot_id: str
    no_change: bool
    data_hash: str
    counts: dict[str, TypeCounts] = Field(default_factory=dict)
    quarantined: int = 0
    quarantine_rows_added: int = 0
    #: old quarantine rows of records read again and accepted (a corrected file, a retry)
    quarantine_rows_removed: int = 0
    files: list[str] = Field(default_factory=list)
    #: files found in the given folders but not read: ``path (why)`` (manifests, other kinds)
    skipped: list[str] = Field(default_factory=list)
    records: int = 0
    seconds: float = 0.0
    resources_per_second: float = 0.0
    tables: dict[str, int] = Field(default_factory=dict)
    #: wall seconds per pipeline phase (parse, classify, views, tables, raw, hashes, commit)
    phases: dict[str, float] = Field(default_factory=dict)

    @property
    def added(self) -> int:
        return sum(c.added for c in self.counts.values())

    @property
    def all_quarantined(self) -> bool:
        """Records were read and every one was quarantined: nothing landed or was known."""
        landed = sum(c.added + c.unchanged for c in self.counts.values())
        return self.quarantined > 0 and landed == 0
