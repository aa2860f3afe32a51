"""Data sources and pulls as audited services.

A pull downloads into ``<workspace>/incoming/<source>/<pull id>/`` and then loads that folder
with the ordinary ingest service, so validation, quarantine, dedup, the snapshot record and the
``data.ingest`` audit event are the same as for files brought by hand. Order is what makes a pull
crash-safe: (1) download and stage, (2) ingest, (3) only then advance the per-type watermarks and
mark the pull complete. A crash before (3) leaves the watermark where it was, so the next pull asks
for the same range again (ingest dedup makes the overlap free); a Bulk Data pull keeps its job
state and resumes with ``--resume`` without downloading finished files again.

Deletes on the server reach the lake as delete entries staged beside the downloads (REST: the
type's ``_history`` where the server declares it, or an id reconciliation on request; Bulk: the
manifest's ``deleted`` files), so ingest drops them from the current tables in the same snapshot.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from caretwin.access import Permission
from caretwin.connectors import records
from caretwin.connectors.auth import make_auth
from caretwin.connectors.bulk import ERRORS_DIR, BulkRequest, BulkState, delete_job, run_export
from caretwin.connectors.config import AuthMode, SourceConfig
from caretwin.connectors.deletes import (
    DeleteCheck,
    history_deletes,
    history_types,
    reconcile_deletes,
    stamp_deletes,
)
from caretwin.connectors.http import ConnectorError, FhirHttp
from caretwin.connectors.quarantine import quarantine_outcomes
from caretwin.connectors.report import PullReport
from caretwin.connectors.rest import TypeResult, search_type
from caretwin.errors import ConfigError
from caretwin.ingest.validate import CORE_TYPES
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import ingest
from caretwin.services.results import ServiceResult

__all__ = [
    "DEFAULT_TYPES",
    "PullRecord",
    "SourceDetail",
    "SourceListing",
    "SourceRemoved",
    "SourceSettings",
    "add_source",
    "list_sources",
    "pull",
    "remove_source",
    "set_base_url",
    "show_source",
    "source_warnings",
]

log = logging.getLogger(__name__)

#: Types a REST pull searches when none are named: those the lake normalizes.
DEFAULT_TYPES: tuple[str, ...] = CORE_TYPES
ALL_TYPES = "*"


class SourceSettings(ServiceResult):
    """A source's settings (secret *references* only: they are not secrets) and what is risky
    about them (not refused)."""

    source: SourceConfig
    warnings: list[str]


class SourceListing(ServiceResult):
    name: str
    kind: str
    base_url: str
    auth: str
    created_at: str
    created_by: str | None


class PullRecord(ServiceResult):
    """A pull on record; ``fetched`` is the records downloaded, all types together."""

    pull_id: str
    source: str
    mode: str
    status: str
    staging_dir: str
    snapshot_id: str | None
    started_at: str
    finished_at: str | None
    fetched: int
    counts: dict[str, Any]
    stats: dict[str, Any]


class SourceDetail(ServiceResult):
    """A source's settings, its watermark per resource type, and its recent pulls, newest first."""

    source: SourceConfig
    watermarks: dict[str, str]
    pulls: list[PullRecord]


class SourceRemoved(ServiceResult):
    removed: str


def add_source(ctx: ServiceContext, config: SourceConfig) -> SourceSettings:
    """Add a source; the result's ``warnings`` say what is risky about it (not refused)."""
    with ctx.operation("sources.add", Permission.SOURCES_MANAGE, target=config.name) as op:
        records.insert_source(ctx.workspace, config, ctx.actor.name)
        warnings = source_warnings(config)
        op.details.update(
            {"kind": config.kind, "auth": config.auth.mode.value, "warnings": len(warnings)}
        )
    return SourceSettings(source=config, warnings=warnings)


_LOOPBACK = ("localhost", "127.", "[::1]")


def source_warnings(config: SourceConfig) -> list[str]:
    """Credentials over plain ``http://`` (off this machine) and secret files others can read."""
    auth = config.auth
    out: list[str] = []
    urls = [config.base_url] + ([auth.token_url] if auth.token_url else [])
    for url in urls:
        host = url.split("://", 1)[-1].split("/", 1)[0]
        credentials = auth.mode != AuthMode.none or "@" in host
        if (
            url.startswith("http://")
            and credentials
            and not host.rsplit("@", 1)[-1].startswith(_LOOPBACK)
        ):
            out.append(f"credentials for {url} would cross the network unencrypted: use https://")
    for what, file in (("private key", auth.private_key_file), ("token file", auth.token_file)):
        if not file:
            continue
        try:
            mode = Path(file).expanduser().stat().st_mode
        except OSError:
            continue  # a missing file is reported when a pull reads it
        if mode & 0o077:
            out.append(
                f"{what} {file} is readable by other users (mode {mode & 0o777:o}): chmod 600 it"
            )
    return out


