"""Writing to the lake all-or-nothing: stage files, then commit with one catalog swap.

An ingest writes every new Parquet file into a private staging folder
(``lake/.staging/<random>/``), either through :meth:`LakeWriter.append` (Arrow) or as a whole
partitioned folder written by DuckDB (:meth:`LakeWriter.stage_dir` then
:meth:`LakeWriter.add_dir`). :meth:`LakeWriter.commit` moves the staged files into their
``tables/<name>/`` folders (keeping their partition sub-folders) under fresh, never-reused names
(invisible to readers, since the catalog does not list them yet) and then atomically replaces
``catalog.json``; only after that are superseded files deleted. Any error before the catalog swap
removes the moved files and the staging folder, so a failed ingest leaves the lake exactly as it
was. A lock file serializes writers on one lake (advisory ``flock`` where the platform has it);
under it, a new writer first deletes what a killed one may have left (files no catalog lists,
stale staging folders), so a table folder holds exactly its current files for outside readers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from caretwin.errors import DataError
from caretwin.lake.catalog import (
    Catalog,
    SnapshotEntry,
    TableEntry,
    check_name,
    check_relative,
    inside_lake,
    read_catalog,
    write_catalog,
)
from caretwin.lake.schema import SCHEMAS

try:  # pragma: no cover - platform dependent
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock
    fcntl = None  # type: ignore[assignment]  # flock is POSIX-only; the lock is best effort

COMPRESSION = "zstd"

log = logging.getLogger(__name__)


class StagedStream:
    """A Parquet file written batch by batch, so a large ingest never holds a table in memory."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema, compression=COMPRESSION)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class LakeWriter:
    """One all-or-nothing change to the lake. Use as a context manager, then :meth:`commit`."""

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = lake_dir
        self.tables_dir = lake_dir / "tables"
        self.staging = lake_dir / ".staging" / uuid.uuid4().hex
        self._lock: IO[Any] | None = None
        self.catalog: Catalog = Catalog()
        self._changes: dict[str, TableEntry] = {}
        self._staged: list[tuple[str, Path, str]] = []  # (table, staged file, path in table)
        self._streams: list[tuple[str, StagedStream]] = []
        self.tag = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> LakeWriter:
        self.lake_dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.lake_dir / ".lock", "a+b")  # held until __exit__
        try:
            if fcntl is not None:
                fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX)
            self.catalog = read_catalog(self.lake_dir)
            self._sweep()
            self.staging.mkdir(parents=True)
        except BaseException:
            self._lock.close()  # __exit__ does not run when __enter__ raises
            self._lock = None
            raise
        return self

    def _sweep(self) -> None:
        """Delete leftovers of a writer that was killed: unlisted table files, old staging."""
        shutil.rmtree(self.lake_dir / ".staging", ignore_errors=True)
        if not self.tables_dir.is_dir() or not (self.lake_dir / "catalog.json").exists():
            return  # no catalog: nothing says which files are current, so delete nothing
        inside_lake(self.lake_dir, self.tables_dir / "table")  # tables/ itself not linked out
        # A linked table folder is not walked: its files may not be the lake's to delete.
        folders = (p for p in self.tables_dir.iterdir() if p.is_dir() and not p.is_symlink())
        for folder in sorted(folders):
            listed = set(self.catalog.entry(folder.name).files)
            for path in sorted(folder.rglob("*"), reverse=True):
                rel = path.relative_to(folder).as_posix()
                if path.is_symlink():
                    if rel not in listed:
                        path.unlink()  # removes the link only
                elif path.is_file() and rel not in listed:
                    path.unlink()
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        for _, stream in self._streams:
            stream.close()
        shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the flock
            self._lock = None

    def _new_path(self, table: str) -> Path:
        """A staging path under a never-reused name (time-ordered for people listing folders)."""
        name = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.parquet"
        folder = self.staging / table
        folder.mkdir(exist_ok=True)
        return folder / name

    def stage_dir(self, table: str) -> Path:
        """A new empty folder for a partitioned write of ``table`` (name files with ``tag``)."""
        folder = self.staging / "dirs" / f"{table}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        return folder

    def add_dir(self, table: str, folder: Path, replace: bool = False) -> int:
        """Register every Parquet file under ``folder`` (partition sub-folders kept) as new
        files of ``table``; with ``replace`` they become its whole content. Returns rows."""
        entry = self._entry(table)
        if replace:
            entry.files, entry.rows = [], 0
            self._streams = [(t, s) for t, s in self._streams if t != table]
            self._staged = [x for x in self._staged if x[0] != table]
        rows = 0
        for path in sorted(folder.rglob("*.parquet")):
            n = pq.ParquetFile(path).metadata.num_rows
            if n == 0:
                continue
            rel = path.relative_to(folder).as_posix()
            entry.files.append(rel)
            entry.rows += n
            rows += n
            self._staged.append((table, path, rel))
        return rows

    def _entry(self, table: str) -> TableEntry:
        if table not in self._changes:
            self._changes[table] = self.catalog.entry(table).model_copy(deep=True)
        return self._changes[table]

    def append_stream(self, table: str) -> StagedStream:
        """A new file to add to ``table``; registered at commit if any rows were written."""
        stream = StagedStream(self._new_path(table), SCHEMAS[table])
        self._streams.append((table, stream))
        return stream

    def append(self, table: str, data: pa.Table) -> None:
        """Add ``data`` as one more file of ``table``."""
        stream = self.append_stream(table)
        stream.write(data.cast(SCHEMAS[table]))

    def replace(self, table: str, data: pa.Table) -> None:
        """Make ``data`` the whole content of ``table`` (one file, or none when empty)."""
        entry = self._entry(table)
        entry.files, entry.rows = [], 0
        self._streams = [(t, s) for t, s in self._streams if t != table]
        self._staged = [x for x in self._staged if x[0] != table]
        if data.num_rows:
            self.append(table, data)

    def commit(self, data_hash: str, snapshot: SnapshotEntry | None, **catalog_fields: Any) -> None:
        """Publish every staged file and the new catalog in one atomic catalog swap.

        ``catalog_fields`` set further catalog fields (``next_seq``, ``views``) in the same swap.
        """
        for table, stream in self._streams:
            stream.close()
            if stream.rows:
                entry = self._entry(table)
                entry.files.append(stream.path.name)
                entry.rows += stream.rows
                self._staged.append((table, stream.path, stream.path.name))
        self._streams = []
        new = self.catalog.model_copy(deep=True, update=catalog_fields)
        new.tables.update(self._changes)
        new.data_hash = data_hash
        if snapshot is not None:
            new.snapshots.append(snapshot)
        moved: list[Path] = []
        made: list[Path] = []  # folders this commit created (removed again on failure)
        try:
            for table, src, rel in self._staged:
                target = self._lake_path(table, rel)
                _mkdirs(target.parent, made)
                if target.exists():  # names are never reused: this is not our file
                    raise FileExistsError(f"lake file {target} already exists")
                os.replace(src, target)
                moved.append(target)
            write_catalog(self.lake_dir, new)
        except BaseException:
            for path in moved:
                path.unlink(missing_ok=True)
            for folder in reversed(made):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
        self._delete_superseded(new)
        self.catalog = new

    def _lake_path(self, table: str, rel: str) -> Path:
        """``tables/<table>/<rel>``, refused unless it stays inside the lake (links resolved)."""
        try:
            path = self.tables_dir / check_name(table) / check_relative(rel)
        except ValueError as exc:
            raise DataError(str(exc)) from exc
        return inside_lake(self.lake_dir, path)

    def _delete_superseded(self, new: Catalog) -> None:
        for table in self._changes:
            keep = set(new.entry(table).files)
            for old in self.catalog.entry(table).files:
                if old not in keep:
                    try:
                        path = self._lake_path(table, old)
                    except DataError:  # after the swap: leave a linked-out file alone
                        log.warning("not deleting superseded lake file %s/%s", table, old)
                        continue
                    path.unlink(missing_ok=True)
                    parent = path.parent
                    while (
                        parent != self.tables_dir / table
                        and parent.is_dir()
                        and not parent.is_symlink()
                        and not any(parent.iterdir())
                    ):
                        parent.rmdir()  # an emptied partition folder
                        parent = parent.parent


def _mkdirs(folder: Path, made: list[Path]) -> None:
    """``mkdir -p folder``, appending each folder it creates to ``made`` (outermost first)."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        made.append(path)
