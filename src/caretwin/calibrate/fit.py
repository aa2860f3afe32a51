"""Calibration v1: a template's structure with every parameter re-estimated from the lake.

Structure (resources, pathways, KPIs, scenarios, run settings) is kept from the template because
the data show *what happened*, not the process design; only quantities the data identify are
replaced. Every fitted value is recorded in the ``provenance`` header with its evidence (family,
AIC table, KS, n, how many open intervals were dropped) so a reviewer can judge it without
re-running anything. Thin data are refused with the complete list of what is too thin.
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from caretwin import __version__
from caretwin.calibrate.extract import extract
from caretwin.calibrate.fitting import fit_duration
from caretwin.calibrate.mapping import classify
from caretwin.calibrate.observations import ed_pathway, observe
from caretwin.calibrate.params import (
    describe,
    dist_data,
    fit_elective,
    fit_failures,
    fit_rates,
    fit_routes,
    sig,
)
from caretwin.errors import CalibrationError, LakeEmpty
from caretwin.lake import EMPTY_HASH, Lake
from caretwin.model import PoissonArrivals, TwinDefinition, definition_from_data

MIN_OBSERVATIONS = 30
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ParameterRow:
    """One fitted parameter next to the template's value, for the CLI table."""

    name: str
    template: str
    fitted: str
    n: int


@dataclass
class CalibrationResult:
    definition: TwinDefinition
    rows: list[ParameterRow]
    diagnostics: dict[str, Any]
    date_from: date
    date_to: date
    data_hash: str
    open_dropped: dict[str, int] = field(default_factory=dict)


def hours(d: date) -> float:
    """A date's midnight UTC as epoch hours (the extraction's time axis)."""
    return (datetime(d.year, d.month, d.day, tzinfo=UTC) - _EPOCH).total_seconds() / 3600.0


def to_date(h: float) -> date:
    return (_EPOCH + timedelta(hours=h)).date()


