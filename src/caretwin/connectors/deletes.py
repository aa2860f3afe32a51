"""Resources deleted on a FHIR server, staged as delete entries for the one ingest pipeline.

A search only returns what exists, so a REST pull alone never learns that a resource is gone.
Two ways to learn it, both ending in an NDJSON file of Bundles whose entries are ``DELETE``
requests, which ingest turns into tombstones (the resource leaves the current tables, its
versions stay in the raw layer):

* **history**: where the CapabilityStatement declares the ``history-type`` interaction for the
  type, ``GET {Type}/_history?_since=<watermark>`` is paged through and its ``DELETE`` entries
  (request, and the response's ``lastModified``) are kept; creates and updates are left to the
  search, which already brought their current versions.
* **reconciliation** (on request): every id the server holds is listed
  (``{Type}?_elements=id``, paged) and compared with the ids this source brought into the lake;
  those the server no longer has get a delete. Only a complete listing deletes anything: a page
  that fails, or a count that disagrees with the Bundle's ``total``, deletes nothing.

Staged names start with ``0-deleted`` so ingest reads them before the search results (files are
read in name order): a resource deleted and then created again within one pull keeps its new
version, since a delete without a time of its own is placed right after what came before it.

A Bulk Data ``deleted`` file names no times, and ingest records a timeless delete by content alone,
so a second delete of a resource that came back in between would look like a repeat of the first
and be passed over. :func:`stamp_deletes` therefore copies such a file giving each entry the time
just after the lake's current version of what it deletes (the same rule as reconciliation).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from caretwin.connectors.http import ConnectorError, FhirHttp
from caretwin.connectors.rest import next_link
from caretwin.ingest.sources import open_input
from caretwin.lake import Lake
from caretwin.lake.sql import sql_str
from caretwin.lake.versions import latest_sql

__all__ = [
    "DELETED_DIR",
    "DELETED_PREFIX",
    "DeleteCheck",
    "history_deletes",
    "history_types",
    "reconcile_deletes",
    "stamp_deletes",
]

log = logging.getLogger(__name__)

#: Staged delete files start with this, so ingest reads them before any resource file.
DELETED_PREFIX = "0-deleted"
#: Delete files as the server gave them (hidden: ingest reads the stamped copies).
DELETED_DIR = ".deleted"


@dataclass
class DeleteCheck:
    """How one type's deletes were looked for and how many delete entries were staged."""

    method: str
    staged: int = 0


def history_types(http: FhirHttp) -> set[str]:
    """Types whose ``history-type`` interaction the server's CapabilityStatement declares.

    A server whose ``metadata`` cannot be read is taken to declare none (logged): deletes are
    then only found by reconciliation.
    """
    try:
        cap = http.get_json(http.url("metadata"))
    except ConnectorError as exc:
        log.warning("cannot read the server's CapabilityStatement: %s", exc.message)
        return set()
    out: set[str] = set()
    for rest in cap.get("rest") or []:
        if not isinstance(rest, dict) or rest.get("mode", "server") != "server":
            continue
        for res in rest.get("resource") or []:
            if not isinstance(res, dict) or not isinstance(res.get("type"), str):
                continue
            codes = {i.get("code") for i in res.get("interaction") or [] if isinstance(i, dict)}
            if "history-type" in codes:
                out.add(res["type"])
    return out


def _pages(http: FhirHttp, url: str, params: dict[str, str], what: str) -> Iterator[dict[str, Any]]:
    """The Bundles of a paged read; anything but a Bundle fails the read (ConnectorError)."""
    next_url: str | None = url
    query: dict[str, str] | None = params
    page = 0
    while next_url is not None:
        page += 1
        bundle = http.get_json(next_url, query)
        if bundle.get("resourceType") != "Bundle":
            raise ConnectorError(f"{what} page {page} is not a Bundle")
        http.stats.pages += 1
        yield bundle
        next_url, query = next_link(http, bundle), None


def _write_bundle(fh: Any, btype: str, entries: list[dict[str, Any]]) -> None:
    bundle = {"resourceType": "Bundle", "type": btype, "entry": entries}
    fh.write(orjson.dumps(bundle) + b"\n")


def history_deletes(
    http: FhirHttp, rtype: str, since: str, out_dir: Path, page_size: int, lake_dir: Path
) -> DeleteCheck:
    """Stage the ``DELETE`` entries of ``rtype``'s history since ``since`` (an entry without
    ``lastModified`` or version is stamped like a Bulk ``deleted`` entry)."""
    check = DeleteCheck("history")
    (out_dir / DELETED_DIR).mkdir(exist_ok=True)
    name = f"{DELETED_PREFIX}.{rtype}.history.ndjson"
    target = out_dir / DELETED_DIR / name
    params = {"_since": since, "_count": str(page_size)}
    with open(target, "wb") as fh:
        for bundle in _pages(http, http.url(f"{rtype}/_history"), params, f"{rtype} history"):
            keep = [
                {k: v for k, v in e.items() if k in ("request", "response")}
                for e in bundle.get("entry") or []
                if isinstance(e, dict) and (e.get("request") or {}).get("method") == "DELETE"
            ]
            if keep:
                _write_bundle(fh, "history", keep)
                check.staged += len(keep)
    stamp_deletes(lake_dir, target, out_dir / name)
    return check


