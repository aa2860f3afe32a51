"""What the feeders of one ingest add to it, before DuckDB sees any of it.

An :class:`IngestBatch` collects, per feeder call: candidate records (parsed chunks spooled to
Parquet by :mod:`~caretwin.ingest.parse`), normalized rows by table and key (HL7 v2 state),
lineage rows (HL7 messages kept in ``resources``), table rows that go with a candidate record
(a work order's row, kept only if its record wins), and quarantine rows with file, line and
reason. It holds no DuckDB connection: :class:`~caretwin.ingest.stage.Stage` reads it, once
every feeder has run, and a feeder that must see this ingest's staged rows (HL7 v2 events apply
on top of the FHIR encounters of the same ingest) returns an :data:`AfterStage` step, which the
pipeline can only call with what the stage produced.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from caretwin.ingest.parse import ORD_SHIFT, Chunk, Parsed
from caretwin.ingest.shapes import Reads, view_reads
from caretwin.ingest.tables import native_views
from caretwin.lake import TABLE_KEYS, Lake
from caretwin.lake.counts import TypeCounts
from caretwin.views import View, all_views

__all__ = ["AfterStage", "IngestBatch", "IngestViews", "Laps", "StagedRows"]

UNKNOWN_TYPE = "(unknown)"
#: Set to ``0`` to run every view compiled in DuckDB at commit instead of natively in the
#: parse workers (the same tables; for comparison and diagnosis).
NATIVE_VIEWS_ENV = "CARETWIN_INGEST_NATIVE_VIEWS"


class StagedRows(Protocol):
    """This ingest's staged rows, as the stage computed them (read by an :data:`AfterStage`)."""

    def rows(self, table: str) -> dict[str, list[dict[str, Any]]]: ...


#: A feeder's second step, run once the stage has classified the batch's candidates and run
#: the views: it reads the staged rows and adds to the batch (HL7 v2 events).
AfterStage = Callable[[StagedRows], object]


@dataclass(frozen=True)
class IngestViews:
    """The ViewDefinitions one ingest runs, and which of them the parse workers run natively."""

    views: dict[str, View]
    hashes: dict[str, str]
    native: tuple[tuple[str, str], ...]
    reads: Reads

    @classmethod
    def load(cls, views_root: Path) -> IngestViews:
        found = all_views(views_root)
        views = {name: e.view for name, e in found.items() if name in TABLE_KEYS}
        hashes = {name: e.sha256 for name, e in found.items() if name in views}
        native = native_views(views) if os.environ.get(NATIVE_VIEWS_ENV, "1") != "0" else ()
        # what every view reads is type-checked in the parse workers, whatever engine runs it
        return cls(views, hashes, native, view_reads(views.values()))


class Laps:
    """Wall seconds per phase of one ingest (reported, for benchmarks)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, phase: str) -> None:
        """Charge the time since the last lap to ``phase``."""
        now = time.perf_counter()
        self.phases[phase] = round(self.phases.get(phase, 0.0) + now - self._clock, 3)
        self._clock = now


@dataclass
class Spooled:
    """The batch's candidate records as the stage reads them."""

    files: list[str] = field(default_factory=list)
    types: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    view_files: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    view_errors: set[str] = field(default_factory=set)


