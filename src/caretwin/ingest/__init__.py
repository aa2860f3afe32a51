"""Ingestion: FHIR R4 NDJSON / Bundles and CMMS work-order CSV into the lake.

:func:`ingest_paths` is the whole pipeline (read -> validate/quarantine -> hash/dedupe ->
normalize -> one atomic lake snapshot); :mod:`caretwin.services.ingestion` wraps it with access
control, audit and the snapshot record in the metadata store.
"""

from __future__ import annotations

from caretwin.ingest.pipeline import ingest_paths
from caretwin.ingest.report import IngestReport, TypeCounts

__all__ = ["IngestReport", "TypeCounts", "ingest_paths"]
