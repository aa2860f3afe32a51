"""One ingest: read and check the inputs, dedupe, apply versions and deletes, build the tables.

1. **Feed** (:mod:`~caretwin.ingest.plugin`): the feeder registry (the ``register_feeders`` hook)
   says which feeder reads each file, and each feeder adds its files to the
   :class:`~caretwin.ingest.batch.IngestBatch` (no DuckDB): FHIR chunks parsed and checked in
   worker processes and spooled in input order as candidates (canonical JSON, its sha256,
   version fields; :mod:`~caretwin.ingest.feed_fhir`), work-order records with their rows, HL7
   v2 messages read and deduplicated; every refusal quarantined with file, line and reason.
2. **Stage** (:class:`~caretwin.ingest.stage.Stage`, the ingest's one DuckDB connection, closed
   in a ``finally``; :meth:`~caretwin.ingest.stage.Stage.load`): candidates are classified
   against the lake's raw layer, tombstones get their version, the resources that became current
   are found and the views run. A feeder that must see this state (HL7 v2 events apply to this
   ingest's FHIR encounters) returned an after-stage step, called now with the
   :class:`~caretwin.ingest.stage.Staged` state.
3. **Commit** (:mod:`~caretwin.ingest.commit`): each changed table is rewritten partitioned
   (post-steps resolve references and merge HL7 v2 / work-order rows), the raw rows (every
   version, tombstones included) are appended partitioned by type and month, and
   :class:`~caretwin.lake.writer.LakeWriter` swaps the catalog: an error at any point leaves the
   lake as it was.

The snapshot id is the set hash of the content hashes this ingest added; the catalog records
per snapshot its source, time and per-type counts of added, updated and deleted resources.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import duckdb

from caretwin.errors import DataError
from caretwin.ingest.batch import AfterStage, IngestBatch, IngestViews, Laps
from caretwin.ingest.commit import commit
from caretwin.ingest.plugin import by_feeder
from caretwin.ingest.report import IngestReport
from caretwin.ingest.sources import discover_inputs
from caretwin.ingest.stage import Stage
from caretwin.lake import TABLES, Lake, LakeWriter

__all__ = ["Feed", "IngestBatch", "feed_files", "ingest_feed", "ingest_lines", "ingest_paths"]

#: DuckDB's memory for one ingest; beyond it, joins and sorts spill to the staging folder.
DUCKDB_MEMORY = os.environ.get("CARETWIN_INGEST_DUCKDB_MEMORY", "512MB")

#: What an ingest's input does to the batch: it returns the after-stage steps of its feeders.
Feed = Callable[[IngestBatch], list[AfterStage]]


def ingest_paths(
    lake_dir: Path,
    paths: Iterable[Path],
    views_root: Path | None = None,
    workers: int | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> IngestReport:
    """Ingest files and folders into the lake at ``lake_dir`` as one all-or-nothing snapshot.

    ``views_root`` is the workspace whose ``views/`` may override the shipped ViewDefinitions
    (default: the lake's parent folder, as ``<workspace>/lake``); ``workers`` the parsing
    processes (default: automatic, see :func:`caretwin.ingest.chunkpool.parse_all`);
    ``checkpoint`` is called at safe points before the lake commit (a background job's cancel
    check): whatever it raises drops the staging and leaves the lake as it was.
    """
    files, skipped = discover_inputs(paths)

    def feed(batch: IngestBatch) -> list[AfterStage]:
        return feed_files(batch, files)

    names = [f.as_posix() for f in files]
    report = ingest_feed(lake_dir, feed, names, views_root, workers=workers, checkpoint=checkpoint)
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

    def feed(batch: IngestBatch) -> list[AfterStage]:
        return feed_files(batch, files)

    return ingest_feed(lake_dir, feed, [f.as_posix() for f in files], views_root, lines=lines)


def feed_files(batch: IngestBatch, files: list[Path]) -> list[AfterStage]:
    """Hand each feeder its files (in feeder order); returns their after-stage steps."""
    from caretwin.ingest.feed_fhir import feed_resources

    after: list[AfterStage] = []
    for spec, paths in by_feeder(files):
        if spec.feed is not None:
            step = spec.feed(batch, paths)
            if step is not None:
                after.append(step)
        else:  # a plugin's reader: its resources take the path of NDJSON lines
            feed_resources(spec, batch, paths)
    return after


def ingest_feed(
    lake_dir: Path,
    feed: Feed,
    files: list[str],
    views_root: Path | None = None,
    lines: Mapping[Path, set[int]] | None = None,
    workers: int | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> IngestReport:
    """One all-or-nothing snapshot of whatever ``feed`` adds to the batch (files, HL7 messages);
    ``checkpoint``: as for :func:`ingest_paths`."""
    check = checkpoint or (lambda: None)
    started = time.perf_counter()
    lake = Lake(lake_dir)
    root = views_root if views_root is not None else Path(lake_dir).parent
    source = ", ".join(files)[:500]
    try:
        with LakeWriter(lake_dir) as writer:
            spool_dir = writer.staging / "cand"
            spool_dir.mkdir()
            batch = IngestBatch(lake, IngestViews.load(root), spool_dir, lines, workers)
            laps = Laps()  # from here: loading the views is not a phase
            check()
            after = feed(batch)
            check()
            stage = Stage(writer.staging, DUCKDB_MEMORY)
            try:
                staged = stage.load(batch, lake, writer, laps, spool_dir)
                for step in after:
                    step(staged)
                check()  # the last point where stopping leaves the lake unchanged
                done = commit(staged, lake, writer, source, laps, started)
            finally:
                stage.close()
    except duckdb.Error as exc:  # a foreign error at the boundary: the lake is unchanged
        raise DataError(f"ingest failed: {str(exc).splitlines()[0]}") from exc
    seconds = time.perf_counter() - started
    counts = lake.counts()
    return IngestReport(
        snapshot_id=done.snapshot_id,
        no_change=done.no_change,
        data_hash=lake.data_hash(),
        counts=dict(sorted(batch.counts.items())),
        quarantined=len(batch.quarantined),
        quarantine_rows_added=done.quarantine_added,
        quarantine_rows_removed=done.quarantine_removed,
        files=files,
        records=batch.records,
        seconds=round(seconds, 4),
        resources_per_second=round(batch.records / seconds, 1) if seconds > 0 else 0.0,
        tables={t: counts[t] for t in TABLES},
        phases=laps.phases,
    )
