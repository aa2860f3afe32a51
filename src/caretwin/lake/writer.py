"""Writing to the lake all-or-nothing: stage files, then commit with one catalog swap.

An ingest writes every new Parquet file into a private staging folder
(``lake/.staging/<random>/``). :meth:`LakeWriter.commit` moves the staged files into their
``tables/<name>/`` folders under fresh, never-reused names (invisible to readers, since the
catalog does not list them yet) and then atomically replaces ``catalog.json``; only after that are
superseded files deleted. Any error before the catalog swap removes the moved files and the
staging folder, so a failed ingest leaves the lake exactly as it was. A lock file serializes
writers on one lake (advisory ``flock`` where the platform has it).
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from caretwin.lake.catalog import Catalog, SnapshotEntry, TableEntry, read_catalog, write_catalog
from caretwin.lake.schema import SCHEMAS

try:  # pragma: no cover - platform dependent
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock
    fcntl = None  # type: ignore[assignment]  # flock is POSIX-only; the lock is best effort

COMPRESSION = "zstd"


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
        self._staged: list[tuple[str, str]] = []
        self._streams: list[tuple[str, StagedStream]] = []

    def __enter__(self) -> LakeWriter:
        self.lake_dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.lake_dir / ".lock", "a+b")  # held until __exit__
        if fcntl is not None:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX)
        self.catalog = read_catalog(self.lake_dir)
        self.staging.mkdir(parents=True)
        return self

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
        if data.num_rows:
            self.append(table, data)

    def commit(self, data_hash: str, snapshot: SnapshotEntry | None) -> None:
        """Publish every staged file and the new catalog in one atomic catalog swap."""
        for table, stream in self._streams:
            stream.close()
            if stream.rows:
                entry = self._entry(table)
                entry.files.append(stream.path.name)
                entry.rows += stream.rows
                self._staged.append((table, stream.path.name))
        new = self.catalog.model_copy(deep=True)
        new.tables.update(self._changes)
        new.data_hash = data_hash
        if snapshot is not None:
            new.snapshots.append(snapshot)
        moved: list[Path] = []
        try:
            for table, name in self._staged:
                target_dir = self.tables_dir / table
                target_dir.mkdir(parents=True, exist_ok=True)
                os.replace(self.staging / table / name, target_dir / name)
                moved.append(target_dir / name)
            write_catalog(self.lake_dir, new)
        except BaseException:
            for path in moved:
                path.unlink(missing_ok=True)
            raise
        self._delete_superseded(new)
        self.catalog = new

    def _delete_superseded(self, new: Catalog) -> None:
        for table in self._changes:
            keep = set(new.entry(table).files)
            for old in self.catalog.entry(table).files:
                if old not in keep:
                    (self.tables_dir / table / old).unlink(missing_ok=True)
