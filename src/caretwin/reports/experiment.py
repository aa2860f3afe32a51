"""The HTML report of an experiment: sweeps with CI bands, paired differences, advisor plots.

It reuses the simulation report's machinery — the autoescaping Jinja2 environment, the one
inline plotly.js bundle, the script-safe figure JSON and the number formatting — so the file is
self-contained and opens offline, like every CareTwin report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from caretwin.experiment import ExperimentResult, SearchResult
from caretwin.experiment.variants import format_value, point_name
from caretwin.reports import experiment_figures as ef
from caretwin.reports import provenance, tables
from caretwin.reports.figures import Figure
from caretwin.reports.output import write_document
from caretwin.reports.plot import Plot
from caretwin.reports.report import DISCLAIMER, DISCLAIMER_BODY, _environment, plotly_js
from caretwin.version import __version__

__all__ = ["build_experiment_context", "render_experiment_report", "write_experiment_report"]

TEMPLATE = "experiment.html.j2"


@dataclass(frozen=True)
class DiffRow:
    label: str
    name: str
    unit: str
    baseline: str
    variant: str
    paired: str
    unpaired: str
    reduction: str
    significant: bool


@dataclass(frozen=True)
class EvidenceRow:
    role: str
    value: str
    estimate: str
    status: str


def _pm(mean: float, half: float) -> str:
    return tables.fmt_pm(mean, half)


def _diff_rows(result: ExperimentResult, name: str) -> list[DiffRow]:
    vr = result.variant(name)
    rows = []
    for kpi, c in vr.comparisons.items():
        s = result.baseline.result.summary[kpi]
        d = tables.decimals_for(c.difference if c.difference else s.mean)
        red = tables.fmt(100 * c.variance_reduction, 0) + "%" if c.n > 1 else tables.MISSING
        rows.append(
            DiffRow(
                label=s.label or kpi,
                name=kpi,
                unit=s.unit,
                baseline=_pm(s.mean, s.ci95),
                variant=_pm(vr.result.summary[kpi].mean, vr.result.summary[kpi].ci95),
                paired=f"{tables.fmt_signed(c.difference, d)} ± {tables.fmt(c.paired_ci95, d)}",
                unpaired=f"{tables.fmt_signed(c.difference, d)} ± {tables.fmt(c.unpaired_ci95, d)}",
                reduction=red,
                significant=c.paired_significant,
            )
        )
    return rows


def _search_view(s: SearchResult) -> dict[str, Any]:
    side = "<" if s.direction == "below" else ">"
    rows = []
    for role, value in (("chosen", s.chosen), ("next smaller", s.previous)):
        p = s.probe(value)
        if p is None:
            continue
        status = (
            "met with 95% confidence"
            if p.confident
            else ("met (mean only)" if p.met else "not met")
        )
        rows.append(EvidenceRow(role, format_value(p.value), _pm(p.mean, p.ci95), status))
    if s.chosen is None:
        verdict = (
            f"No value up to {format_value(s.candidates[-1])} gives {s.kpi} {side} {s.goal:g}."
        )
    else:
        verdict = (
            f"Smallest {s.vary} with mean {s.kpi} {side} {s.goal:g}: {format_value(s.chosen)}"
            + (
                " — met with 95% confidence."
                if s.confident
                else " — met by the mean, but not with 95% confidence (more replications "
                "or a larger value would settle it)."
            )
        )
    return {
        "fixed": point_name(s.fixed) or "—",
        "method": s.method,
        "evaluated": len(s.probes),
        "candidates": len(s.candidates),
        "verdict": verdict,
        "rows": rows,
        "notes": s.notes,
    }


def _advisor_text(result: ExperimentResult) -> tuple[str | None, str | None]:
    rep, warm = result.replication_advice, result.warmup_advice
    rep_text = warm_text = None
    if rep is not None:
        what = f"{rep.target:g} of the mean" if rep.relative else f"± {rep.target:g}"
        rep_text = (
            f"{rep.recommended} replications bring the 95% CI half-width of {rep.kpi} within "
            f"{what} and keep it there for the look-ahead (kLimit = {rep.k_limit}); "
            f"this experiment used {result.replications}."
            if rep.recommended is not None
            else f"The 95% CI half-width of {rep.kpi} did not settle within {what} in "
            f"{rep.replications_run} replications; raise max_replications or relax the target."
        )
    if warm is not None:
        warm_text = (
            f"{warm.resource} occupancy settles (moving average within "
            f"{100 * warm.tolerance:g}% of its level {warm.level:.4g}) after "
            f"{warm.truncation_days} days from an empty start; the model's warm-up is "
            f"{warm.current_warmup_days:g} days ("
            + ("long enough)." if warm.sufficient else "too short).")
            if warm.truncation_days is not None
            else f"{warm.resource} occupancy has not settled within the first half of the "
            f"{len(warm.mean_series)}-day series; set advisors.warmup.run_days longer."
        )
    return rep_text, warm_text


def _plots(result: ExperimentResult) -> list[Plot]:
    plots: list[Plot] = []

    def add(pid: str, title: str, caption: str, fig: Figure | None) -> None:
        if fig is not None:
            plots.append(Plot.of(pid, title, caption, fig))

    for i, kpi in enumerate(result.kpis):
        add(
            f"plot-sweep-{i}",
            f"{kpi} against {result.sweep_axes[0][0] if result.sweep_axes else ''}",
            "Mean across replications; the band is the 95% confidence interval of the mean. "
            "One line per value of the other swept parameters. Dotted: baseline mean; dashed "
            "red: the target's goal.",
            ef.sweep_figure(result, kpi),
        )
    first = result.spec.target.kpi if result.spec.target else result.kpis[0]
    add(
        "plot-differences",
        f"Differences from baseline: {first}",
        "Each variant minus baseline with two 95% intervals: paired (mean of per-replication "
        "differences under common random numbers) and unpaired (Welch, as if the runs were "
        "independent). The narrower paired interval is the variance reduction.",
        ef.differences_figure(result, first),
    )
    add(
        "plot-replications",
        "Replication advisor",
        "95% CI half-width of the mean after n replications (Hoad, Robinson & Davies 2010). "
        "Dashed red: target; green: recommended n.",
        ef.replications_figure(result),
    )
    add(
        "plot-warmup",
        "Warm-up advisor (Welch)",
        "Daily mean units held from an empty start (warm-up 0), averaged across replications, "
        "and Welch's moving average. Dotted: settled level; green: suggested truncation.",
        ef.warmup_figure(result),
    )
    add(
        "plot-search",
        "Target search",
        "KPI mean ± 95% CI at every value the search evaluated; dashed red: the goal.",
        ef.search_figure(result),
    )
    return plots


def build_experiment_context(
    result: ExperimentResult, manifest: dict[str, Any] | None = None, now: datetime | None = None
) -> dict[str, Any]:
    base = result.baseline.result
    rep_text, warm_text = _advisor_text(result)
    notes = [
        f"Every variant ran {result.replications} replications with seed {result.seed} "
        "(common random numbers): replication i of each variant draws from the same streams, "
        "so differences between variants are paired.",
    ]
    if result.warmup_advice is not None:
        notes.append(
            "The engine records occupancy per day of the run window only; the warm-up advisor "
            "therefore runs the model with warmup_days = 0 to see the transient from an empty "
            "hospital."
        )
    manifest = manifest or {}
    return {
        "title": f"{result.spec.name or result.model.name}: experiment",
        "description": result.spec.description,
        "model_name": result.model.name,
        "model_hash": result.model.content_hash(),
        "run_id": provenance.manifest_field(manifest, "run_id") or "not recorded",
        "generated": (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "disclaimer": DISCLAIMER,
        "disclaimer_body": DISCLAIMER_BODY,
        "replications": result.replications,
        "seed": result.seed,
        "simulated": result.simulated_replications,
        "kpis": [(k, base.summary[k].label or k, base.summary[k].unit) for k in result.kpis],
        "variants": [
            {
                "name": v.variant.name,
                "kind": v.variant.kind,
                "cells": [
                    _pm(v.result.summary[k].mean, v.result.summary[k].ci95) for k in result.kpis
                ],
            }
            for v in result.variants
        ],
        "diffs": [
            (v.variant.name, _diff_rows(result, v.variant.name)) for v in result.variants[1:]
        ],
        "replication_text": rep_text,
        "warmup_text": warm_text,
        "searches": [_search_view(s) for s in result.searches],
        "plots": _plots(result),
        "notes": notes,
        "manifest": provenance.manifest_rows(manifest) if manifest else None,
        "plotly_js": Markup(plotly_js()),
    }


def render_experiment_report(
    result: ExperimentResult, manifest: dict[str, Any] | None = None, now: datetime | None = None
) -> str:
    context = build_experiment_context(result, manifest, now)
    return _environment().get_template(TEMPLATE).render(context)


def write_experiment_report(
    result: ExperimentResult, path: Path, manifest: dict[str, Any] | None = None
) -> Path:
    """Render and write atomically (parents created); returns ``path``."""
    return write_document(render_experiment_report(result, manifest), path)
