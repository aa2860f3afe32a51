"""A consistent archive of a live workspace, and bringing one back into a fresh folder.

The archive is a gzip'd tar: ``manifest.json`` (format, time, counts, the audit head, the lake's
data hash and every member's SHA-256), ``caretwin.yaml``, ``db/<table>.jsonl`` (every metadata
table, one JSON row per line: a logical export that works on SQLite and PostgreSQL alike and
restores into either), ``lake/``, ``runs/``, ``audit-checkpoints/`` and, only when asked,
``keys/audit.key``.

Consistency without stopping the workspace, in this order:

1. the checkpoints, first, so none vouches for an event newer than the database copy;
2. the database, in one read transaction (SQLite ``BEGIN``; PostgreSQL ``REPEATABLE READ``):
   every table as of one instant;
3. the lake from one read of its commit point ``catalog.json``: exactly the files it names (a
   writer that replaces them meanwhile makes the copy start over, at most a few times); a
   snapshot the lake committed after step 2 is recorded by recovery when the restored
   workspace is first opened (audited ``recovered``), as after a crash;
4. the run folders (a run still going is closed as interrupted by the same recovery).

The audit key stays out unless ``include_key``: an archive travels (to backup media, to another
site) and the chain is only tamper-evident while the key is kept apart from the database.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Integer, Table, func, select, text

from caretwin.audit.checkpoints import CHECKPOINT_DIR
from caretwin.audit.keys import ENV_KEY, KEY_FILE
from caretwin.errors import ConfigError, DataError
from caretwin.store.models import Base
from caretwin.version import __version__
from caretwin.workspace.config import CONFIG_FILE, load_config, save_config
from caretwin.workspace.workspace import Workspace

__all__ = ["ARCHIVE_FORMAT", "BackupInfo", "RestoreInfo", "restore_archive", "write_archive"]

ARCHIVE_FORMAT = 1
MANIFEST = "manifest.json"
_LAKE_TRIES = 5


@dataclass
class BackupInfo:
    path: Path
    files: int = 0
    bytes: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    audit_head: int | None = None
    data_hash: str | None = None
    include_key: bool = False


@dataclass
class RestoreInfo:
    root: Path
    files: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    data_hash: str | None = None
    audit_head: int | None = None


class _Writer:
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.sums: dict[str, str] = {}
        self.bytes = 0

    def add_bytes(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o600, int(datetime.now(UTC).timestamp())
        self.tar.addfile(info, io.BytesIO(data))
        self.sums[name] = hashlib.sha256(data).hexdigest()
        self.bytes += len(data)

    def add_file(self, name: str, path: Path) -> None:
        self.add_bytes(name, path.read_bytes())


def _files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                yield path


def _dump_tables(conn: Connection) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for table in Base.metadata.sorted_tables:
        lines = [
            orjson.dumps(dict(row._mapping), default=str)
            for row in conn.execute(select(table).order_by(*table.primary_key.columns))
        ]
        out[str(table.name)] = b"".join(line + b"\n" for line in lines)
    return out


def _snapshot_db(ws: Workspace) -> dict[str, bytes]:
    with ws.engine.connect() as conn:
        if ws.backend == "sqlite":
            conn.exec_driver_sql("BEGIN")  # one read transaction over every table
            try:
                return _dump_tables(conn)
            finally:
                conn.exec_driver_sql("COMMIT")
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            return _dump_tables(conn)


def _lake(ws: Workspace, writer: _Writer) -> str | None:
    catalog_path = ws.lake_dir / "catalog.json"
    for _ in range(_LAKE_TRIES):
        try:
            raw = catalog_path.read_bytes()
        except FileNotFoundError:
            return None
        catalog = orjson.loads(raw)
        names = {
            f"tables/{name}/{rel}"
            for name, entry in catalog.get("tables", {}).items()
            for rel in entry.get("files", [])
        }
        try:
            members = {rel: (ws.lake_dir / rel).read_bytes() for rel in sorted(names)}
        except FileNotFoundError:
            continue  # a writer replaced files after our catalog read: take the new catalog
        writer.add_bytes("lake/catalog.json", raw)
        for rel, data in members.items():
            writer.add_bytes(f"lake/{rel}", data)
        for path in _files(ws.lake_dir):  # quarantine and the like; not a table's leftovers
            rel = path.relative_to(ws.lake_dir).as_posix()
            if rel != "catalog.json" and not rel.startswith("tables/") and ".tmp" not in rel:
                writer.add_file(f"lake/{rel}", path)
        return str(catalog.get("data_hash"))
    raise DataError("the lake kept changing during the backup: try again when ingests pause")


def write_archive(ws: Workspace, out: Path, *, include_key: bool = False) -> BackupInfo:
    """Write the archive of ``ws`` to ``out`` (a temporary file renamed into place)."""
    out = Path(out)
    info = BackupInfo(out, include_key=include_key)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with tarfile.open(tmp, "w:gz", compresslevel=3) as tar:
            writer = _Writer(tar)
            for path in _files(ws.root / CHECKPOINT_DIR):  # 1. before the database: see above
                writer.add_file(f"{CHECKPOINT_DIR}/{path.name}", path)
            tables = _snapshot_db(ws)  # 2.
            for name, data in tables.items():
                writer.add_bytes(f"db/{name}.jsonl", data)
                info.rows[name] = data.count(b"\n")
            info.data_hash = _lake(ws, writer)  # 3.
            for path in _files(ws.runs_dir):  # 4.
                writer.add_file(f"runs/{path.relative_to(ws.runs_dir).as_posix()}", path)
            writer.add_file(CONFIG_FILE, ws.config_path)
            if include_key:
                writer.add_file(KEY_FILE.as_posix(), _key_path(ws))
            info.audit_head = _audit_head(tables.get("audit_events", b""))
            manifest = {
                "format": ARCHIVE_FORMAT,
                "caretwin": __version__,
                "created_at": datetime.now(UTC).isoformat(),
                "workspace": ws.config.name,
                "backend": ws.backend,
                "root": str(ws.root),  # to move run report paths onto the restored folder
                "rows": info.rows,
                "audit_head_seq": info.audit_head,
                "lake_data_hash": info.data_hash,
                "include_key": include_key,
                "sha256": writer.sums,
            }
            info.files, info.bytes = len(writer.sums), writer.bytes
            writer.add_bytes(MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return info


def _key_path(ws: Workspace) -> Path:
    from caretwin.audit.keys import default_key_path

    path = default_key_path(ws)
    if not path.is_file():
        raise ConfigError(f"no audit key file at {path} to include (is it a configured secret?)")
    return path


def _audit_head(dump: bytes) -> int | None:
    seqs = [orjson.loads(line).get("seq") for line in dump.splitlines() if line]
    chained = [s for s in seqs if isinstance(s, int)]
    return max(chained) if chained else None


# -- restore -----------------------------------------------------------------------------------


def _read(tar: tarfile.TarFile) -> tuple[dict[str, Any], dict[str, bytes]]:
    members: dict[str, bytes] = {}
    for member in tar.getmembers():
        if not member.isfile():
            continue
        name = member.name
        if name.startswith("/") or ".." in name.split("/"):
            raise DataError(f"the archive holds an unsafe path {name!r}")
        fh = tar.extractfile(member)
        assert fh is not None
        members[name] = fh.read()
    try:
        manifest = orjson.loads(members.pop(MANIFEST))
    except (KeyError, orjson.JSONDecodeError) as exc:
        raise DataError("not a CareTwin backup: no readable manifest.json") from exc
    if manifest.get("format") != ARCHIVE_FORMAT:
        raise DataError(f"unsupported backup format {manifest.get('format')!r}")
    sums: dict[str, str] = manifest.get("sha256", {})
    for name, data in members.items():
        if sums.get(name) != hashlib.sha256(data).hexdigest():
            raise DataError(f"the backup is damaged: {name} does not match its checksum")
    if set(sums) != set(members):
        missing = sorted(set(sums) - set(members))
        raise DataError(f"the backup is incomplete: {missing[:3]} missing")
    return manifest, members


def _load_rows(conn: Connection, table: Table, data: bytes) -> int:
    dates = [c.name for c in table.columns if isinstance(c.type, DateTime) or _is_dt(c.type)]
    rows = []
    for line in data.splitlines():
        row = orjson.loads(line)
        for name in dates:
            if row.get(name) is not None:
                row[name] = datetime.fromisoformat(row[name])
        rows.append(row)
    for start in range(0, len(rows), 1000):
        conn.execute(table.insert(), rows[start : start + 1000])
    return len(rows)


def _moved(path: Any, old_root: str, new_root: Path) -> Any:
    """A report path inside the archived workspace, moved into the restored one."""
    if isinstance(path, str) and path.startswith(old_root.rstrip("/") + "/"):
        return str(new_root / path[len(old_root.rstrip("/")) + 1 :])
    return path


def _moved_report(data: bytes, old_root: str, new_root: Path) -> bytes:
    """A run manifest (JSON) with its ``report_path`` moved; other bytes unchanged."""
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or _moved(doc.get("report_path"), old_root, new_root) == doc.get(
        "report_path"
    ):
        return data
    doc["report_path"] = _moved(doc["report_path"], old_root, new_root)
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)


def _moved_reports(data: bytes, old_root: str, new_root: Path) -> bytes:
    """The ``runs`` table's rows with ``report_path`` (column and manifest) moved."""
    out = []
    for line in data.splitlines():
        row = orjson.loads(line)
        row["report_path"] = _moved(row.get("report_path"), old_root, new_root)
        if isinstance(row.get("manifest"), dict):
            row["manifest"]["report_path"] = _moved(
                row["manifest"].get("report_path"), old_root, new_root
            )
        out.append(orjson.dumps(row) + b"\n")
    return b"".join(out)