def server_ids(http: FhirHttp, rtype: str, page_size: int) -> set[str]:
    """Every id of ``rtype`` on the server (``_elements=id``); raises unless complete."""
    ids: set[str] = set()
    total: int | None = None
    params = {"_elements": "id", "_count": str(page_size)}
    for bundle in _pages(http, http.url(rtype), params, f"{rtype} id listing"):
        if total is None and isinstance(bundle.get("total"), int):
            total = bundle["total"]
        for entry in bundle.get("entry") or []:
            res = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(res, dict) or res.get("resourceType") != rtype:
                continue  # an OperationOutcome or an included resource of another type
            if isinstance(res.get("id"), str):
                ids.add(res["id"])
    if total is not None and total != len(ids):
        # Paging skipped or repeated records (the set changed under us): not a safe basis.
        raise ConnectorError(
            f"{rtype} id listing gave {len(ids)} ids but the server counts {total}; "
            "nothing deleted (try again later)"
        )
    return ids


def lake_ids(lake_dir: Path, rtype: str, folder_prefix: str) -> dict[str, datetime | None]:
    """Live ``rtype`` ids that files under ``folder_prefix`` brought, with their lastUpdated."""
    kind = sql_str(rtype)
    sql = f"""
        WITH mine AS (SELECT DISTINCT resource_id FROM resources
                      WHERE resource_type = {kind}
                        AND starts_with(source_file, {sql_str(folder_prefix)})),
             cur AS ({latest_sql("resources", f"resource_type = {kind}")})
        SELECT resource_id, last_updated FROM cur SEMI JOIN mine USING (resource_id)
        WHERE NOT deleted"""
    table = Lake(lake_dir).query(sql)
    ids = table["resource_id"].to_pylist()
    return dict(zip(ids, table["last_updated"].to_pylist(), strict=True))


def reconcile_deletes(
    http: FhirHttp, rtype: str, lake_dir: Path, folder_prefix: str, out_dir: Path, page_size: int
) -> DeleteCheck:
    """Stage a delete for each id this source brought that the server no longer lists."""
    check = DeleteCheck("reconciled")
    held = lake_ids(lake_dir, rtype, folder_prefix)
    if not held:
        return check
    gone = sorted(set(held) - server_ids(http, rtype, page_size))
    if not gone:
        return check
    now = datetime.now(UTC)
    target = out_dir / f"{DELETED_PREFIX}.{rtype}.reconciled.ndjson"
    with open(target, "wb") as fh:
        for start in range(0, len(gone), 1000):
            entries = [
                {
                    "request": {"method": "DELETE", "url": f"{rtype}/{rid}"},
                    "response": {"status": "410", "lastModified": _when(now, held[rid])},
                }
                for rid in gone[start : start + 1000]
            ]
            _write_bundle(fh, "transaction", entries)
    check.staged = len(gone)
    return check


def _when(now: datetime, last: datetime | None) -> str:
    """The delete's time: just after the version it deletes (the true time is unknown, but
    lies between the two). Not ``now``: a server clock behind ours would then place a
    re-creation before the delete. A time of its own also makes a second delete (after the
    resource came back) a new record rather than a repeat of the first."""
    when = now if last is None else last + timedelta(milliseconds=1)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _timeless_ref(entry: Any) -> tuple[str, str] | None:
    """``(type, id)`` of a ``DELETE`` entry that carries no version or time of its own."""
    if not isinstance(entry, dict):
        return None
    request = entry.get("request")
    response = entry.get("response")
    if not isinstance(request, dict) or request.get("method") != "DELETE":
        return None
    if isinstance(response, dict) and (response.get("lastModified") or response.get("etag")):
        return None
    url = request.get("url")
    parts = url.strip("/").split("/") if isinstance(url, str) and "?" not in url else []
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


def _live_versions(lake_dir: Path, refs: set[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """lastUpdated of the current version of each of ``refs`` the lake holds live."""
    if not refs:
        return {}
    wanted = pa.table({"resource_type": [r[0] for r in refs], "resource_id": [r[1] for r in refs]})
    con = Lake(lake_dir).connect()
    try:
        con.register("wanted", wanted)
        types = ", ".join(sorted({sql_str(r[0]) for r in refs}))
        cur = latest_sql("resources", f"resource_type IN ({types})")
        rows = con.execute(
            f"SELECT resource_type, resource_id, last_updated FROM ({cur}) "
            "SEMI JOIN wanted USING (resource_type, resource_id) "
            "WHERE NOT deleted AND last_updated IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    return {(t, i): lu for t, i, lu in rows}


def stamp_deletes(lake_dir: Path, source: Path, dest: Path) -> int:
    """Copy the delete Bundles of ``source`` (NDJSON, plain or gzip) to ``dest``, each timeless
    ``DELETE`` entry of a resource the lake holds live given the time just after that version.

    Lines stay lines, unreadable ones copied as they are, so ingest quarantines a bad line with
    the line number it has in the server's file. Returns the entries stamped.
    """
    with open_input(source) as fh:
        lines = fh.read().split(b"\n")
    docs: list[Any] = []
    refs: set[tuple[str, str]] = set()
    for line in lines:
        try:
            doc = orjson.loads(line) if line.strip() else None
        except orjson.JSONDecodeError:
            doc = None
        docs.append(doc)
        if isinstance(doc, dict) and isinstance(doc.get("entry"), list):
            refs.update(r for r in map(_timeless_ref, doc["entry"]) if r is not None)
    live = _live_versions(lake_dir, refs)
    now, stamped = datetime.now(UTC), 0
    out: list[bytes] = []
    for line, doc in zip(lines, docs, strict=True):
        changed = False
        if isinstance(doc, dict) and isinstance(doc.get("entry"), list):
            for entry in doc["entry"]:
                ref = _timeless_ref(entry)
                if ref is not None and ref in live:
                    response = (
                        entry.get("response") if isinstance(entry.get("response"), dict) else {}
                    )
                    entry["response"] = {**response, "lastModified": _when(now, live[ref])}
                    changed = True
                    stamped += 1
        out.append(orjson.dumps(doc) if changed else line)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(b"\n".join(out))
    tmp.replace(dest)
    return stamped
