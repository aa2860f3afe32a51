"""The lake: Parquet tables under ``<workspace>/lake/tables/<name>/``, queried with DuckDB.

:class:`Lake` reads; :class:`~caretwin.lake.writer.LakeWriter` changes the lake all-or-nothing;
:mod:`~caretwin.lake.schema` holds the data contract's columns.
"""

from __future__ import annotations

from caretwin.lake.catalog import EMPTY_HASH, Catalog, set_hash
from caretwin.lake.lake import Lake
from caretwin.lake.schema import SCHEMAS, TABLE_KEYS, TABLES, empty_table
from caretwin.lake.writer import LakeWriter

__all__ = [
    "EMPTY_HASH",
    "SCHEMAS",
    "TABLES",
    "TABLE_KEYS",
    "Catalog",
    "Lake",
    "LakeWriter",
    "empty_table",
    "set_hash",
]
