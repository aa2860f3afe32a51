"""The lake's table schemas: the column names and Arrow types of docs/data-contract.md.

These schemas are the single place the contract's columns are spelled out in code. Ingestion
builds every Parquet file with them and :class:`caretwin.lake.Lake` uses them to expose an empty
table as a typed view, so calibration's SQL sees the same columns whether or not data has
arrived. Timestamps are ``timestamp[us, tz=UTC]``; ``birth_date`` is ``date32``; ``movements.seq``
is the 0-based index of the entry in ``Encounter.location[]``; ``line`` is the 1-based line of the
source file.

The raw ``resources`` table keeps every version of every resource: ``version`` is the dedupe key
within (type, id) (``meta.versionId``, else ``meta.lastUpdated``, else the content hash),
``version_id``/``last_updated`` order versions (see :mod:`caretwin.lake.versions`), ``seq`` is
the lake-wide ingest order, ``deleted`` marks a tombstone (a FHIR delete) and ``full_url`` the
bundle entry's ``fullUrl`` (so ``urn:uuid:`` references resolve).

:data:`PARTITIONS` says how each table is laid out on disk (see docs/lake.md).
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
STR = pa.string()


def _schema(*cols: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, typ) for name, typ in cols])


SCHEMAS: dict[str, pa.Schema] = {
    "resources": _schema(
        ("resource_type", STR),
        ("resource_id", STR),
        ("content_hash", STR),
        ("source_file", STR),
        ("line", pa.int64()),
        ("snapshot_id", STR),
        ("json", STR),
        ("version", STR),
        ("version_id", STR),
        ("last_updated", TS),
        ("seq", pa.int64()),
        ("deleted", pa.bool_()),
        ("full_url", STR),
    ),
    "patients": _schema(
        ("patient_id", STR), ("gender", STR), ("birth_date", pa.date32()), ("mrn", STR)
    ),
    "encounters": _schema(
        ("encounter_id", STR),
        ("patient_id", STR),
        ("class_code", STR),
        ("status", STR),
        ("start", TS),
        ("end", TS),
        ("part_of", STR),
        ("admit_source", STR),
        ("discharge_disposition", STR),
    ),
    "movements": _schema(
        ("encounter_id", STR),
        ("seq", pa.int32()),
        ("location_id", STR),
        ("status", STR),
        ("start", TS),
        ("end", TS),
    ),
    "locations": _schema(
        ("location_id", STR),
        ("identifier", STR),
        ("name", STR),
        ("physical_type", STR),
        ("part_of", STR),
        ("status", STR),
    ),
    "devices": _schema(
        ("device_id", STR),
        ("identifier", STR),
        ("type_code", STR),
        ("type_display", STR),
        ("location_id", STR),
        ("status", STR),
    ),
    "procedures": _schema(
        ("procedure_id", STR),
        ("patient_id", STR),
        ("encounter_id", STR),
        ("code_system", STR),
        ("code", STR),
        ("status", STR),
        ("start", TS),
        ("end", TS),
        ("device_id", STR),
        ("based_on", STR),
    ),
    "service_requests": _schema(
        ("request_id", STR),
        ("patient_id", STR),
        ("encounter_id", STR),
        ("code_system", STR),
        ("code", STR),
        ("status", STR),
        ("authored_on", TS),
    ),
    "observations": _schema(
        ("observation_id", STR),
        ("patient_id", STR),
        ("encounter_id", STR),
        ("code_system", STR),
        ("code", STR),
        ("value", pa.float64()),
        ("unit", STR),
        ("effective", TS),
    ),
    "work_orders": _schema(
        ("work_order_id", STR),
        ("asset_id", STR),
        ("device_id", STR),
        ("type", STR),
        ("failure_reported", TS),
        ("repair_start", TS),
        ("repair_end", TS),
    ),
    "quarantine": _schema(
        ("snapshot_id", STR),
        ("source_file", STR),
        ("line", pa.int64()),
        ("resource_type", STR),
        ("reason", STR),
        ("excerpt", STR),
    ),
}

#: Every table of the lake, in a stable order.
TABLES: tuple[str, ...] = tuple(SCHEMAS)

#: Normalized tables and the column that identifies one source record's rows ("latest wins").
TABLE_KEYS: dict[str, str] = {
    "patients": "patient_id",
    "encounters": "encounter_id",
    "movements": "encounter_id",
    "locations": "location_id",
    "devices": "device_id",
    "procedures": "procedure_id",
    "service_requests": "request_id",
    "observations": "observation_id",
    "work_orders": "work_order_id",
}

#: Hive-style partitioning on disk: table -> (partition folder name, SQL giving its value).
#: Partition values are derived copies of contract columns (never contract columns themselves),
#: so every Parquet file holds the whole row and Spark, Dask or DuckDB read a table folder as is.
#: Tables absent here are one folder of files (small, or without a meaningful date).
PARTITIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "resources": (
        ("type", "resource_type"),
        ("month", "coalesce(strftime(last_updated, '%Y-%m'), '{ingest_month}')"),
    ),
    "encounters": (("month", "coalesce(strftime(start, '%Y-%m'), 'none')"),),
    "movements": (("month", "coalesce(strftime(start, '%Y-%m'), 'none')"),),
    "procedures": (("month", "coalesce(strftime(start, '%Y-%m'), 'none')"),),
    "service_requests": (("month", "coalesce(strftime(authored_on, '%Y-%m'), 'none')"),),
    "observations": (("month", "coalesce(strftime(effective, '%Y-%m'), 'none')"),),
}


def empty_table(name: str) -> pa.Table:
    """A zero-row table with the contract's columns for ``name``."""
    return SCHEMAS[name].empty_table()


#: The CMMS work-order CSV header (docs/data-contract.md): the generator writes it, ingestion
#: reads it, and it is the ``work_orders`` table's columns, so the three cannot drift apart.
WORK_ORDER_COLUMNS: tuple[str, ...] = tuple(SCHEMAS["work_orders"].names)
