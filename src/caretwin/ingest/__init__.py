"""Ingestion: FHIR R4 NDJSON / Bundles, HL7 v2 ADT and CMMS work-order CSV into the lake.

:func:`ingest_paths` is the whole pipeline (parse/check/quarantine -> dedupe, versions, deletes
-> canonical ViewDefinitions and post-steps -> one atomic lake snapshot; see
:mod:`caretwin.ingest.pipeline`); :mod:`caretwin.services.ingestion` wraps it with access
control, audit and the snapshot record in the metadata store.

The names are loaded on first use, for start-up cost alone: every command loads the built-in
feeder plugin (:mod:`caretwin.ingest.plugin`) and the ingest's spawned workers import
:mod:`caretwin.ingest.parse`, and neither should pay for the pipeline or the lake (DuckDB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caretwin.ingest.pipeline import ingest_paths
    from caretwin.ingest.report import IngestReport, TypeCounts

__all__ = ["IngestReport", "TypeCounts", "ingest_paths"]


def __getattr__(name: str) -> Any:
    if name == "ingest_paths":
        from caretwin.ingest.pipeline import ingest_paths

        return ingest_paths
    if name in ("IngestReport", "TypeCounts"):
        from caretwin.ingest import report

        return getattr(report, name)
    raise AttributeError(f"module 'caretwin.ingest' has no attribute {name!r}")
