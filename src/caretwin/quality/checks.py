"""The data-quality checks, each a SQL query over the lake's views returning offending rows.

Every check's query yields one row per offending record with an ``id`` column (the id of the
source resource, so the finding can be traced through the raw layer to its snapshot) and, for code
checks, a ``value`` column. The runner (:mod:`caretwin.quality.run`) counts them and keeps a few
example ids; the queries only read the normalized tables named in docs/data-contract.md, so they
work whatever the lake's physical layout (files, partitions, views) is.

Period checks also count records ingestion already refused for the same reason: ingestion
quarantines a FHIR Period whose end precedes its start (the ``per-1`` invariant), so on FHIR input
such a defect shows up in the quarantine, while other paths (HL7 v2, future view-based
normalization) can let it reach the tables. ``quarantine_like`` is the SQL ``LIKE`` pattern of
the ingest reason text (``caretwin.ingest.fields.ordered`` and ``ingest.workorders``).

The overlap check ignores ``planned`` and ``reserved`` location entries: only places the patient
actually occupied must not overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHECKS", "Check", "check_by_id", "value_set_table"]

REFERENCE = "reference"
PERIOD = "period"
OVERLAP = "overlap"
VALUE_SET = "value_set"
KINDS = (REFERENCE, PERIOD, OVERLAP, VALUE_SET)


@dataclass(frozen=True)
class Check:
    id: str
    kind: str
    table: str
    column: str
    resource_type: str  # raw-layer type of the ``id`` the query returns (for snapshot lineage)
    title: str
    sql: str
    value_set: str | None = None
    quarantine_like: str | None = None


# (table, column, resource type, key column, target table, target key)
_REFERENCES = [
    ("encounters", "patient_id", "Encounter", "encounter_id", "patients", "patient_id"),
    ("encounters", "part_of", "Encounter", "encounter_id", "encounters", "encounter_id"),
    ("movements", "location_id", "Encounter", "encounter_id", "locations", "location_id"),
    ("procedures", "device_id", "Procedure", "procedure_id", "devices", "device_id"),
    ("procedures", "patient_id", "Procedure", "procedure_id", "patients", "patient_id"),
    ("procedures", "encounter_id", "Procedure", "procedure_id", "encounters", "encounter_id"),
    ("procedures", "based_on", "Procedure", "procedure_id", "service_requests", "request_id"),
    ("service_requests", "patient_id", "ServiceRequest", "request_id", "patients", "patient_id"),
    (
        "service_requests",
        "encounter_id",
        "ServiceRequest",
        "request_id",
        "encounters",
        "encounter_id",
    ),
    ("locations", "part_of", "Location", "location_id", "locations", "location_id"),
    ("devices", "location_id", "Device", "device_id", "locations", "location_id"),
    ("work_orders", "device_id", "WorkOrder", "work_order_id", "devices", "device_id"),
]

# (table, resource type, key, start column, end column, quarantine reason pattern)
_PERIODS = [
    ("encounters", "Encounter", "encounter_id", "start", "end", "%Encounter.period end is before%"),
    (
        "movements",
        "Encounter",
        "encounter_id",
        "start",
        "end",
        "%Encounter.location[%].period end is before%",
    ),
    ("procedures", "Procedure", "procedure_id", "start", "end", "%Procedure.%end is before%"),
    (
        "work_orders",
        "WorkOrder",
        "work_order_id",
        "repair_start",
        "repair_end",
        "%repair_end is before repair_start%",
    ),
    (
        "work_orders",
        "WorkOrder",
        "work_order_id",
        "failure_reported",
        "repair_start",
        "%repair_start is before failure_reported%",
    ),
]

# (table, column, resource type, key, value set id)
_CODES = [
    ("encounters", "class_code", "Encounter", "encounter_id", "encounter-class"),
    ("encounters", "status", "Encounter", "encounter_id", "encounter-status"),
    ("encounters", "admit_source", "Encounter", "encounter_id", "admit-source"),
    ("encounters", "discharge_disposition", "Encounter", "encounter_id", "discharge-disposition"),
    ("movements", "status", "Encounter", "encounter_id", "encounter-location-status"),
    ("procedures", "status", "Procedure", "procedure_id", "event-status"),
    ("service_requests", "status", "ServiceRequest", "request_id", "request-status"),
    ("locations", "physical_type", "Location", "location_id", "location-physical-type"),
    ("locations", "status", "Location", "location_id", "location-status"),
    ("devices", "status", "Device", "device_id", "device-status"),
]


def value_set_table(vs_id: str) -> str:
    """The name under which the runner registers value set ``vs_id``'s codes (column ``code``)."""
    return "__vs_" + vs_id.replace("-", "_")


def _q(name: str) -> str:
    return f'"{name}"'


def _reference_checks() -> list[Check]:
    out = []
    for table, col, rtype, key, target, tkey in _REFERENCES:
        sql = (
            f"SELECT s.{_q(key)} AS id FROM {_q(table)} s WHERE s.{_q(col)} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {_q(target)} t WHERE t.{_q(tkey)} = s.{_q(col)})"
        )
        title = f"{table}.{col} not in {target}"
        out.append(Check(f"ref.{table}.{col}", REFERENCE, table, col, rtype, title, sql))
    return out


def _period_checks() -> list[Check]:
    out = []
    for table, rtype, key, start, end, like in _PERIODS:
        sql = (
            f"SELECT {_q(key)} AS id FROM {_q(table)} "
            f"WHERE {_q(end)} IS NOT NULL AND {_q(start)} IS NOT NULL AND {_q(end)} < {_q(start)}"
        )
        cid = f"period.{table}" if start in ("start", "repair_start") else f"order.{table}.{start}"
        title = f"{table}: {end} before {start}"
        out.append(Check(cid, PERIOD, table, end, rtype, title, sql, quarantine_like=like))
    return out


_OVERLAP_SQL = """
SELECT DISTINCT a.encounter_id AS id
FROM movements a JOIN movements b ON a.encounter_id = b.encounter_id AND a.seq < b.seq
WHERE a.start IS NOT NULL AND b.start IS NOT NULL
  AND coalesce(a.status, '') NOT IN ('planned', 'reserved')
  AND coalesce(b.status, '') NOT IN ('planned', 'reserved')
  AND a.start < coalesce(b."end", 'infinity'::TIMESTAMPTZ)
  AND b.start < coalesce(a."end", 'infinity'::TIMESTAMPTZ)
"""


def _code_checks() -> list[Check]:
    out = []
    for table, col, rtype, key, vs in _CODES:
        # The allowed codes come from a registered table, never spliced into the SQL text.
        sql = (
            f"SELECT {_q(key)} AS id, {_q(col)} AS value FROM {_q(table)} "
            f"WHERE {_q(col)} IS NOT NULL AND {_q(col)} NOT IN "
            f"(SELECT code FROM {_q(value_set_table(vs))})"
        )
        title = f"{table}.{col} outside {vs}"
        out.append(Check(f"code.{table}.{col}", VALUE_SET, table, col, rtype, title, sql, vs))
    return out


CHECKS: tuple[Check, ...] = (
    *_reference_checks(),
    *_period_checks(),
    Check(
        "overlap.movements",
        OVERLAP,
        "movements",
        "start",
        "Encounter",
        "encounters with overlapping location periods",
        _OVERLAP_SQL.strip(),
    ),
    *_code_checks(),
)


def check_by_id(check_id: str) -> Check:
    for check in CHECKS:
        if check.id == check_id:
            return check
    raise KeyError(check_id)
