"""One ingest: read the inputs, validate, dedupe, normalize, and commit a snapshot to the lake.

Every record is content-hashed (sha256 of orjson with sorted keys) and compared with the
``(resource_type, resource_id, content_hash)`` keys already in the lake, so re-ingesting a file
adds nothing and a changed resource lands as a new raw version whose normalized rows replace the
old ones. The raw JSON of added records is spooled to a staging Parquet file while reading (memory
stays bounded by one batch), then copied into the ``resources`` table with the snapshot id, which
is only known once every record has been seen. Everything is written through
:class:`~caretwin.lake.writer.LakeWriter`: an error at any point leaves the lake unchanged.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from caretwin.hl7v2.feed import feed_messages
from caretwin.hl7v2.framing import is_hl7_file, read_messages
from caretwin.ingest.fhirtypes import R4_RESOURCE_TYPES
from caretwin.ingest.merge import LOCATION_REF_COLUMNS, merge, resolve_locations
from caretwin.ingest.normalize import identity, normalize
from caretwin.ingest.records import WORK_ORDER, WORK_ORDER_TYPE, InvalidRecord, Record
from caretwin.ingest.refs import LocationIndex
from caretwin.ingest.report import IngestReport, TypeCounts
from caretwin.ingest.sources import discover, read_file
from caretwin.ingest.workorders import normalize_work_order, work_order_id
from caretwin.lake import SCHEMAS, TABLE_KEYS, TABLES, Lake, LakeWriter, set_hash
from caretwin.lake.catalog import SnapshotEntry

UNKNOWN_TYPE = "(unknown)"
BATCH = 20_000
_SPOOL_SCHEMA = pa.schema([f for f in SCHEMAS["resources"] if f.name != "snapshot_id"])


class _Spool:
    """Rows buffered in batches into a staging Parquet file, replayed once at commit."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self._buf: list[dict[str, Any]] = []
        self._writer: pq.ParquetWriter | None = None

    def add(self, row: dict[str, Any]) -> None:
        self._buf.append(row)
        if len(self._buf) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, self.schema)
            self._writer.write_table(pa.Table.from_pylist(self._buf, schema=self.schema))
            self._buf = []

    def replay(self) -> Iterable[pa.Table]:
        self._flush()
        if self._writer is not None:
            self._writer.close()
            for batch in pq.ParquetFile(self.path).iter_batches(batch_size=BATCH):
                yield pa.Table.from_batches([batch])


