"""FHIR REST search pulls: one resource type at a time, page by page, into a staged NDJSON file.

A search asks for ``_count`` resources per page and follows the Bundle's ``next`` link until
there is none; an incremental pull adds ``_lastUpdated=ge<watermark>`` (``ge``, not ``gt``: a
record committed later with the very timestamp of the watermark must not be missed, and the one
or few boundary records read again are absorbed by ingest dedup). Resources are appended to
``<Type>.000.ndjson`` as pages arrive, so memory holds one page. The newest ``meta.lastUpdated``
seen becomes the type's candidate watermark; the caller stores it only after ingesting the file.

A page that stays malformed after the retries (invalid JSON, not a Bundle) cannot be paged past,
since its ``next`` link is lost: its body is staged as ``<Type>.page-NNNN.json`` (ingest
quarantines it with its file and line), the type is marked incomplete and its watermark is held,
so the next pull asks for the same range again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from caretwin.connectors.http import FhirHttp, MalformedResponse

__all__ = ["TypeResult", "later", "next_link", "search_type"]

log = logging.getLogger(__name__)


@dataclass
class TypeResult:
    """What one type's search brought: records, pages, the newest lastUpdated, completeness."""

    resource_type: str
    records: int = 0
    pages: int = 0
    max_last_updated: str | None = None
    complete: bool = True
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "pages": self.pages,
            "max_last_updated": self.max_last_updated,
            "complete": self.complete,
            **({"error": self.error} if self.error else {}),
        }


def _instant(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def later(a: str | None, b: str | None) -> str | None:
    """The later of two FHIR instants (as given); unparseable values lose to parseable ones."""
    ta = _instant(a) if a is not None else None
    tb = _instant(b) if b is not None else None
    if ta is None:
        return b if tb is not None else a
    if tb is None:
        return a
    return b if tb > ta else a


def search_type(
    http: FhirHttp, rtype: str, since: str | None, out_dir: Path, page_size: int
) -> TypeResult:
    """Search ``rtype`` (updated after ``since``) and stage the results under ``out_dir``."""
    result = TypeResult(rtype)
    params: dict[str, str] | None = {"_count": str(page_size)}
    if since:
        params = {**(params or {}), "_lastUpdated": f"ge{since}"}
    url: str | None = http.url(rtype)
    target = out_dir / f"{rtype}.000.ndjson"
    with open(target, "wb") as fh:
        while url is not None:
            try:
                bundle = http.get_json(url, params)
                if bundle.get("resourceType") != "Bundle":
                    raise MalformedResponse(
                        f"{rtype} search page {result.pages + 1} is not a Bundle",
                        orjson.dumps(bundle),
                        url,
                    )
            except MalformedResponse as exc:
                page_file = out_dir / f"{rtype}.page-{result.pages + 1:04d}.json"
                page_file.write_bytes(exc.body)
                result.complete, result.error = False, exc.message
                log.error("%s; body staged as %s for quarantine", exc.message, page_file.name)
                break
            result.pages += 1
            http.stats.pages += 1
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if not isinstance(resource, dict):
                    continue
                mode = (entry.get("search") or {}).get("mode")
                if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
                    log.warning("%s search: server outcome %s", rtype, _issue_text(resource))
                    continue
                fh.write(orjson.dumps(resource) + b"\n")
                result.records += 1
                updated = (resource.get("meta") or {}).get("lastUpdated")
                if isinstance(updated, str):
                    result.max_last_updated = later(result.max_last_updated, updated)
            url, params = next_link(http, bundle), None
    return result


def next_link(http: FhirHttp, bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return http.url(str(link["url"]))
    return None


def _issue_text(outcome: dict[str, Any]) -> str:
    issues = outcome.get("issue") or []
    first = issues[0] if issues and isinstance(issues[0], dict) else {}
    return str(first.get("diagnostics") or first.get("code") or "")[:200]