def _is_dt(kind: Any) -> bool:
    return isinstance(getattr(kind, "impl", None), DateTime)


def _reset_sequences(conn: Connection, table: Table) -> None:
    keys = list(table.primary_key.columns)
    if conn.dialect.name != "postgresql" or len(keys) != 1 or not isinstance(keys[0].type, Integer):
        return
    column = keys[0]
    top = conn.execute(select(func.max(column))).scalar()
    if top is not None:
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence(:t, :c), :v)"),
            {"t": table.name, "c": column.name, "v": int(top)},
        )


def restore_archive(
    archive: Path, to: Path, *, key: bytes | None = None, database_url: str | None = None
) -> RestoreInfo:
    """Bring ``archive`` back as a new workspace at ``to`` (a folder without a workspace).

    ``key``: the audit key file's content, when the archive does not hold it; without either
    (and without ``$CARETWIN_AUDIT_KEY``) nothing is restored: the chain could not be checked.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            manifest, members = _read(tar)
    except (OSError, tarfile.TarError) as exc:
        raise DataError(f"cannot read the backup {archive}: {exc}") from exc
    to = Path(to).expanduser()
    if (to / CONFIG_FILE).exists():
        raise ConfigError(f"a workspace already exists at {to}: restore into a fresh folder")
    if key is not None:
        members[KEY_FILE.as_posix()] = key
    elif KEY_FILE.as_posix() not in members and not os.environ.get(ENV_KEY):
        raise ConfigError(
            "the backup holds no audit key: give the workspace's key file to the restore "
            f"(or set {ENV_KEY}); without it the restored chain cannot be verified"
        )
    ws = Workspace.init(to, database_url=database_url)
    info = RestoreInfo(ws.root, files=len(members))
    try:
        with ws.engine.begin() as conn:
            for table in Base.metadata.sorted_tables:
                conn.execute(table.delete())  # init may have written (a shared first user)
            for table in Base.metadata.sorted_tables:
                data = members.get(f"db/{table.name}.jsonl", b"")
                if table.name == "runs" and manifest.get("root"):
                    data = _moved_reports(data, str(manifest["root"]), ws.root)
                info.rows[table.name] = _load_rows(conn, table, data)
                _reset_sequences(conn, table)
        for name, data in members.items():
            if (
                name.startswith("runs/")
                and name.endswith("/manifest.json")
                and manifest.get("root")
            ):
                data = _moved_report(data, str(manifest["root"]), ws.root)
            if name.startswith(("lake/", "runs/", f"{CHECKPOINT_DIR}/", "keys/")):
                path = ws.root / name
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
        saved = orjson.loads(orjson.dumps(_yaml(members.get(CONFIG_FILE, b""))))
        config = load_config(ws.root).model_copy(
            update={k: v for k, v in _settings(saved).items() if k != "database_url"}
        )
        save_config(ws.root, config)
    finally:
        ws.close()
    info.data_hash = manifest.get("lake_data_hash")
    info.audit_head = manifest.get("audit_head_seq")
    return info


def _yaml(data: bytes) -> dict[str, Any]:
    import yaml

    loaded = yaml.safe_load(data.decode("utf-8")) if data else {}
    return loaded if isinstance(loaded, dict) else {}


def _settings(saved: dict[str, Any]) -> dict[str, Any]:
    """The archived workspace's settings as config fields (name, time zone, audit, ...)."""
    from caretwin.workspace.config import WorkspaceConfig

    try:
        parsed = WorkspaceConfig.model_validate({**saved, "database_url": None})
    except ValueError as exc:
        raise DataError(f"the backup's {CONFIG_FILE} is invalid: {exc}") from exc
    return {name: getattr(parsed, name) for name in saved if name in WorkspaceConfig.model_fields}


def recomputed_data_hash(lake_dir: Path) -> str:
    """The lake's data hash computed from its raw resources' content hashes (not read from
    the catalog): what a restored lake must give to be the lake that was backed up."""
    from caretwin.lake.catalog import EMPTY_HASH, set_hash
    from caretwin.lake.lake import Lake

    lake = Lake(lake_dir)
    if not lake.table_files("resources"):
        return EMPTY_HASH
    column = lake.read_table("resources", ["content_hash"]).column("content_hash")
    return set_hash(str(v) for v in column.to_pylist())