class _Ingest:
    """State of one ingest run over a lake opened for writing."""

    def __init__(self, lake: Lake, writer: LakeWriter) -> None:
        self.lake, self.writer = lake, writer
        keys = lake.read_table("resources", ["resource_type", "resource_id", "content_hash"])
        self.known: set[tuple[str, str, str]] = set(
            zip(*(keys[c].to_pylist() for c in keys.column_names), strict=True)
        )
        self.seen: set[tuple[str, str, str]] = set()
        self.added_hashes: list[str] = []
        self.counts: dict[str, TypeCounts] = defaultdict(TypeCounts)
        self.rows: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
        self.quarantine: list[dict[str, Any]] = []
        self.new_locations: list[dict[str, Any]] = []
        self.raw = _Spool(writer.staging / "raw.parquet", _SPOOL_SCHEMA)
        self.records = 0

    def process(self, rec: Record) -> None:
        self.records += 1
        rtype = rec.resource_type
        if rec.error is not None:
            self._quarantine(rec, rtype, rec.error)
            return
        data = rec.data or {}
        try:
            if rec.kind == WORK_ORDER:
                rtype, rid = WORK_ORDER_TYPE, work_order_id(data)
            else:
                rtype, rid = identity(rec)
            canon = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
            key = (rtype, rid, hashlib.sha256(canon).hexdigest())
            if key in self.known or key in self.seen:
                self.counts[rtype].unchanged += 1
                return
            if rec.kind == WORK_ORDER:
                rows = {"work_orders": [normalize_work_order(data)]}
            else:
                rows = normalize(rtype, data, rec.refs)
        except InvalidRecord as exc:
            self._quarantine(rec, rtype, rec.where(exc.reason))
            return
        self.seen.add(key)
        self.added_hashes.append(key[2])
        self.counts[rtype].added += 1
        self.raw.add(
            {
                "resource_type": rtype,
                "resource_id": rid,
                "content_hash": key[2],
                "source_file": rec.source_file,
                "line": rec.line,
                "json": canon.decode(),
            }
        )
        for table, table_rows in rows.items():
            self.rows[table][rid] = table_rows
        if rtype == "Location":
            self.new_locations.append(data)

    def _quarantine(self, rec: Record, rtype: str | None, reason: str) -> None:
        if rtype not in R4_RESOURCE_TYPES and rtype != WORK_ORDER_TYPE:
            rtype = None  # an unknown type is input text, not a type: report it as unknown
        self.counts[rtype or UNKNOWN_TYPE].quarantined += 1
        row = {"source_file": rec.source_file, "line": rec.line, "resource_type": rtype}
        self.quarantine.append({**row, "reason": reason, "excerpt": rec.excerpt})

    def _location_index(self) -> LocationIndex:
        index = LocationIndex()
        old = self.lake.query("SELECT json FROM resources WHERE resource_type = 'Location'")
        index.add_all(orjson.loads(j) for j in old["json"].to_pylist())
        index.add_all(self.new_locations)
        return index

    def commit(self) -> tuple[str, int]:
        """Stage every table change and swap the catalog; (snapshot id, quarantine rows added)."""
        snapshot_id = set_hash(self.added_hashes)
        stream = self.writer.append_stream("resources")
        for part in self.raw.replay():
            ids = pa.array([snapshot_id] * part.num_rows, pa.string())
            stream.write(part.append_column("snapshot_id", ids).select(SCHEMAS["resources"].names))
        q_added = self._stage_quarantine(snapshot_id)
        cached: list[LocationIndex] = []

        def index() -> LocationIndex:
            if not cached:
                cached.append(self._location_index())
            return cached[0]

        for table in TABLE_KEYS:
            new_rows = self.rows.get(table)
            relink = table in LOCATION_REF_COLUMNS and bool(self.new_locations)
            if not new_rows and not relink:
                continue
            data = self.lake.read_table(table)
            if new_rows:
                data = merge(table, data, new_rows)
            changed = bool(new_rows)
            if table in LOCATION_REF_COLUMNS:
                data, relinked = resolve_locations(table, data, index)
                changed = changed or relinked
            if changed:
                self.writer.replace(table, data)
        if self.added_hashes or q_added:
            data_hash = set_hash([k[2] for k in self.known] + self.added_hashes)
            entry = None
            if self.added_hashes:
                entry = SnapshotEntry(
                    snapshot_id=snapshot_id,
                    created_at=datetime.now(UTC).isoformat(),
                    added=len(self.added_hashes),
                    quarantined=len(self.quarantine),
                    no_change=False,
                    data_hash=data_hash,
                )
            self.writer.commit(data_hash, entry)
        return snapshot_id, q_added

    def _stage_quarantine(self, snapshot_id: str) -> int:
        old = self.lake.read_table("quarantine", ["source_file", "line", "reason", "excerpt"])
        seen = set(zip(*(old[c].to_pylist() for c in old.column_names), strict=True))
        rows = []
        for row in self.quarantine:
            key = (row["source_file"], row["line"], row["reason"], row["excerpt"])
            if key not in seen:
                seen.add(key)
                rows.append({"snapshot_id": snapshot_id, **row})
        if rows:
            self.writer.append(
                "quarantine", pa.Table.from_pylist(rows, schema=SCHEMAS["quarantine"])
            )
        return len(rows)


def ingest_paths(lake_dir: Path, paths: Iterable[Path]) -> IngestReport:
    """Ingest files and folders into the lake at ``lake_dir`` as one all-or-nothing snapshot."""
    files = discover(paths)

    def feed(run: _Ingest) -> None:
        hl7_files = [path for path in files if is_hl7_file(path)]
        for path in files:
            if path not in hl7_files:
                for rec in read_file(path):
                    run.process(rec)
        # HL7 v2 ADT events apply to the state of encounters, so they go in after FHIR records.
        if hl7_files:
            feed_messages(run, [m for path in hl7_files for m in read_messages(path)])

    return ingest_feed(lake_dir, feed, [f.as_posix() for f in files])


def ingest_feed(lake_dir: Path, feed: Callable[[_Ingest], None], files: list[str]) -> IngestReport:
    """One all-or-nothing snapshot of whatever ``feed`` adds to the run (files, an HL7 batch)."""
    started = time.perf_counter()
    lake = Lake(lake_dir)
    with LakeWriter(lake_dir) as writer:
        run = _Ingest(lake, writer)
        feed(run)
        snapshot_id, q_added = run.commit()
    seconds = time.perf_counter() - started
    counts = lake.counts()
    return IngestReport(
        snapshot_id=snapshot_id,
        no_change=not run.added_hashes,
        data_hash=lake.data_hash(),
        counts=dict(sorted(run.counts.items())),
        quarantined=len(run.quarantine),
        quarantine_rows_added=q_added,
        files=files,
        records=run.records,
        seconds=round(seconds, 4),
        resources_per_second=round(run.records / seconds, 1) if seconds > 0 else 0.0,
        tables={t: counts[t] for t in TABLES},
    )
