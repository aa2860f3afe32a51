"""FHIR Bulk Data ``$export``: kick-off, status polling, resumable streaming download, cleanup.

The job's state lives in ``.bulk-job.json`` in the pull's staging folder (and is mirrored into the
pull's database row by the ``save`` callback): the status URL once kicked off, the manifest once
complete, and per output file whether it is fully on disk, its size and sha256. Every change is
written atomically before the next step, so an interrupted pull (crash, dropped connection,
exhausted retries) resumes where it stopped: no second kick-off while the server job lives, no
second download of a finished file whose bytes still match their hash.

Files are streamed to ``<name>.part`` and renamed when complete, so a half-written file is never
mistaken for a finished one. ``Content-Encoding: gzip`` is undone by httpx while streaming; a
``.ndjson.gz`` URL served as is stays compressed on disk under that suffix (ingest reads both).
OperationOutcome files from the manifest's ``error`` list go to ``.errors/`` (a hidden folder
ingest skips); their issues become quarantine rows (:mod:`caretwin.connectors.quarantine`).
Files of the manifest's ``deleted`` list (Bulk Data 2.0: Bundles of type ``transaction`` whose
entries are ``DELETE`` requests of ``Type/id``, for resources deleted since ``_since``) are kept in
``.deleted/`` as downloaded; the pull stages a copy with times
(:func:`caretwin.connectors.deletes.stamp_deletes`) as ``0-deleted.NNN.ndjson``, which ingest
turns into tombstones.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from caretwin.connectors.deletes import DELETED_DIR, DELETED_PREFIX
from caretwin.connectors.http import ConnectorError, FhirHttp, parse_retry_after

__all__ = ["STATE_FILE", "BulkRequest", "BulkState", "run_export"]

log = logging.getLogger(__name__)

STATE_FILE = ".bulk-job.json"  # hidden: ingest skips dot-files
ERRORS_DIR = ".errors"
CHUNK = 1 << 16


@dataclass(frozen=True)
class BulkRequest:
    """What to export: ``level`` is ``system``, ``patient`` or ``group`` (with ``group_id``)."""

    level: str = "system"
    group_id: str | None = None
    types: tuple[str, ...] = ()
    since: str | None = None

    def path(self) -> str:
        if self.level == "group":
            return f"Group/{self.group_id}/$export"
        return "Patient/$export" if self.level == "patient" else "$export"

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.types:
            out["_type"] = ",".join(self.types)
        if self.since:
            out["_since"] = self.since
        return out


@dataclass
class BulkState:
    """A job's resumable state, persisted as JSON after each step."""

    request: dict[str, Any]
    status_url: str | None = None
    manifest: dict[str, Any] | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: str | None = None
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "status_url": self.status_url,
            "manifest": self.manifest,
            "files": self.files,
            "progress": self.progress,
            "deleted": self.deleted,
        }

    @classmethod
    def load(cls, folder: Path) -> BulkState | None:
        path = folder / STATE_FILE
        if not path.exists():
            return None
        data = orjson.loads(path.read_bytes())
        return cls(**data)

    def write(self, folder: Path) -> None:
        tmp = folder / (STATE_FILE + ".tmp")
        tmp.write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2))
        os.replace(tmp, folder / STATE_FILE)


def kickoff(http: FhirHttp, request: BulkRequest) -> str:
    """Start the export and return its status URL (``Content-Location``)."""
    headers = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
    resp = http.request(
        "GET",
        http.url(request.path()),
        params=request.params(),
        headers=headers,
        ok=frozenset({200, 202}),
    )
    if resp.status_code == 200:
        # A server without asynchronous Bulk Data may run $export as an ordinary operation and
        # answer with the data itself; that is not a job this connector can poll or resume.
        what = _resource_type(resp.content)
        raise ConnectorError(
            f"{request.path()}: the server answered the export kick-off with 200 and "
            f"{what} instead of 202 Accepted: it does not support asynchronous Bulk Data "
            "export. Pull this source by REST search instead.",
            details={"status": 200, "answered": what},
        )
    location = resp.headers.get("Content-Location")
    if not location:
        raise ConnectorError(f"{request.path()}: 202 without Content-Location")
    return http.url(location)


