"""Calibration v1: a template's structure with every parameter re-estimated from the lake.

Structure (resources, pathways, KPIs, scenarios, run settings) is kept from the template because
the data show *what happened*, not the process design; only quantities the data identify are
replaced. Every fitted value is recorded in the ``provenance`` header with its evidence (family,
AIC table, KS, n and how many of them were right-censored, i.e. still open when observation
stopped) so a reviewer can judge it without re-running anything. Thin data are refused with the
complete list of what is too thin.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from caretwin.calibrate.extract import extract
from caretwin.calibrate.fitting import fit_duration
from caretwin.calibrate.mapping import StepRole, classify
from caretwin.calibrate.observations import Observations, censor_time, ed_pathway, observe
from caretwin.calibrate.params import (
    describe,
    dist_data,
    fit_elective,
    fit_failures,
    fit_rates,
    fit_routes,
)
from caretwin.calibrate.uncertainty import METHOD as UNCERTAINTY_METHOD
from caretwin.calibrate.uncertainty import duration_uncertainty
from caretwin.errors import CalibrationError, LakeEmpty
from caretwin.lake import EMPTY_HASH, Lake
from caretwin.model import PoissonArrivals, TwinDefinition, definition_from_data
from caretwin.version import __version__

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
    #: Open intervals not used at all (elapsed time not positive), per step.
    open_dropped: dict[str, int] = field(default_factory=dict)
    #: Open intervals used as right-censored observations, per step.
    open_censored: dict[str, int] = field(default_factory=dict)


def hours(d: date) -> float:
    """A date's midnight UTC as epoch hours (the extraction's time axis)."""
    return (datetime(d.year, d.month, d.day, tzinfo=UTC) - _EPOCH).total_seconds() / 3600.0


def to_date(h: float) -> date:
    return (_EPOCH + timedelta(hours=h)).date()


def default_window(arrivals: np.ndarray) -> tuple[date, date]:
    """The span of full days of ED arrivals: from the first to the last day with at least half
    the median daily count.

    An extract also holds patients who arrived earlier and were still present when it starts (a
    few per day, weeks back); counting those days would dilute every rate.
    """
    days = np.floor(arrivals / 24).astype(np.int64)
    first = int(days.min())
    counts = np.bincount(days - first)
    full = np.flatnonzero(counts >= 0.5 * float(np.median(counts[counts > 0])))
    return to_date((first + int(full[0])) * 24.0), to_date((first + int(full[-1]) + 1) * 24.0)


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


@dataclass
class _Fitter:
    """Replaces the template's parameters in ``data`` one group at a time, collecting the
    diagnostics, the table rows and every thin-data problem."""

    template: TwinDefinition
    roles: dict[str, StepRole]
    obs: Observations
    start_h: float
    end_h: float
    min_n: int
    data: dict[str, Any]
    censor_h: float = 0.0
    problems: list[str] = field(default_factory=list)
    diag: dict[str, Any] = field(default_factory=dict)
    rows: list[ParameterRow] = field(default_factory=list)

    def _row(self, name: str, template: object, fitted: object, n: int) -> None:
        self.rows.append(ParameterRow(name, str(template), str(fitted), int(n)))

    def arrivals(self) -> None:
        ed_path = ed_pathway(self.template, self.roles)
        for name, arr in self.template.arrivals.items():
            where = f"arrivals.{name}"
            if isinstance(arr, PoissonArrivals):
                sample = self.obs.ed_arrivals if arr.pathway == ed_path else np.empty(0)
                if sample.size < self.min_n:
                    self.problems.append(f"{where}.rates: {sample.size} arrivals (< {self.min_n})")
                    continue
                rates, d = fit_rates(sample, self.start_h, self.end_h, len(arr.rates))
                self.diag[f"{where}.rates"] = d
                self.data["arrivals"][name]["rates"] = rates
                for i, (old, new) in enumerate(zip(arr.rates, rates, strict=True)):
                    self._row(f"{where}.rates[{i}]", f"{old:g}", f"{new:.3f}", d["counts"][i])
                continue
            sample = self.obs.elective_arrivals
            if sample.size < self.min_n:
                self.problems.append(f"{where}: {sample.size} elective arrivals (< {self.min_n})")
                continue
            value, self.diag[where] = fit_elective(sample, self.start_h, self.end_h)
            self.data["arrivals"][name].update(value)
            old_value = {
                "weekdays": [w.value for w in arr.weekdays],
                "at_hour": f"{arr.at_hour:g}",
                "count": arr.count,
            }
            for k, v in value.items():
                self._row(f"{where}.{k}", old_value[k], v, sample.size)

    def steps(self) -> None:
        for pname, pathway in self.template.pathways.items():
            for i, step in enumerate(pathway.steps):
                key = f"{pname}.{step.id}"
                where = f"pathways.{key}"
                target = self.data["pathways"][pname]["steps"][i]
                if step.duration is not None and self.roles[key].role != "decision":
                    sample = self.obs.durations.get(key, np.empty(0))
                    censored = self.obs.censored.get(key, np.empty(0))
                    if sample.size < self.min_n:
                        self.problems.append(
                            f"{where}.duration: {sample.size} observed durations (< {self.min_n})"
                        )
                    else:
                        fit = fit_duration(sample, censored=censored)
                        target["duration"] = dist_data(fit.distribution)
                        self.diag[f"{where}.duration"] = {
                            **fit.diagnostics(),
                            "open_at_end": self.obs.open_counts.get(key, 0),
                            "uncertainty": duration_uncertainty(fit, sample, censored),
                        }
                        self._row(
                            f"{where}.duration",
                            describe(step.duration),
                            describe(fit.distribution),
                            fit.n,
                        )
                if isinstance(step.next, list):  # attribute-dependent routes are kept as given
                    routes, d = fit_routes(
                        key, step.next, self.obs.branches, self.min_n, self.problems
                    )
                    target["next"] = routes
                    self.diag[f"{where}.next"] = d
                    for old, new in zip(step.next, routes, strict=True):
                        self._row(
                            f"{where}.next[{old.to}]", f"{old.p:g}", f"{new['p']:.4f}", d["n"]
                        )

    def resources(self, capacities: dict[str, int], work: dict[str, np.ndarray]) -> None:
        for rname, res in self.template.resources.items():
            where = f"resources.{rname}"
            unit = res.unit or rname
            capacity = capacities.get(unit, 0)
            if capacity <= 0:
                self.problems.append(f"{where}.capacity: no beds or devices of unit {unit!r}")
                continue
            self.data["resources"][rname]["capacity"] = capacity
            self.diag[f"{where}.capacity"] = {
                "unit": unit,
                "n": capacity,
                "method": "count of bed Locations partOf the unit, or of Devices",
            }
            self._row(f"{where}.capacity", res.capacity, capacity, capacity)
            if res.failures is None:
                continue
            value, d = fit_failures(
                work,
                unit,
                capacity,
                self.start_h,
                self.end_h,
                self.min_n,
                self.problems,
                f"{where}.failures",
                censor_at=self.censor_h,
            )
            self.diag[f"{where}.failures"] = d
            if value is None:
                continue
            self.data["resources"][rname]["failures"] = value
            for part in ("time_to_failure", "repair"):
                old = getattr(res.failures, part)
                self._row(
                    f"{where}.failures.{part}", describe(old), describe(value[part]), d[part]["n"]
                )


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
    auto_from, auto_to = default_window(arrivals)
    d_from = date_from or auto_from
    d_to = date_to or auto_to
    if d_to <= d_from:
        raise CalibrationError(f"empty date range: {d_from} to {d_to}")
    start_h, end_h = hours(d_from), hours(d_to)
    obs = observe(ex, template, start_h, end_h)
    data = copy.deepcopy(template.to_data())
    fitter = _Fitter(
        template,
        classify(template),
        obs,
        start_h,
        end_h,
        min_n,
        data=data,
        censor_h=censor_time(ex, end_h),
    )
    fitter.arrivals()
    fitter.steps()
    fitter.resources(ex.capacity, ex.work)
    problems, diag, rows = fitter.problems, fitter.diag, fitter.rows
    if problems:
        raise CalibrationError(
            "too little data to calibrate:\n  " + "\n  ".join(problems),
            details={"problems": problems, "date_from": str(d_from), "date_to": str(d_to)},
        )
    digest = data_hash(lake)
    data["version"] = f"{template.version}+cal.{digest[:12]}"
    data["provenance"] = {
        "method": (
            "caretwin calibrate v1 (MLE; durations right-censored at the window or data end;"
            " duration family by AIC)"
        ),
        "template": {
            "name": template.name,
            "version": template.version,
            "hash": template.content_hash(),
        },
        "data_snapshot_hash": digest,
        "date_from": d_from.isoformat(),
        "date_to": d_to.isoformat(),
        "window": "[date_from, date_to) UTC; events at or after date_to count as unobserved",
        "caretwin_version": __version__,
        "min_observations": min_n,
        "uncertainty_method": UNCERTAINTY_METHOD,
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
        open_dropped={
            k: n - int(np.sum(obs.censored.get(k, np.empty(0)) > 0))
            for k, n in obs.open_counts.items()
        },
        open_censored={k: int(np.sum(c > 0)) for k, c in obs.censored.items()},
    )
