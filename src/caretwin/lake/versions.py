"""Which version of a resource is current: the ordering rule shared by ingestion and views.

The raw ``resources`` table keeps every version. The current one of a (type, id) is the greatest
by, in order: ``meta.versionId`` read as an integer, ``meta.lastUpdated``, then ingest order
(``seq``, lake-wide); a missing or non-numeric value sorts below any present one. A current
version that is a tombstone (``deleted``) means the resource is gone from the normalized tables
and from views, while its history stays in the raw table for lineage.
"""

from __future__ import annotations

#: ORDER BY clause putting a (type, id)'s current version first (columns of ``resources``).
LATEST_FIRST = (
    "TRY_CAST(version_id AS BIGINT) DESC NULLS LAST, last_updated DESC NULLS LAST, seq DESC"
)


def latest_sql(source: str, where: str = "") -> str:
    """The current version of every (type, id) in ``source`` (a relation with raw columns),
    tombstones included (filter ``NOT deleted`` for live resources)."""
    cond = f"WHERE {where}" if where else ""
    return (
        f"SELECT * FROM {source} {cond} QUALIFY row_number() OVER ("
        f"PARTITION BY resource_type, resource_id ORDER BY {LATEST_FIRST}) = 1"
    )
