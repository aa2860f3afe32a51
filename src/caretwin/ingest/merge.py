"""Merging an ingest's normalized rows into the lake's tables ("latest ingested wins").

A normalized table is keyed by the id of the resource its rows come from (``movements`` by
encounter: all of an encounter's rows are replaced together, so a new Encounter version with
fewer locations leaves no stale rows). The merged table is rewritten whole and sorted by key, so
a table's content, not its history of ingests, decides its files. This keeps calibration's views
free of duplicate ids at the cost of rewriting a touched table on each ingest, which is cheap
for operational tables (the large raw JSON is append-only and never rewritten).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from caretwin.ingest.refs import LOCATION_QUERY, LocationIndex
from caretwin.lake.schema import SCHEMAS, TABLE_KEYS

#: Columns that may hold a ``Location?identifier=`` reference to resolve against the lake.
LOCATION_REF_COLUMNS = {
    "movements": "location_id",
    "devices": "location_id",
    "locations": "part_of",
}


def merge(table: str, current: pa.Table, new_rows: Mapping[str, list[dict[str, Any]]]) -> pa.Table:
    """``current`` with the rows of every key in ``new_rows`` replaced by the new ones."""
    key = TABLE_KEYS[table]
    schema = SCHEMAS[table]
    new = pa.Table.from_pylist([r for rows in new_rows.values() for r in rows], schema=schema)
    replaced = pa.array(list(new_rows), pa.string())
    keep = pc.invert(pc.is_in(current[key], value_set=replaced))
    merged = pa.concat_tables([current.cast(schema).filter(keep), new])
    order = [(key, "ascending")] + ([("seq", "ascending")] if table == "movements" else [])
    return merged.sort_by(order)


def resolve_locations(
    table: str, data: pa.Table, index: Callable[[], LocationIndex]
) -> tuple[pa.Table, bool]:
    """Resolve ``Location?identifier=`` texts in ``table``'s location column; (table, changed).

    ``index`` is called only when such a text is present, since building it reads the lake's
    raw Locations.
    """
    column = LOCATION_REF_COLUMNS[table]
    values = data[column]
    pending = pc.starts_with(values.fill_null(""), LOCATION_QUERY)
    if not pc.any(pending).as_py():
        return data, False
    idx = index()
    resolved = [idx.lookup(v) for v in values.to_pylist()]
    if resolved == values.to_pylist():
        return data, False
    pos = data.schema.get_field_index(column)
    return data.set_column(pos, column, pa.array(resolved, pa.string())), True
