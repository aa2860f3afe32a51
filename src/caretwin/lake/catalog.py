"""The lake catalog: which Parquet files make up each table, and the lake's data hash.

``lake/catalog.json`` is the lake's single commit point. A table is exactly the files its catalog
entry lists (paths relative to ``tables/<name>/``, with their hive-style partition folders such
as ``month=2025-01/``); files in a table folder that the catalog does not name are leftovers of an
interrupted ingest: readers ignore them and the next writer deletes them. Replacing the catalog with
``os.replace`` is atomic, so a reader sees either the lake before an ingest or the lake after it,
never a mix.

The data hash identifies the lake's content: sha256 over the sorted, distinct content hashes of
all raw resources, one per line. A snapshot id uses the same formula over the content hashes an
ingest added, so an ingest that adds nothing has the empty-set hash (:data:`EMPTY_HASH`).

Every path the catalog names must stay inside the lake: a table name is one plain folder name
and a file is a relative POSIX path without ``..`` (checked when the catalog is read, so a
crafted or corrupted ``catalog.json`` is refused before any file is read, moved or deleted).
Symbolic links that lead out of the lake are refused where files are changed
(:func:`inside_lake`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, Field, field_validator

from caretwin.errors import DataError

CATALOG_NAME = "catalog.json"
FORMAT = 2


def set_hash(hashes: Iterable[str]) -> str:
    """sha256 (hex) over the sorted distinct hex hashes, newline-joined; order-independent."""
    return hashlib.sha256("\n".join(sorted(set(hashes))).encode()).hexdigest()


EMPTY_HASH = set_hash(())


def check_name(name: str) -> str:
    """``name`` if it is one plain folder name (a table's folder under ``tables/``)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"table name {name!r} is not a plain folder name inside the lake")
    return name


def check_relative(rel: str) -> str:
    """``rel`` if it is a relative POSIX path that cannot leave the folder it is joined to."""
    parts = rel.split("/")
    if (
        not rel
        or rel.startswith("/")
        or "\\" in rel
        or "\0" in rel
        or (len(rel) > 1 and rel[1] == ":")  # a Windows drive
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise ValueError(f"file path {rel!r} leads outside the lake")
    return rel


def inside_lake(lake_dir: Path, path: Path) -> Path:
    """``path`` if its folder, symbolic links resolved, lies inside ``lake_dir``.

    The folder, not the path itself: unlinking a symbolic link removes the link, never its
    target, but a linked *folder* would let an unlink reach outside.
    """
    root = lake_dir.resolve()
    if not path.parent.resolve().is_relative_to(root):
        raise DataError(
            f"lake file {path} lies outside the lake {root} (a linked folder?); not touching it"
        )
    return path


class TableEntry(BaseModel):
    files: list[str] = Field(default_factory=list)
    rows: int = 0

    @field_validator("files")
    @classmethod
    def _relative(cls, files: list[str]) -> list[str]:
        for rel in files:
            check_relative(rel)
        return files


class ChangeCounts(BaseModel):
    """What one snapshot did to the resources of one type."""

    added: int = 0  # resources new to the lake
    updated: int = 0  # new versions of resources the lake already held
    deleted: int = 0  # deletes (tombstones) applied


class SnapshotEntry(BaseModel):
    """One ingest: ``added`` raw records (versions and tombstones) it brought, and per type."""

    snapshot_id: str
    created_at: str
    added: int
    quarantined: int
    no_change: bool
    data_hash: str
    source: str = ""
    counts: dict[str, ChangeCounts] = Field(default_factory=dict)
    seconds: float = 0.0


class Catalog(BaseModel):
    format: int = FORMAT
    data_hash: str = EMPTY_HASH
    tables: dict[str, TableEntry] = Field(default_factory=dict)
    snapshots: list[SnapshotEntry] = Field(default_factory=list)
    #: the next raw ``seq`` (ingest order across the lake's whole history)
    next_seq: int = 0
    #: sha256 of the ViewDefinition each canonical table was last built with
    views: dict[str, str] = Field(default_factory=dict)

    @field_validator("tables")
    @classmethod
    def _names(cls, tables: dict[str, TableEntry]) -> dict[str, TableEntry]:
        for name in tables:
            check_name(name)
        return tables

    def entry(self, name: str) -> TableEntry:
        return self.tables.get(name) or TableEntry()


def read_catalog(lake_dir: Path) -> Catalog:
    """The lake's catalog; an empty one where the lake has never been written."""
    path = lake_dir / CATALOG_NAME
    if not path.exists():
        return Catalog()
    try:
        data: Any = orjson.loads(path.read_bytes())
        return Catalog.model_validate(data)
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise DataError(f"the lake catalog {path} is unreadable: {exc}") from exc


def write_catalog(lake_dir: Path, catalog: Catalog) -> None:
    """Replace the catalog atomically (write a temp file beside it, fsync, ``os.replace``)."""
    lake_dir.mkdir(parents=True, exist_ok=True)
    path = lake_dir / CATALOG_NAME
    tmp = lake_dir / f".{CATALOG_NAME}.tmp"
    data = orjson.dumps(catalog.model_dump(), option=orjson.OPT_INDENT_2)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # e.g. a full disk: leave no half-written temp file
        raise
