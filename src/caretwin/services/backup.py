"""Backing up a live workspace and restoring one into a fresh folder (audited, workspace.admin).

The mechanics (what goes in the archive, in which order, and why that is consistent) are in
:mod:`caretwin.workspace.backup`. A restore is audited in the restored workspace, whose chain
continues the archived one, so it needs the audit key: from the archive (``include_key``), a
key file given to the restore, or ``$CARETWIN_AUDIT_KEY``.
"""

from __future__ import annotations

from pathlib import Path

from caretwin.access import Actor, Permission, require
from caretwin.audit.keys import AuditKey
from caretwin.errors import ConfigError
from caretwin.services.context import ServiceContext
from caretwin.services.results import ServiceResult
from caretwin.workspace import Workspace

__all__ = ["BackupResult", "RestoreResult", "backup_workspace", "restore_workspace"]


class BackupResult(ServiceResult):
    path: str
    files: int
    bytes: int
    rows: dict[str, int]
    audit_head_seq: int | None
    lake_data_hash: str | None
    include_key: bool


class RestoreResult(ServiceResult):
    workspace: str
    files: int
    rows: dict[str, int]
    audit_head_seq: int | None
    lake_data_hash: str | None
    #: The restored workspace's audit chain and lake, checked after the restore.
    audit_ok: bool
    lake_ok: bool


def backup_workspace(ctx: ServiceContext, out: Path, include_key: bool = False) -> BackupResult:
    """Write a consistent archive of the (possibly busy) workspace to ``out``."""
    from caretwin.workspace.backup import write_archive

    with ctx.operation("workspace.backup", Permission.WORKSPACE_ADMIN, str(out)) as op:
        op.details["include_key"] = include_key
        try:
            info = write_archive(ctx.workspace, out, include_key=include_key)
        except OSError as exc:
            raise ConfigError(f"cannot write the backup {out}: {exc.strerror or exc}") from exc
        op.details.update({"files": info.files, "bytes": info.bytes, "audit_head": info.audit_head})
        return BackupResult(
            path=str(info.path),
            files=info.files,
            bytes=info.bytes,
            rows=info.rows,
            audit_head_seq=info.audit_head,
            lake_data_hash=info.data_hash,
            include_key=include_key,
        )


def restore_workspace(
    archive: Path,
    to: Path,
    actor: Actor,
    key_file: Path | None = None,
    database_url: str | None = None,
) -> RestoreResult:
    """Restore ``archive`` into the fresh folder ``to``; checks its audit chain and lake.

    The new workspace does not exist before, so (as for ``init``) the permission is checked
    and the ``workspace.restore`` event recorded in the restored workspace, after the
    verification (which writes a checkpoint of the restored head).
    """
    from caretwin.audit.log import AuditLog
    from caretwin.lake.lake import Lake
    from caretwin.workspace.backup import recomputed_data_hash, restore_archive

    require(actor, Permission.WORKSPACE_ADMIN)  # no workspace yet to audit a denial in
    key: bytes | None = None
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the audit key {key_file}: {exc.strerror}") from exc
        AuditKey.from_hex(key.decode("ascii", "replace"))  # refuse a wrong file before writing
    info = restore_archive(archive, to, key=key, database_url=database_url)
    ws = Workspace.open(info.root)
    try:
        report = AuditLog(ws).verify()
        lake_hash = Lake(ws.lake_dir).catalog().data_hash
        lake_ok = (
            info.data_hash in (None, lake_hash) and recomputed_data_hash(ws.lake_dir) == lake_hash
        )
        ctx = ServiceContext(ws, actor)
        with ctx.operation("workspace.restore", Permission.WORKSPACE_ADMIN, str(ws.root)) as op:
            op.details.update(
                {
                    "archive": Path(archive).name,
                    "audit_ok": report.ok,
                    "audit_head": info.audit_head,
                    "lake_ok": lake_ok,
                }
            )
        return RestoreResult(
            workspace=str(ws.root),
            files=info.files,
            rows=info.rows,
            audit_head_seq=info.audit_head,
            lake_data_hash=info.data_hash,
            audit_ok=report.ok,
            lake_ok=lake_ok,
        )
    finally:
        ws.close()