def _resource_type(body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "a body that is not JSON"
    rtype = data.get("resourceType") if isinstance(data, dict) else None
    if not isinstance(rtype, str):
        return "a JSON body that is not a resource"
    return f"{'an' if rtype[:1] in 'AEIOU' else 'a'} {rtype}"


def poll(http: FhirHttp, state: BulkState, save: Callable[[], None]) -> dict[str, Any]:
    """Poll the status URL until the manifest arrives, honouring ``Retry-After``."""
    assert state.status_url is not None
    started = time.monotonic()
    while True:
        resp = http.request("GET", state.status_url, ok=frozenset({200, 202}))
        if resp.status_code == 200:
            manifest = resp.json()
            if not isinstance(manifest, dict) or not isinstance(manifest.get("output"), list):
                raise ConnectorError("export manifest has no output list")
            return manifest
        progress = resp.headers.get("X-Progress")
        if progress and progress != state.progress:
            state.progress = progress
            log.info("export in progress: %s", progress)
            save()
        wait = parse_retry_after(resp.headers.get("Retry-After"))
        wait = http.config.poll_interval if wait is None else wait
        wait = min(wait, http.config.max_retry_after)
        if time.monotonic() - started + wait > http.config.max_poll_seconds:
            raise ConnectorError(
                f"export not complete after {http.config.max_poll_seconds:.0f} s; "
                "resume the export later (the server's job is kept on record)"
            )
        http.wait(wait)


def _plan(state: BulkState) -> None:
    """Assign every manifest file a local name (stable across resumes)."""
    assert state.manifest is not None
    seq: dict[str, int] = {}
    for kind in ("output", "deleted", "error"):
        for item in state.manifest.get(kind) or []:
            url = str(item.get("url", "")) if isinstance(item, dict) else ""
            if not url or url in state.files:
                continue
            rtype = str(item.get("type") or "OperationOutcome")
            # deleted files hold Bundles: named apart so ingest does not take them as misfiled
            stem = DELETED_PREFIX if kind == "deleted" else rtype
            n = seq.get(f"{kind}:{stem}", 0)
            seq[f"{kind}:{stem}"] = n + 1
            gz = ".gz" if urlsplit(url).path.endswith(".gz") else ""
            name = f"{stem}.{n:03d}.ndjson{gz}"
            hidden = {"error": ERRORS_DIR, "deleted": DELETED_DIR}.get(kind)
            rel = f"{hidden}/{name}" if hidden else name
            state.files[url] = {"kind": kind, "type": rtype, "path": rel, "done": False}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(http: FhirHttp, url: str, dest: Path, use_auth: bool) -> tuple[int, str]:
    """Stream ``url`` to ``dest`` (via ``.part``), retrying a broken transfer from the start."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    headers = {"Accept": "application/fhir+ndjson"}
    attempt = 0
    while True:
        digest, size = hashlib.sha256(), 0
        try:
            with (
                http.stream("GET", url, headers=headers, use_auth=use_auth) as resp,
                open(part, "wb") as fh,
            ):
                for chunk in resp.iter_bytes(CHUNK):
                    fh.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    http.stats.bytes += len(chunk)
        except (httpx.TransportError, httpx.StreamError) as exc:
            http._retry(attempt, exc.__class__.__name__, url, None)
            attempt += 1
            continue
        os.replace(part, dest)
        return size, digest.hexdigest()


def run_export(
    http: FhirHttp,
    request: BulkRequest,
    folder: Path,
    state: BulkState | None,
    save_db: Callable[[BulkState], None],
) -> BulkState:
    """Run (or resume) an export into ``folder``; returns the state with every file done."""
    state = state or BulkState(request={**request.__dict__, "types": list(request.types)})

    def save() -> None:
        state.write(folder)
        save_db(state)

    if state.status_url is None:
        state.status_url = kickoff(http, request)
        save()
        log.info("export started: %s", state.status_url)
    if state.manifest is None:
        state.manifest = poll(http, state, save)
        _plan(state)
        save()
    use_auth = bool(state.manifest.get("requiresAccessToken", True))
    for url, item in state.files.items():
        dest = folder / item["path"]
        if item["done"] and dest.exists() and _sha256(dest) == item.get("sha256"):
            continue  # finished in an earlier attempt: never fetched twice
        size, sha = _download(http, url, dest, use_auth)
        item.update({"done": True, "bytes": size, "sha256": sha})
        save()
    return state


def delete_job(http: FhirHttp, state: BulkState, save: Callable[[], None]) -> None:
    """Tell the server it may discard the job's files; failures only warn (files expire anyway)."""
    if state.status_url is None or state.deleted:
        return
    try:
        http.request("DELETE", state.status_url, ok=frozenset({200, 202, 204, 404}))
    except ConnectorError as exc:
        log.warning("could not delete export job: %s", exc.message)
        return
    state.deleted = True
    save()
