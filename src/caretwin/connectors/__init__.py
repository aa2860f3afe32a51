"""Connectors that pull data from external systems into the lake.

Today: FHIR R4 servers, by REST search (:mod:`~caretwin.connectors.rest`, incremental by
``_lastUpdated``) or by Bulk Data ``$export`` (:mod:`~caretwin.connectors.bulk`, resumable), with
no authentication, a static bearer token, or SMART Backend Services
(:mod:`~caretwin.connectors.auth`). Downloads are staged as NDJSON and loaded by the one ingest
pipeline, and so are the server's deletes (:mod:`~caretwin.connectors.deletes`: REST history or
id reconciliation; Bulk: the manifest's ``deleted`` files); :mod:`caretwin.services.sources` is
the audited entry point.
"""

from __future__ import annotations

from caretwin.connectors.bulk import BulkRequest, BulkState
from caretwin.connectors.config import AuthConfig, AuthMode, SourceConfig
from caretwin.connectors.http import ConnectorError, FhirHttp, TransferStats, parse_retry_after
from caretwin.connectors.report import PullReport

__all__ = [
    "AuthConfig",
    "AuthMode",
    "BulkRequest",
    "BulkState",
    "ConnectorError",
    "FhirHttp",
    "PullReport",
    "SourceConfig",
    "TransferStats",
    "parse_retry_after",
]
