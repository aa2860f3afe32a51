"""Pulling calibration's observations out of the lake's normalized tables with DuckDB SQL.

Every instant comes back as float hours since the Unix epoch (``NaN`` where absent), so the
fitting code works on numpy arrays and the window rule is one comparison: an event at or after
the window end is treated as not yet observed (:meth:`Extract.truncate`). That is what makes a
held-out month honest — calibrating on ``[from, to)`` never peeks at what happened later.

The mapping from the hospital's codes to model units is data, not code: :data:`ORDER_CODES`
(ServiceRequest code → role and target unit) and :data:`PROCEDURE_UNITS` (Procedure code → the
device unit it uses). Units of beds come from ``Location.partOf``; a device's unit is its asset
identifier without the trailing ``-N`` (``CT-1`` → ``CT``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from caretwin.errors import DataError
from caretwin.lake import Lake

#: ServiceRequest codes of the data contract: role in the pathway and the unit they ask for.
ORDER_CODES: dict[str, tuple[str, str]] = {
    "ct": ("procedure", "CT"),
    "admit-icu": ("admit", "ICU"),
    "admit-ward": ("admit", "MED"),
    "transfer-ward": ("transfer", "MED"),
}

#: Procedure codes (SNOMED) and the device unit each one uses.
PROCEDURE_UNITS: dict[str, str] = {"77477000": "CT"}


def _lookup_tables() -> dict[str, pa.Table]:
    """The code tables the SQL joins on, built per call: ``pa.table`` at import time loads pandas,
    which every module importing this one (and every CLI command) would pay for."""
    return {
        "__orders": pa.table(
            {
                "code": list(ORDER_CODES),
                "role": [r for r, _ in ORDER_CODES.values()],
                "unit": [u for _, u in ORDER_CODES.values()],
            }
        ),
        "__procs": pa.table(
            {"code": list(PROCEDURE_UNITS), "unit": list(PROCEDURE_UNITS.values())}
        ),
    }


def _h(col: str) -> str:
    """A timestamp column as float epoch hours, NaN when null."""
    return f"coalesce(epoch_us({col}) / 3600000000.0, 'NaN'::DOUBLE)"


_PRELUDE = """
WITH units AS (
  SELECT b.location_id, b.physical_type, u.identifier AS unit, b.identifier AS ident
  FROM locations b JOIN locations u ON b.part_of = u.location_id
),
orders AS (
  SELECT s.encounter_id, o.role, o.unit, s.authored_on AS t
  FROM service_requests s JOIN __orders o ON s.code = o.code
),
space AS (
  SELECT m.encounter_id, arg_min(u.unit, m.start) AS unit, min(m.start) AS t
  FROM movements m JOIN units u USING (location_id)
  WHERE u.physical_type = 'bd' GROUP BY 1
)
"""

_ED_SQL = (
    _PRELUDE
    + f"""
, proc AS (
  SELECT p.encounter_id, arg_min(c.unit, p.start) AS unit, min(p.start) AS s, min(p."end") AS e
  FROM procedures p JOIN __procs c ON p.code = c.code GROUP BY 1
),
porder AS (SELECT encounter_id, min(t) AS t FROM orders WHERE role = 'procedure' GROUP BY 1),
adm AS (
  SELECT encounter_id, arg_min(unit, t) AS unit, min(t) AS t
  FROM orders WHERE role = 'admit' GROUP BY 1
)
SELECT e.encounter_id AS id, {_h("e.start")} AS arrival, {_h('e."end"')} AS departure,
  coalesce(e.discharge_disposition, '') AS disposition,
  coalesce(space.unit, '') AS space_unit, {_h("space.t")} AS space_start,
  coalesce(proc.unit, '') AS proc_unit, {_h("porder.t")} AS proc_order,
  {_h("proc.s")} AS proc_start, {_h("proc.e")} AS proc_end,
  coalesce(adm.unit, '') AS admit_unit, {_h("adm.t")} AS admit_order
FROM encounters e
LEFT JOIN space USING (encounter_id) LEFT JOIN proc USING (encounter_id)
LEFT JOIN porder USING (encounter_id) LEFT JOIN adm USING (encounter_id)
WHERE e.class_code = 'EMER' AND e.start IS NOT NULL
ORDER BY arrival, id
"""
)

_BED_SQL = (
    _PRELUDE
    + f"""
