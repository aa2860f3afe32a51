"""Reading the lake: :class:`Lake` exposes every table as a DuckDB view over its Parquet files.

The views read exactly the files the catalog lists (see :mod:`caretwin.lake.catalog`), so a
half-finished ingest is never visible. Each view selects the contract's columns by name (files
hold every column; hive partition folders are derived copies and are not read as columns). A
table with no files yet is still a view with the contract's columns and types (an empty Arrow
table registered under its name), so calibration's SQL runs unchanged on an empty lake. The
connection's time zone is UTC: DuckDB evaluates
``hour(start)`` on a ``TIMESTAMP WITH TIME ZONE`` in the session zone, and the data contract
says the model's hour of day is the UTC hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from caretwin.errors import DataError
from caretwin.lake.catalog import Catalog, read_catalog
from caretwin.lake.schema import SCHEMAS, TABLE_KEYS, TABLES, empty_table
from caretwin.lake.sql import sql_str


def parquet_select(name: str, files: Sequence[Path], extra: str = "") -> str:
    """``SELECT <contract columns> FROM read_parquet(files)`` for table ``name``.

    ``extra`` adds read_parquet options (e.g. ``file_row_number = true``). Partition folders are
    not read as columns: the files hold every contract column.
    """
    cols = ", ".join(f'"{c}"' for c in SCHEMAS[name].names)
    listing = ", ".join(sql_str(str(f)) for f in files)
    opts = "hive_partitioning = false" + (f", {extra}" if extra else "")
    return f"SELECT {cols} FROM read_parquet([{listing}], {opts})"


class Lake:
    """The Parquet tables under ``lake_dir/tables/<name>/``, queried with DuckDB."""

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = Path(lake_dir)

    def catalog(self) -> Catalog:
        return read_catalog(self.lake_dir)

    def table_path(self, name: str) -> Path:
        """The folder holding ``name``'s Parquet files (it may not exist yet)."""
        if name not in SCHEMAS:
            raise DataError(f"unknown lake table {name!r}", details={"tables": list(TABLES)})
        return self.lake_dir / "tables" / name

    def table_files(self, name: str) -> list[Path]:
        """The files that currently make up ``name``, as the catalog lists them."""
        folder = self.table_path(name)
        return [folder / f for f in self.catalog().entry(name).files]

    def partition_files(self, name: str, folder: str, values: Iterable[str]) -> list[Path]:
        """The files of ``name`` under the partition folders ``<folder>=<value>`` given."""
        prefixes = tuple(f"{folder}={v}/" for v in values)
        return [
            self.table_path(name) / f
            for f in self.catalog().entry(name).files
            if f.startswith(prefixes)
        ]

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with one view per lake table."""
        con = duckdb.connect(":memory:")
        con.execute("SET TimeZone = 'UTC'")
        catalog = self.catalog()
        for name in TABLES:
            folder = self.table_path(name)
            files = [folder / f for f in catalog.entry(name).files]
            if files:
                con.execute(f'CREATE VIEW "{name}" AS {parquet_select(name, files)}')
            else:
                con.register(f"__empty_{name}", empty_table(name))
                con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM "__empty_{name}"')
        return con

    def query(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        """Run ``sql`` over the lake's views and return the result as an Arrow table; values
        go in ``params`` (``?`` in ``sql``), never into the text."""
        con = self.connect()
        try:
            rel = con.sql(sql, params=params)
            if rel is None:  # a statement without a result
                return pa.table({})
            # DuckDB 2 names it to_arrow_table; 1.x has arrow() returning a Table (pyproject: >=1.0)
            fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
            table: pa.Table = fetch()
            return table
        except duckdb.Error as exc:
            raise DataError(f"lake query failed: {exc}") from exc
        finally:
            con.close()

    def read_table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """One table as Arrow with the contract's schema (without DuckDB).

        A normalized table comes sorted by its key (and ``seq`` for movements) whatever its
        partitioning on disk, as it did when each table was one file.
        """
        files = self.table_files(name)
        schema = SCHEMAS[name]
        if columns is not None:
            schema = pa.schema([schema.field(c) for c in columns])
        if not files:
            return schema.empty_table()
        parts = [pq.read_table(f, columns=columns, schema=schema) for f in files]
        table = pa.concat_tables(parts)
        key = TABLE_KEYS.get(name)
        order = [k for k in (key, "seq" if name == "movements" else None) if k in schema.names]
        if len(parts) > 1 and order:
            table = table.sort_by([(k, "ascending") for k in order])
        return table

    def data_hash(self) -> str:
        """sha256 over the sorted content hashes of every raw resource in the lake."""
        return self.catalog().data_hash

    def counts(self) -> dict[str, int]:
        """Row count per table (from the catalog, so no file is opened)."""
        catalog = self.catalog()
        return {name: catalog.entry(name).rows for name in TABLES}