class IngestBatch:
    """One ingest's input, fed by feeders; see the module doc."""

    def __init__(
        self,
        lake: Lake,
        views: IngestViews,
        spool_dir: Path,
        lines: Mapping[Path, set[int]] | None = None,
        workers: int | None = None,
    ) -> None:
        #: the lake as it was (read-only: feeders look up what it holds)
        self.lake = lake
        self.views = views
        #: the lines to read again of some files (a retry); parse ``workers`` (None: automatic)
        self.lines: Mapping[Path, set[int]] = lines or {}
        self.workers = workers
        self.records = 0
        self.counts: dict[str, TypeCounts] = defaultdict(TypeCounts)
        self.quarantined: list[dict[str, Any]] = []
        #: what this ingest read in full (files) or again (lines of a file): their old
        #: quarantine rows that this run does not refuse again leave the quarantine
        self.reread_files: set[str] = set()
        self.reread_lines: set[tuple[str, int]] = set()
        self.spooled = Spooled()
        self.lineage: list[dict[str, Any]] = []
        self._rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self._record_rows: dict[int, tuple[str, dict[str, Any]]] = {}
        self._spool_dir = spool_dir
        self._chunks = 0

    # -- what was read -------------------------------------------------------------------

    def read_whole(self, path: Path) -> None:
        """``path`` is read in full: its old quarantine rows not refused again are dropped."""
        self.reread_files.add(path.as_posix())

    def read_lines(self, path: Path, lines: Iterable[int]) -> None:
        self.reread_lines.update((path.as_posix(), n) for n in lines)

    def add_records(self, n: int) -> None:
        self.records += n

    def count(self, rtype: str, *, added: int = 0, unchanged: int = 0) -> None:
        counts = self.counts[rtype]
        counts.added += added
        counts.unchanged += unchanged

    # -- candidate records (classified by the stage) --------------------------------------

    def assign(self, chunk: Chunk) -> Chunk:
        """Give ``chunk`` its index and spool file (in input order, before parsing)."""
        chunk.index = self._chunks
        chunk.out = str(self._spool_dir / f"{self._chunks:08d}.parquet")
        chunk.views = self.views.native
        chunk.reads = self.views.reads
        self._chunks += 1
        return chunk

    def add_parsed(self, parsed: Parsed) -> None:
        """Take the outcome of a parsed chunk (in input order)."""
        self.records += parsed.records
        for row in parsed.quarantine:
            self.add_quarantine(row)
        if parsed.path is not None:
            self.spooled.files.append(parsed.path)
            self.spooled.types.append((parsed.path, parsed.types))
        for table, path in parsed.view_files.items():
            self.spooled.view_files[table].append(path)
        self.spooled.view_errors |= parsed.view_errors

    def add_record_row(self, chunk: Chunk, row_index: int, table: str, row: dict[str, Any]) -> None:
        """A ``table`` row that lands only if record ``row_index`` of ``chunk`` becomes current."""
        self._record_rows[(chunk.index << ORD_SHIFT) + row_index] = (table, row)

    def record_row(self, ord_: int) -> tuple[str, dict[str, Any]]:
        return self._record_rows[ord_]

    def record_ords(self) -> list[int]:
        return list(self._record_rows)

    # -- rows and lineage -----------------------------------------------------------------

    def rows(self, table: str) -> Mapping[str, list[dict[str, Any]]]:
        """The rows fed so far of ``table``, by key (read-only)."""
        return self._rows.get(table, {})

    def add_rows(self, table: str, key: str, rows: list[dict[str, Any]]) -> None:
        """``rows`` replace every row of ``table`` under ``key`` (the lake's latest-wins merge)."""
        self._rows.setdefault(table, {})[key] = rows

    def table_rows(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        return {t: dict(v) for t, v in self._rows.items()}

    def add_lineage(self, row: dict[str, Any]) -> None:
        """A raw ``resources`` row kept for lineage only (deduplicated by its feeder)."""
        self.lineage.append(row)
        self.counts[row["resource_type"]].added += 1

    def lineage_keys(self) -> set[tuple[str, str, str]]:
        return {(r["resource_type"], r["resource_id"], r["content_hash"]) for r in self.lineage}

    # -- quarantine -----------------------------------------------------------------------

    def quarantine(
        self, source_file: str, line: int, resource_type: str | None, reason: str, excerpt: str
    ) -> None:
        """Refuse one record: it goes to the quarantine with its file, line and reason."""
        self.add_quarantine(
            {"source_file": source_file, "line": line, "resource_type": resource_type,
             "reason": reason, "excerpt": excerpt}
        )  # fmt: skip

    def add_quarantine(self, row: dict[str, Any]) -> None:
        self.counts[row["resource_type"] or UNKNOWN_TYPE].quarantined += 1
        self.quarantined.append(row)
