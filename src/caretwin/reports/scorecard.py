"""The validation scorecard in HTML: one body (``_scorecard.html.j2``) drawn as the demo report's
section, as the page of a validation run, and by the web app.

It states plainly which KPIs the twin can and cannot predict, by the plan's per-KPI criteria,
then shows the criteria, coverage per KPI, unit and arrival hour, the PIT histogram, the
verification suite and the evidence with its sign-offs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from caretwin.reports.output import write_document
from caretwin.reports.report import DISCLAIMER, template
from caretwin.validation.scorecard import Scorecard

__all__ = ["scorecard_html", "scorecard_page", "write_scorecard_page"]


def _status(passed: bool | None) -> str:
    return "undecided" if passed is None else ("pass" if passed else "fail")


def _status_class(passed: bool | None) -> str:
    return "muted" if passed is None else ("yes" if passed else "no")


def _num(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    a = abs(x)
    return f"{x:.3g}" if a < 100 else f"{x:,.0f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


@dataclass(frozen=True)
class _KpiRow:
    kpi: str
    label: str
    unit: str
    n: int
    hits: int
    coverage: str
    error: str
    can: bool | None
    verdict: str


def _kpi_rows(sc: Scorecard) -> list[_KpiRow]:
    cov = {r.subject: r for r in sc.coverage_table("per_kpi")}
    rows = []
    for v in sc.verdicts:
        c = cov.get(v.kpi)
        if v.can_predict is None:
            verdict = "undecided"
        elif v.can_predict:
            verdict = "yes"
        else:
            verdict = "no: " + "; ".join(v.reasons)
        rows.append(
            _KpiRow(
                kpi=v.kpi,
                label=v.label,
                unit=v.unit,
                n=c.n if c else 0,
                hits=c.hits if c else 0,
                coverage=_pct(c.coverage) if c else "–",
                error=_num(c.mean_error) if c else "–",
                can=v.can_predict,
                verdict=verdict,
            )
        )
    return rows


def scorecard_html(sc: Scorecard) -> Markup:
    """The scorecard's body (headings from ``h3`` down), autoescaped."""
    pit = next((p for p in sc.pit if p.subject == "all"), None)
    body = template("_scorecard.html.j2").render(
        sc=sc,
        can=[v.label for v in sc.verdicts if v.can_predict is True],
        cannot=[v.label for v in sc.verdicts if v.can_predict is False],
        undecided=[v.label for v in sc.verdicts if v.can_predict is None],
        kpi_rows=_kpi_rows(sc),
        groups=[
            ("by unit", sc.coverage_table("by_unit")),
            ("by hour", sc.coverage_table("by_hour")),
        ],
        pit=pit if pit and sum(pit.counts) else None,
        pit_bins=[f"{i / 10:.1f}–{(i + 1) / 10:.1f}" for i in range(10)],
        status=_status,
        status_class=_status_class,
        num=_num,
        pct=_pct,
    )
    return Markup(body.rstrip("\n"))


def scorecard_page(sc: Scorecard, run_id: str | None = None) -> str:
    title = f"Validation scorecard: {sc.plan_name} v{sc.plan_version}"
    if run_id:
        title += f" ({run_id})"
    return template("scorecard.html.j2").render(
        title=title, disclaimer=DISCLAIMER, body=scorecard_html(sc)
    )


def write_scorecard_page(sc: Scorecard, path: Path, run_id: str | None = None) -> Path:
    return write_document(scorecard_page(sc, run_id), path)
