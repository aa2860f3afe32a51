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

import typing as _t

from caretwin.connectors.config import AuthConfig, AuthMode, SourceConfig
from caretwin.lazy import load_lazy as _load_lazy

if _t.TYPE_CHECKING:
    from caretwin.connectors.bulk import BulkRequest, BulkState
    from caretwin.connectors.http import (
        ConnectorError,
        FhirHttp,
        TransferStats,
        parse_retry_after,
    )
    from caretwin.connectors.report import PullReport

# Loaded on first use (PEP 562): ``caretwin sources --help`` needs AuthMode, not httpx or DuckDB.
_LAZY = {
    "BulkRequest": "caretwin.connectors.bulk",
    "BulkState": "caretwin.connectors.bulk",
    "ConnectorError": "caretwin.connectors.http",
    "FhirHttp": "caretwin.connectors.http",
    "TransferStats": "caretwin.connectors.http",
    "parse_retry_after": "caretwin.connectors.http",
    "PullReport": "caretwin.connectors.report",
}


def __getattr__(name: str) -> _t.Any:
    return _load_lazy(__name__, _LAZY, globals(), name)


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