, beds AS (
  SELECT i.encounter_id, coalesce(i.part_of, '') AS part_of, m.seq, u.unit,
    m.start, m."end",
    lag(u.unit) OVER (PARTITION BY m.encounter_id ORDER BY m.seq) AS prev_unit,
    i.start AS enc_start, i."end" AS discharge
  FROM encounters i JOIN movements m USING (encounter_id) JOIN units u USING (location_id)
  WHERE i.class_code = 'IMP' AND u.physical_type = 'bd'
)
SELECT b.encounter_id AS id, b.part_of, b.seq, b.unit,
  coalesce(b.prev_unit, space.unit, '') AS after,
  {_h("b.start")} AS start, {_h('b."end"')} AS "end", {_h("b.enc_start")} AS enc_start,
  {_h("b.discharge")} AS discharge,
  -- the order that ends this bed's stay: made while holding it (the next bed starts at it)
  {
        _h('''(SELECT min(o.t) FROM orders o WHERE o.encounter_id = b.encounter_id
      AND o.role = 'transfer' AND o.t > b.start AND (b."end" IS NULL OR o.t <= b."end"))''')
    }
    AS transfer,
  coalesce((SELECT first(o.unit) FROM orders o WHERE o.encounter_id = b.encounter_id
      AND o.role = 'transfer' AND o.t > b.start AND (b."end" IS NULL OR o.t <= b."end")), '')
    AS transfer_unit
FROM beds b LEFT JOIN space ON space.encounter_id = b.part_of
ORDER BY b.encounter_id, b.seq
"""
)

_WORK_SQL = f"""
SELECT coalesce(regexp_replace(coalesce(d.identifier, w.asset_id), '-[^-]*$', ''), '') AS unit,
  {_h("w.failure_reported")} AS failure, {_h("w.repair_start")} AS repair_start,
  {_h("w.repair_end")} AS repair_end
FROM work_orders w LEFT JOIN devices d USING (device_id)
WHERE w.failure_reported IS NOT NULL
"""

_ELECTIVE_SQL = f"""
SELECT {_h("start")} AS arrival FROM encounters
WHERE class_code = 'IMP' AND part_of IS NULL AND start IS NOT NULL ORDER BY 1
"""

_CAPACITY_SQL = """
SELECT u.identifier AS unit, count(*) AS n FROM locations b JOIN locations u
  ON b.part_of = u.location_id WHERE b.physical_type = 'bd' GROUP BY 1
UNION ALL
SELECT regexp_replace(identifier, '-[^-]*$', '') AS unit, count(*) AS n FROM devices
  WHERE identifier IS NOT NULL GROUP BY 1
"""


Columns = dict[str, np.ndarray]


@dataclass
class Extract:
    """The observations calibration needs, as column dicts of numpy arrays."""

    ed: Columns
    beds: Columns
    elective: Columns
    work: Columns
    capacity: dict[str, int]

    def truncate(self, end_h: float) -> Extract:
        """A copy where every instant at or after ``end_h`` is unobserved (NaN)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "capacity":
                out[f.name] = dict(value)
                continue
            cols: Columns = {}
            for name, arr in value.items():
                if arr.dtype.kind == "f":
                    arr = np.where(arr >= end_h, np.nan, arr)
                cols[name] = arr
            out[f.name] = cols
        return Extract(**out)


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> Columns:
    raw: dict[str, Any] = con.execute(sql).fetchnumpy()
    cols: Columns = {}
    for name, arr in raw.items():
        values = np.ma.getdata(arr) if isinstance(arr, np.ma.MaskedArray) else np.asarray(arr)
        if values.dtype.kind in "OU":
            values = values.astype(object)
        cols[name] = values
    return cols


def extract(lake: Lake) -> Extract:
    """Run the extraction queries over the lake's views."""
    con = lake.connect()
    try:
        for name, table in _lookup_tables().items():
            con.register(name, table)
        ed = _fetch(con, _ED_SQL)
        beds = _fetch(con, _BED_SQL)
        work = _fetch(con, _WORK_SQL)
        elective = _fetch(con, _ELECTIVE_SQL)
        cap = _fetch(con, _CAPACITY_SQL)
    except duckdb.Error as exc:
        raise DataError(f"calibration could not read the lake: {exc}") from exc
    finally:
        con.close()
    capacity: dict[str, int] = {}
    for unit, n in zip(cap["unit"], cap["n"], strict=True):
        capacity[str(unit)] = capacity.get(str(unit), 0) + int(n)
    return Extract(ed=ed, beds=beds, elective=elective, work=work, capacity=capacity)
