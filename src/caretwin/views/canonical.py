"""CareTwin's canonical tables produced by views, with the lake's column types.

A view yields FHIR values (``dateTime`` text, ``integer`` numbers); the lake's tables have the
Arrow types of docs/data-contract.md. :func:`canonical_table` runs a canonical view and then,
in DuckDB over the view's Arrow output:

1. casts to the contract's types: ``dateTime`` to UTC ``timestamp[us]`` with ingestion's
   leniency (a partial date is its first instant, a time without zone is UTC), ``date`` to
   ``date32`` (partial dates: first day), ``seq`` to ``int32``;
2. resolves conditional Location references (``Location?identifier=system|value``, e.g.
   Synthea's) against the Locations in the lake, as ingestion does — the one step a
   ViewDefinition cannot express, since views read one resource at a time;
3. sorts by the table key (and ``seq``), as ingestion writes its tables.
"""

from __future__ import annotations

import pyarrow as pa

from caretwin.errors import DataError
from caretwin.fhir.refs import LOCATION_QUERY
from caretwin.lake.schema import SCHEMAS, TABLE_KEYS
from caretwin.views.definition import View
from caretwin.views.runner import RELATION, Engine, Source, ViewResult, _arrow, run_view

#: The contract's schema of every table a view produces (work orders come from CMMS CSV).
CANONICAL: dict[str, pa.Schema] = {
    name: SCHEMAS[name] for name in TABLE_KEYS if name != "work_orders"
}
KEYS: dict[str, str] = dict(TABLE_KEYS)
#: Columns that may hold a conditional Location reference (as ingestion's merge step resolves).
LOCATION_COLUMNS = {"movements": "location_id", "devices": "location_id", "locations": "part_of"}


def _cast(name: str, dtype: pa.DataType) -> str:
    col = f'"{name}"'
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        text = f"CAST({col} AS VARCHAR)"
        full = (
            f"CASE WHEN length({text}) = 4 THEN {text} || '-01-01' "
            f"WHEN length({text}) = 7 THEN {text} || '-01' ELSE {text} END"
        )
        return f"CAST(({full}) AS {'DATE' if pa.types.is_date(dtype) else 'TIMESTAMPTZ'})"
    if pa.types.is_int32(dtype):
        return f"CAST({col} AS INTEGER)"
    if pa.types.is_floating(dtype):
        return f"CAST({col} AS DOUBLE)"
    return f"CAST({col} AS VARCHAR)"


def typed_select(schema: pa.Schema) -> str:
    """The SELECT list casting a view's output columns to ``schema``'s types (see above)."""
    return ", ".join(f'{_cast(f.name, f.type)} AS "{f.name}"' for f in schema)


def canonical_table(
    table_name: str, view: View, source: Source, engine: Engine = "auto"
) -> tuple[pa.Table, ViewResult]:
    """The canonical table ``table_name`` from ``view`` over ``source``, typed and sorted."""
    schema = CANONICAL.get(table_name)
    if schema is None:
        raise DataError(
            f"{table_name!r} is not a canonical table", details={"tables": list(CANONICAL)}
        )
    missing = [n for n in schema.names if n not in view.column_names()]
    if missing:
        raise DataError(f"view {view.name} lacks the columns {missing} of table {table_name}")
    result = run_view(view, source, engine)
    con = source.con
    con.register("__view_out", result.table)
    try:
        sql = f"SELECT {typed_select(schema)} FROM __view_out"
        loc_col = LOCATION_COLUMNS.get(table_name)
        if loc_col is not None:
            sql = _resolve_locations(sql, loc_col, schema)
        order = f'"{KEYS[table_name]}"' + (', "seq"' if table_name == "movements" else "")
        typed = _arrow(con.sql(f"SELECT * FROM ({sql}) ORDER BY {order}"))
    finally:
        con.unregister("__view_out")
    return typed.cast(schema), result


def _resolve_locations(sql: str, column: str, schema: pa.Schema) -> str:
    """Replace ``Location?identifier=...`` texts by the id of the Location holding it."""
    ids = f"""SELECT k, min(resource_id) AS location_id FROM (
        SELECT resource_id, unnest(list_concat(
            list_transform(idents, lambda i: i ->> 'value'),
            list_transform(list_filter(idents, lambda i: i ->> 'system' IS NOT NULL),
                lambda i: (i ->> 'system') || '|' || (i ->> 'value')))) AS k
        FROM (SELECT resource_id, list_filter(ct_items(json::JSON -> 'identifier'),
                lambda i: i ->> 'value' IS NOT NULL) AS idents
              FROM {RELATION} WHERE resource_type = 'Location')) GROUP BY k"""
    cols = ", ".join(
        f'coalesce(__ids.location_id, v."{f.name}") AS "{f.name}"'
        if f.name == column
        else f'v."{f.name}"'
        for f in schema
    )
    return (
        f"SELECT {cols} FROM ({sql}) v LEFT JOIN ({ids}) __ids "
        f"ON starts_with(v.\"{column}\", '{LOCATION_QUERY}') "
        f'AND __ids.k = v."{column}"[{len(LOCATION_QUERY) + 1}:]'
    )
