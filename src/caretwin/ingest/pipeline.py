"""One ingest: read and check the inputs, dedupe, apply versions and deletes, build the tables.

1. **Parse** (:mod:`~caretwin.ingest.parse`): inputs are cut into chunks of whole lines, parsed
   and checked in worker processes when the input is large (in this process otherwise; the
   result is the same), and spooled in input order to a staging Parquet file of candidates:
   canonical JSON (orjson, sorted keys), its sha256, version fields. Memory is bounded by a few
   chunks whatever the input size.
2. **Stage** (:mod:`~caretwin.ingest.stage`, DuckDB): candidates are classified against the
   lake's raw layer (no key set is held in Python), tombstones get their version, and the
   resources that became current are found.
3. **Tables** (:mod:`~caretwin.ingest.tables`): the canonical ViewDefinitions run over those
   resources, post-steps resolve references and merge HL7 v2 / work-order rows, and each changed
   table is rewritten partitioned.
4. **Commit**: the raw rows (every version, tombstones included) are appended partitioned by type
   and month, and :class:`~caretwin.lake.writer.LakeWriter` swaps the catalog: an error at any
   point leaves the lake as it was.

The snapshot id is the set hash of the content hashes this ingest added; the catalog records
per snapshot its source, time and per-type counts of added, updated and deleted resources.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from pathlib import Path
from typing import Any

import duckdb

from caretwin.hl7v2.feed import feed_messages
from caretwin.hl7v2.framing import read_messages
from caretwin.ingest.chunkpool import parse_all
from caretwin.ingest.parse import Parsed
from caretwin.ingest.plugin import (
    FHIR,
    HL7V2,
    WORK_ORDERS,
    feeder_name,
    plugin_feeders,
    resource_chunks,
)
from caretwin.ingest.report import IngestReport, TypeCounts
from caretwin.ingest.run import IngestRun
from caretwin.ingest.sources import (
    chunks,
    discover_inputs,
    is_line_file,
    line_chunks,
)
from caretwin.lake import TABLES, Lake, LakeWriter

__all__ = ["IngestRun", "ingest_feed", "ingest_lines", "ingest_paths"]


def ingest_paths(
    lake_dir: Path,
    paths: Iterable[Path],
    views_root: Path | None = None,
    workers: int | None = None,
) -> IngestReport:
    """Ingest files and folders into the lake at ``lake_dir`` as one all-or-nothing snapshot.

    ``views_root`` is the workspace whose ``views/`` may override the shipped ViewDefinitions
    (default: the lake's parent folder, as ``<workspace>/lake``); ``workers`` the parsing
    processes (default: automatic, see :func:`caretwin.ingest.chunkpool.parse_all`).
    """
    files, skipped = discover_inputs(paths)

    def feed(run: IngestRun) -> None:
        _feed_files(run, files, {}, workers)

    report = ingest_feed(lake_dir, feed, [f.as_posix() for f in files], views_root)
    report.skipped = skipped
    return report


def ingest_lines(
    lake_dir: Path,
    lines: Mapping[Path, set[int]],
    views_root: Path | None = None,
) -> IngestReport:
    """Read again some lines of NDJSON files (whole files of other kinds) into the lake.

    The retry of quarantined records (:func:`caretwin.services.ingestion.retry_quarantine`):
    the lines go through the whole pipeline with the workspace's current views, and quarantine
    rows of what was read again and is not refused again leave the quarantine.
    """
    files = list(lines)

    def feed(run: IngestRun) -> None:
        _feed_files(run, files, lines, None)

    return ingest_feed(lake_dir, feed, [f.as_posix() for f in files], views_root)


def _feed_files(
    run: IngestRun, files: list[Path], only: Mapping[Path, set[int]], workers: int | None
) -> None:
    """Feed ``files`` to ``run``: every line, or of an NDJSON file in ``only`` those lines."""
    kinds = {path: feeder_name(path) for path in files}  # the register_feeders registry
    hl7_files = [path for path in files if kinds[path] == HL7V2]
    fhir = [p for p in files if kinds[p] == FHIR]
    for path in files:
        if path in only and is_line_file(path):
            run.reread_lines.update((path.as_posix(), n) for n in only[path])
        elif path not in hl7_files:
            # HL7 v2 messages are refused against the state they met (a retransmission is
            # known, not refused again): reading the file again says nothing of old refusals
            run.reread_files.add(path.as_posix())
        if kinds[path] == WORK_ORDERS:
            run.add_work_orders(path)
    size = sum(p.stat().st_size for p in fhir)
    todo = (
        run.assign(c)
        for p in fhir
        for c in (line_chunks(p, only[p]) if p in only and is_line_file(p) else chunks(p))
    )
    # plugins' formats: their resources take the path of NDJSON lines, after the FHIR files
    refused: list[dict[str, Any]] = []
    extra = (
        run.assign(c)
        for p, spec in plugin_feeders(files)
        for c in resource_chunks(p, spec, refused)
    )
    for parsed in parse_all(chain(todo, extra), size, workers):
        run.add_parsed(parsed)
    if refused:
        run.add_parsed(Parsed(None, refused, records=len(refused)))
    # HL7 v2 ADT events apply to the state of encounters, so they go in after FHIR records.
    if hl7_files:
        feed_messages(run, [m for path in hl7_files for m in read_messages(path)])


def ingest_feed(
    lake_dir: Path,
    feed: Callable[[IngestRun], None],
    files: list[str],
    views_root: Path | None = None,
) -> IngestReport:
    """One all-or-nothing snapshot of whatever ``feed`` adds to the run (files, an HL7 batch)."""
    started = time.perf_counter()
    lake = Lake(lake_dir)
    root = views_root if views_root is not None else Path(lake_dir).parent
    source = ", ".join(files)[:500]
    try:
        with LakeWriter(lake_dir) as writer:
            run = IngestRun(lake, writer, root, source)
            try:
                feed(run)
                run.commit(started)
            finally:
                run.close()
    except duckdb.Error as exc:  # a foreign error at the boundary: the lake is unchanged
        from caretwin.errors import DataError

        raise DataError(f"ingest failed: {str(exc).splitlines()[0]}") from exc
    seconds = time.perf_counter() - started
    counts = lake.counts()
    merged: dict[str, TypeCounts] = defaultdict(TypeCounts)
    for rtype, c in run.counts.items():
        merged[rtype] = c
    return IngestReport(
        snapshot_id=run.snapshot_id,
        no_change=run.no_change,
        data_hash=lake.data_hash(),
        counts=dict(sorted(merged.items())),
        quarantined=len(run.quarantine),
        quarantine_rows_added=run.quarantine_added,
        quarantine_rows_removed=run.quarantine_removed,
        files=files,
        records=run.records,
        seconds=round(seconds, 4),
        resources_per_second=round(run.records / seconds, 1) if seconds > 0 else 0.0,
        tables={t: counts[t] for t in TABLES},
        phases=run.phases,
    )