def list_sources(ctx: ServiceContext) -> list[SourceListing]:
    with ctx.operation("sources.list", Permission.DATA_READ, target="sources") as op:
        rows = records.list_sources(ctx.workspace)
        op.details["sources"] = len(rows)
    return [
        SourceListing(
            name=c.name,
            kind=c.kind,
            base_url=c.base_url,
            auth=c.auth.mode.value,
            created_at=at.isoformat(),
            created_by=by,
        )
        for c, at, by in rows
    ]


def _pull_record(row: dict[str, Any]) -> PullRecord:
    fetched = sum((row["counts"].get("fetched") or {}).values())
    return PullRecord.model_validate({**row, "fetched": fetched})


def show_source(ctx: ServiceContext, name: str) -> SourceDetail:
    with ctx.operation("sources.show", Permission.DATA_READ, target=name):
        config = records.get_source(ctx.workspace, name)
        return SourceDetail(
            source=config,
            watermarks=records.watermarks(ctx.workspace, name),
            pulls=[_pull_record(p) for p in records.list_pulls(ctx.workspace, name)],
        )


def remove_source(ctx: ServiceContext, name: str) -> SourceRemoved:
    """Forget a source and its watermarks; pulls stay on record (the audit needs them)."""
    with ctx.operation("sources.remove", Permission.SOURCES_MANAGE, target=name):
        records.delete_source(ctx.workspace, name)
    return SourceRemoved(removed=name)


def set_base_url(ctx: ServiceContext, name: str, base_url: str) -> SourceSettings:
    """Point a source at another base URL (its server's own origin), keeping its watermarks."""
    with ctx.operation("sources.update", Permission.SOURCES_MANAGE, target=name) as op:
        config = records.get_source(ctx.workspace, name)
        updated = SourceConfig.model_validate({**config.model_dump(), "base_url": base_url})
        records.set_base_url(ctx.workspace, name, updated.base_url)
        warnings = source_warnings(updated)
        op.details.update(
            {"base_url": updated.base_url, "previous": config.base_url, "warnings": len(warnings)}
        )
    return SourceSettings(source=updated, warnings=warnings)


def _pull_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def _seed(pull_id: str) -> int:
    """The retry-jitter seed: fixed per pull, so a replayed pull backs off the same way."""
    return int.from_bytes(hashlib.sha256(pull_id.encode()).digest()[:8], "big")