def data_hash(lake: Lake) -> str:
    """The lake's content hash; for a lake written without raw resources, hash its Parquet files."""
    h = lake.data_hash()
    if h != EMPTY_HASH:
        return h
    digest = hashlib.sha256()
    for path in sorted((lake.lake_dir / "tables").rglob("*.parquet")):
        digest.update(path.relative_to(lake.lake_dir).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def calibrate_lake(
    lake: Lake,
    template: TwinDefinition,
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    min_n: int = MIN_OBSERVATIONS,
) -> CalibrationResult:
    """Fit ``template``'s parameters on ED arrivals in ``[date_from, date_to)`` (default: all)."""
    ex = extract(lake)
    arrivals = ex.ed["arrival"][np.isfinite(ex.ed["arrival"])]
    if arrivals.size == 0:
        raise LakeEmpty("the lake holds no ED encounters: ingest data before calibrating")
    # An extract holds the patients still present at its start, so its first day is partial:
    # the default window begins at the first midnight on or after the earliest arrival.
    d_from = date_from or to_date(math.ceil(float(arrivals.min()) / 24) * 24.0)
    d_to = date_to or to_date(float(arrivals.max())) + timedelta(days=1)
    if d_to <= d_from:
        raise CalibrationError(f"empty date range: {d_from} to {d_to}")
    start_h, end_h = hours(d_from), hours(d_to)
    obs = observe(ex, template, start_h, end_h)
    data = copy.deepcopy(template.to_data())
    roles = classify(template)
    problems: list[str] = []
    diag: dict[str, Any] = {}
    rows: list[ParameterRow] = []

    ed_path = ed_pathway(template, roles)
    for name, arr in template.arrivals.items():
        where = f"arrivals.{name}"
        if isinstance(arr, PoissonArrivals):
            sample = obs.ed_arrivals if arr.pathway == ed_path else np.empty(0)
            if sample.size < min_n:
                problems.append(f"{where}.rates: {sample.size} arrivals (< {min_n})")
                continue
            rates, diag[f"{where}.rates"] = fit_rates(sample, start_h, end_h, len(arr.rates))
            data["arrivals"][name]["rates"] = rates
            for i, (old, new) in enumerate(zip(arr.rates, rates, strict=True)):
                rows.append(ParameterRow(f"{where}.rates[{i}]", f"{old:g}", f"{new:.3f}", diag[f"{where}.rates"]["counts"][i]))
        else:
            sample = obs.elective_arrivals
            if sample.size < min_n:
                problems.append(f"{where}: {sample.size} elective arrivals (< {min_n})")
                continue
            value, diag[where] = fit_elective(sample, start_h, end_h)
            data["arrivals"][name].update(value)
            for k, v in value.items():
                rows.append(ParameterRow(f"{where}.{k}", str(getattr(arr, k) if k != "weekdays" else [w.value for w in arr.weekdays]), str(v), int(sample.size)))

    for pname, pathway in template.pathways.items():
        for i, step in enumerate(pathway.steps):
            key = f"{pname}.{step.id}"
            where = f"pathways.{key}"
            if step.duration is not None and roles[key].role != "decision":
                sample = obs.durations.get(key, np.empty(0))
                dropped = obs.open_counts.get(key, 0)
                if sample.size < min_n:
                    problems.append(f"{where}.duration: {sample.size} observed durations (< {min_n})")
                else:
                    fit = fit_duration(sample)
                    data["pathways"][pname]["steps"][i]["duration"] = dist_data(fit.distribution)
                    diag[f"{where}.duration"] = {**fit.diagnostics(), "dropped_open": dropped}
                    rows.append(ParameterRow(f"{where}.duration", describe(step.duration), describe(fit.distribution), fit.n))
            if not isinstance(step.next, str):
                value, d = fit_routes(key, step.next, obs.branches, min_n, problems)
                data["pathways"][pname]["steps"][i]["next"] = value
                diag[f"{where}.next"] = d
                for old, new in zip(step.next, value, strict=True):
                    rows.append(ParameterRow(f"{where}.next[{old.to}]", f"{old.p:g}", f"{new['p']:.4f}", int(d["n"])))

    for rname, res in template.resources.items():
        where = f"resources.{rname}"
        unit = res.unit or rname
        capacity = ex.capacity.get(unit, 0)
        if capacity <= 0:
            problems.append(f"{where}.capacity: no beds or devices of unit {unit!r} in the lake")
            continue
        data["resources"][rname]["capacity"] = capacity
        diag[f"{where}.capacity"] = {"unit": unit, "n": capacity, "method": "count of bed Locations partOf the unit, or of Devices"}
        rows.append(ParameterRow(f"{where}.capacity", str(res.capacity), str(capacity), capacity))
        if res.failures is not None:
            value, d = fit_failures(ex.work, unit, capacity, start_h, end_h, min_n, problems, f"{where}.failures")
            diag[f"{where}.failures"] = d
            if value is not None:
                data["resources"][rname]["failures"] = value
                rows.append(ParameterRow(f"{where}.failures.time_to_failure", describe(res.failures.time_to_failure), describe(value["time_to_failure"]), int(d["time_to_failure"]["n"])))
                rows.append(ParameterRow(f"{where}.failures.repair", describe(res.failures.repair), describe(value["repair"]), int(d["repair"]["n"])))

    if problems:
        raise CalibrationError(
            "too little data to calibrate:\n  " + "\n  ".join(problems),
            details={"problems": problems, "date_from": str(d_from), "date_to": str(d_to)},
        )
    digest = data_hash(lake)
    data["provenance"] = {
        "method": "caretwin calibrate v1 (MLE; duration family by AIC)",
        "template": {"name": template.name, "version": template.version, "hash": template.content_hash()},
        "data_hash": digest,
        "date_from": d_from.isoformat(),
        "date_to": d_to.isoformat(),
        "window": "[date_from, date_to) in UTC; events at or after date_to are treated as unobserved",
        "calibrated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "caretwin_version": __version__,
        "min_observations": min_n,
        "diagnostics": diag,
    }
    definition = definition_from_data(data, source="calibrated definition")
    return CalibrationResult(
        definition=definition,
        rows=rows,
        diagnostics=diag,
        date_from=d_from,
        date_to=d_to,
        data_hash=digest,
        open_dropped=dict(obs.open_counts),
    )


__all__ = ["MIN_OBSERVATIONS", "CalibrationResult", "ParameterRow", "calibrate_lake", "hours", "sig"]
