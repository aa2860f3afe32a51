"""FHIR Bundles to one :class:`Entry` per entry: a resource, a delete, or a refusal.

Bundles of type collection, transaction, batch, searchset, document and history are unpacked;
the Bundle itself is a container and does not enter the lake. Deletes are honoured: a
``DELETE`` request of a transaction/batch, and a history entry whose request is ``DELETE`` (or
that has no resource), become tombstones of ``Type/id`` (from ``request.url``), with the version
from the url's ``_history/<v>``, else the response ``etag`` (``W/"3"``), and the time from
``response.lastModified`` when given. A conditional delete (``Patient?identifier=...``) names no
resource and is refused.

A transaction/batch entry whose resource has no id (a create) takes the uuid of its
``urn:uuid:`` fullUrl as id, the id the receiving server would be told to use by the bundle's own
references; the raw JSON then carries that id, so its content hash is stable across re-ingests.
Each entry keeps its ``fullUrl``: the lake resolves ``urn:uuid:`` references through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from caretwin.fhir.types import R4_RESOURCE_TYPES
from caretwin.ingest.records import EXCERPT_CHARS

BUNDLE_TYPES = frozenset({"collection", "transaction", "batch", "searchset", "document", "history"})
_URN_UUID = "urn:uuid:"
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR id, as caretwin.ingest.validate.identity


@dataclass(slots=True)
class Entry:
    """One bundle entry: ``resource`` to add, or ``deleted`` ``rtype``/``rid``, or ``error``."""

    where: str = ""
    resource: dict[str, Any] | None = None
    full_url: str | None = None
    deleted: bool = False
    rtype: str | None = None
    rid: str | None = None
    version_id: str | None = None
    last_updated: str | None = None
    error: str | None = None
    excerpt: str = ""


def excerpt_of(data: Any) -> str:
    return orjson.dumps(data)[:EXCERPT_CHARS].decode("utf-8", errors="replace")


def expand_bundle(bundle: dict[str, Any]) -> Iterator[Entry]:
    """The entries of ``bundle`` in order (a refusal of the whole bundle is one entry)."""
    btype = bundle.get("type")
    if btype is None:
        yield Entry(error="Bundle.type is required")
        return
    if type(btype) is not str or btype not in BUNDLE_TYPES:
        shown = repr(btype[:40]) if type(btype) is str else f"of JSON type {type(btype).__name__}"
        yield Entry(error=f"Bundle type {shown} is not supported")
        return
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        yield Entry(error="Bundle.entry must be a list")
        return
    for index, entry in enumerate(entries):
        where = f"Bundle.entry[{index}]: "
        if not isinstance(entry, dict):
            yield Entry(where, error="not an object", excerpt=excerpt_of(entry))
            continue
        res = entry.get("resource")
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        method = _request(entry).get("method")
        if method == "DELETE" or (btype == "history" and res is None):
            yield _delete(entry, where)
        elif not isinstance(res, dict):
            why = "no resource" + (f" (request {method} is not applied)" if method else "")
            yield Entry(where, error=why, excerpt=excerpt_of(entry))
        else:
            if res.get("id") is None and full_url and full_url.startswith(_URN_UUID):
                res = {**res, "id": full_url[len(_URN_UUID) :]}
            yield Entry(where, resource=res, full_url=full_url)


def _request(entry: dict[str, Any]) -> dict[str, Any]:
    request = entry.get("request")
    return request if isinstance(request, dict) else {}


def _delete(entry: dict[str, Any], where: str) -> Entry:
    url = _request(entry).get("url")
    parts = url.split("?", 1)[0].strip("/").split("/") if isinstance(url, str) else []
    if isinstance(url, str) and "?" in url:
        return Entry(where, error="conditional delete is not supported", excerpt=excerpt_of(entry))
    if len(parts) >= 4 and parts[-2] == "_history":
        rtype, rid, version = parts[-4], parts[-3], parts[-1]
    elif len(parts) >= 2:
        rtype, rid, version = parts[-2], parts[-1], None
    else:
        return Entry(where, error="delete without a Type/id request.url", excerpt=excerpt_of(entry))
    if rtype not in R4_RESOURCE_TYPES:
        return Entry(
            where, error=f"delete of unknown type {rtype[:64]!r}", excerpt=excerpt_of(entry)
        )
    if not _ID.fullmatch(rid) or (version is not None and not version):
        return Entry(where, error="delete of an invalid id or version", excerpt=excerpt_of(entry))
    response = entry.get("response") if isinstance(entry.get("response"), dict) else {}
    assert isinstance(response, dict)
    etag = response.get("etag")
    if version is None and isinstance(etag, str) and etag:
        version = etag.removeprefix("W/").strip('"') or None
    modified = response.get("lastModified")
    return Entry(
        where,
        deleted=True,
        rtype=rtype,
        rid=rid,
        version_id=version,
        last_updated=modified if isinstance(modified, str) else None,
        excerpt=excerpt_of(entry),
    )