def pull(
    ctx: ServiceContext,
    name: str,
    *,
    types: list[str] | None = None,
    since: str | None = None,
    bulk: bool = False,
    group: str | None = None,
    patient: bool = False,
    resume: bool = False,
    restart: bool = False,
    reconcile: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PullReport:
    """Pull ``name`` by REST search (default) or Bulk Data export, then ingest what came.

    ``reconcile`` (default: the source's ``reconcile_deletes``) makes a REST pull list the
    server's ids of each type and delete from the lake those the server no longer has.
    """
    bulk = bulk or resume  # only an export can be resumed
    if (group or patient or restart) and not bulk:
        raise ConfigError(
            "a group, a patient-level export and a restart apply to Bulk Data exports only"
        )
    if reconcile and bulk:
        raise ConfigError("reconciling deletes is for REST pulls (an export lists its deletes)")
    if group and patient:
        raise ConfigError("export either one group or all patients, not both")
    with ctx.operation("data.pull", Permission.INGEST, target=name) as op:
        config = records.get_source(ctx.workspace, name)
        started = time.perf_counter()
        prior = records.resumable_pull(ctx.workspace, name) if bulk else None
        if prior is not None and restart:
            records.update_pull(ctx.workspace, prior["pull_id"], status="abandoned", finished=True)
            prior = None
        if resume and prior is None:
            raise ConfigError(
                f"nothing to resume: no unfinished bulk export of {name!r} with a server job "
                "on record (start a new export instead)",
                details={"source": name, "resumable": False},
            )
        if prior is not None and not resume:
            raise ConfigError(
                f"bulk export {prior['pull_id']} of {name!r} did not finish; "
                "resume it, or restart to abandon it and start over",
                details={"source": name, "pull_id": prior["pull_id"], "resumable": True},
            )
        pull_id = prior["pull_id"] if prior else _pull_id()
        folder = Path(prior["staging_dir"]) if prior else _folder(ctx, name, pull_id)
        mode = "bulk" if bulk else "rest"
        if prior is None:
            records.create_pull(ctx.workspace, pull_id, name, mode, ctx.actor.name, str(folder), {})
        op.details.update({"pull_id": pull_id, "mode": mode, "resumed": prior is not None})
        http = FhirHttp(config, make_auth(config.auth), seed=_seed(pull_id), sleep=sleep)
        report = PullReport(
            pull_id=pull_id, source=name, mode=mode, status="running", staging_dir=str(folder)
        )
        try:
            if bulk:
                level = "group" if group else "patient" if patient else "system"
                marks = _bulk(
                    ctx,
                    http,
                    report,
                    folder,
                    BulkRequest(level=level, group_id=group, types=tuple(types or ()), since=since),
                    prior,
                )
            else:
                if reconcile is None:
                    reconcile = config.reconcile_deletes
                marks = _rest(
                    ctx, http, report, folder, list(types or DEFAULT_TYPES), since, reconcile
                )
            _ingest(ctx, report, folder)
            records.advance_watermarks(ctx.workspace, name, marks, pull_id)
            report.watermarks = records.watermarks(ctx.workspace, name)
            report.status = "partial" if report.incomplete else "complete"
            if bulk:
                _finish_job(http, folder)
        except BaseException:
            records.update_pull(
                ctx.workspace, pull_id, status="failed", stats=http.stats.to_dict(), finished=True
            )
            raise
        finally:
            http.close()
        report.stats = http.stats.to_dict()
        report.seconds = round(time.perf_counter() - started, 3)
        records.update_pull(
            ctx.workspace,
            pull_id,
            status=report.status,
            finished=True,
            snapshot_id=report.snapshot_id,
            counts={"fetched": report.fetched, "ingest": report.ingest, "deleted": report.deleted},
            stats={**report.stats, "seconds": report.seconds},
        )
        op.details.update(
            {
                "status": report.status,
                "fetched": report.fetched,
                "added": report.added,
                "deleted": report.deleted,
                "quarantined": report.quarantined,
                "snapshot_id": report.snapshot_id,
                **report.stats,
                "seconds": report.seconds,
            }
        )
    return report


def _folder(ctx: ServiceContext, name: str, pull_id: str) -> Path:
    folder = ctx.workspace.root / "incoming" / name / pull_id
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def _rest(
    ctx: ServiceContext,
    http: FhirHttp,
    report: PullReport,
    folder: Path,
    types: list[str],
    since: str | None,
    reconcile: bool,
) -> dict[str, str]:
    """Search each type and look for its deletes; returns the watermarks earned by types that
    completed (a type whose deletes could not be read from its history keeps its watermark, so
    the next pull reads the same history again)."""
    current = records.watermarks(ctx.workspace, report.source)
    marks: dict[str, str] = {}
    with_history = set() if reconcile else history_types(http)
    for position, rtype in enumerate(types):
        start = since or current.get(rtype)
        try:
            result = search_type(http, rtype, start, folder, http.config.page_size)
        except ConnectorError as exc:
            # The server is failing past the retry budget: keep what arrived, hold this and
            # the remaining types' watermarks, and say so.
            result = TypeResult(rtype, complete=False, error=exc.message)
            for rest in types[position + 1 :]:
                report.incomplete[rest] = "not attempted after an earlier type failed"
            report.incomplete[rtype] = exc.message
            report.fetched[rtype] = _lines(folder / f"{rtype}.000.ndjson")
            break
        report.fetched[rtype] = result.records
        deletes_ok = _deletes(ctx, http, report, folder, rtype, start, reconcile, with_history)
        if not result.complete:
            report.incomplete[rtype] = result.error or "incomplete"
        elif result.max_last_updated and deletes_ok:
            marks[rtype] = result.max_last_updated
    records.update_pull(
        ctx.workspace, report.pull_id, status="running", counts={"fetched": report.fetched}
    )
    return marks


def _deletes(
    ctx: ServiceContext,
    http: FhirHttp,
    report: PullReport,
    folder: Path,
    rtype: str,
    since: str | None,
    reconcile: bool,
    with_history: set[str],
) -> bool:
    """Stage ``rtype``'s server-side deletes; False when its history could not be read."""
    page_size = http.config.page_size
    try:
        check: DeleteCheck | None = None
        if reconcile:
            mine = (ctx.workspace.root / "incoming" / report.source).resolve().as_posix() + "/"
            lake = ctx.workspace.lake_dir
            check = reconcile_deletes(http, rtype, lake, mine, folder, page_size)
        elif rtype not in with_history:
            report.delete_checks[rtype] = (
                "not checked: the server declares no history for this type "
                "(reconciling deletes against the server's ids would find them)"
            )
        elif since is None:
            report.delete_checks[rtype] = "history: first pull, nothing to compare"
        else:
            lake = ctx.workspace.lake_dir
            check = history_deletes(http, rtype, since, folder, page_size, lake)
    except ConnectorError as exc:
        how = "reconciliation" if reconcile else "history"
        report.delete_checks[rtype] = f"{how} failed"
        report.incomplete[rtype] = f"deletes not read ({how}): {exc.message}"
        return reconcile  # a failed reconciliation is simply tried again next time
    if check is not None:
        report.delete_checks[rtype] = f"{check.method}: {check.staged} delete(s) found"
    return True


def _lines(path: Path) -> int:
    """Non-blank lines of a staged NDJSON file (plain or gzip)."""
    if not path.exists():
        return 0
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def _bulk(
    ctx: ServiceContext,
    http: FhirHttp,
    report: PullReport,
    folder: Path,
    request: BulkRequest,
    prior: dict[str, Any] | None,
) -> dict[str, str]:
    """Run or resume the export; returns the watermark (transactionTime) per requested type."""
    state = None
    if prior is not None:
        state = BulkState.load(folder)
        if state is None and prior.get("state"):  # the staged copy is gone; the row has it
            state = BulkState(**prior["state"])
    if state is not None:
        request = BulkRequest(
            level=state.request["level"],
            group_id=state.request["group_id"],
            types=tuple(state.request["types"]),
            since=state.request["since"],
        )
    elif request.since is None:
        current = records.watermarks(ctx.workspace, report.source)
        keys = list(request.types) or [ALL_TYPES]
        if all(k in current for k in keys):
            request = BulkRequest(
                level=request.level,
                group_id=request.group_id,
                types=request.types,
                since=min(current[k] for k in keys),
            )

    def save_db(st: BulkState) -> None:
        records.update_pull(ctx.workspace, report.pull_id, state=st.to_dict())

    state = run_export(http, request, folder, state, save_db)
    assert state.manifest is not None
    deleted = [item for item in state.files.values() if item["kind"] == "deleted"]
    for item in deleted:
        # the staged copy is remade on every attempt: it depends on the lake as it is now
        source = folder / item["path"]
        name = source.name.removesuffix(".gz")
        stamp_deletes(ctx.workspace.lake_dir, source, folder / name)
    deleted_files = len(deleted)
    if request.since is not None or deleted_files:
        report.delete_checks["*"] = f"bulk: {deleted_files} deleted file(s) in the manifest"
    for item in state.files.values():
        if item["kind"] == "output":
            lines = _lines(folder / item["path"])
            report.fetched[item["type"]] = report.fetched.get(item["type"], 0) + lines
    when = state.manifest.get("transactionTime")
    return {k: str(when) for k in (list(request.types) or [ALL_TYPES])} if when else {}


def _finish_job(http: FhirHttp, folder: Path) -> None:
    """Delete the finished export job on the server (best effort: its files expire anyway)."""
    state = BulkState.load(folder)
    if state is not None:
        delete_job(http, state, lambda: state.write(folder))


def _ingest(ctx: ServiceContext, report: PullReport, folder: Path) -> None:
    result = ingest(ctx, [folder])
    report.snapshot_id = None if result.no_change else result.snapshot_id
    report.ingest = {t: c.model_dump() for t, c in result.counts.items()}
    report.added, report.quarantined = result.added, result.quarantined
    report.deleted = {t: c.deleted for t, c in result.counts.items() if c.deleted}
    errors = sorted((folder / ERRORS_DIR).glob("*.ndjson*")) if report.mode == "bulk" else []
    if errors:
        report.source_errors = quarantine_outcomes(
            ctx.workspace.lake_dir, errors, result.snapshot_id
        )
        report.quarantined += report.source_errors
