"""FHIR Bundles to one :class:`Record` per entry, with the bundle's ``fullUrl`` map.

Bundles of type collection, transaction, batch, searchset and document are unpacked; the Bundle
itself is a container and does not enter the lake. Every entry's ``fullUrl`` maps to its
resource's id so that ``urn:uuid:`` references inside the bundle resolve to bare ids. A
transaction/batch entry whose resource has no id (a create) takes the uuid of its
``urn:uuid:`` fullUrl as id, the id the receiving server would be told to use by the bundle's own
references; the raw JSON then carries that id, so its content hash is stable across re-ingests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from caretwin.ingest.records import EXCERPT_CHARS, Record

BUNDLE_TYPES = frozenset({"collection", "transaction", "batch", "searchset", "document"})
_URN_UUID = "urn:uuid:"


def excerpt_of(data: Any) -> str:
    return orjson.dumps(data)[:EXCERPT_CHARS].decode("utf-8", errors="replace")


def expand_bundle(bundle: dict[str, Any], source: str, line: int) -> Iterator[Record]:
    """Records for each entry of ``bundle`` (read at ``line`` of ``source``)."""
    btype = bundle.get("type")
    if btype not in BUNDLE_TYPES:
        yield Record(
            source, line, error=f"Bundle type {str(btype)[:40]!r} is not supported", excerpt=""
        )
        return
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        yield Record(source, line, error="Bundle.entry must be a list")
        return
    resources: list[Any] = []
    refs: dict[str, str] = {}
    for entry in entries:
        res = entry.get("resource") if isinstance(entry, dict) else None
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if isinstance(res, dict) and isinstance(full_url, str):
            rid = res.get("id")
            if rid is None and full_url.startswith(_URN_UUID):
                res = {**res, "id": full_url[len(_URN_UUID) :]}
                rid = res["id"]
            if isinstance(rid, str):
                refs[full_url] = rid
        resources.append(res)
    for index, (entry, res) in enumerate(zip(entries, resources, strict=True)):
        if not isinstance(res, dict):
            method = _request_method(entry)
            why = "no resource" + (f" (request {method} is not applied)" if method else "")
            yield Record(
                source,
                line,
                entry=index,
                error=f"Bundle.entry[{index}]: {why}",
                excerpt=excerpt_of(entry),
            )
            continue
        yield Record(source, line, data=res, entry=index, refs=refs, excerpt=excerpt_of(res))


def _request_method(entry: Any) -> str | None:
    request = entry.get("request") if isinstance(entry, dict) else None
    method = request.get("method") if isinstance(request, dict) else None
    return method if isinstance(method, str) else None
