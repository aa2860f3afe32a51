"""Deciding a plan's criteria on a backtest: coverage tables, PIT histograms, tests, verdicts.

A criterion's scope splits the predictions into subjects (each KPI, each unit, each arrival-hour
bin, or all of them); each subject gets the criterion's test, at ``alpha / subjects`` under
``family: bonferroni`` so that the criterion as a whole fails a twin that meets it with
probability at most ``alpha``. Blocks for the dependence corrections are the predicted periods
(folds): every outcome of one period shares its arrivals and its calibration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from caretwin.validation.backtest import INTERVALS_FROM, Backtest
from caretwin.validation.evidence import EvidenceRecord
from caretwin.validation.forecasts import ForecastValidation
from caretwin.validation.plan import Criterion, Metric, Scope, ValidationPlan
from caretwin.validation.scorecard import (
    CoverageRow,
    CriterionResult,
    CriterionTest,
    KpiVerdict,
    PitHistogram,
    Prediction,
    Scorecard,
)
from caretwin.validation.stats import TestOutcome, binomial_blocks, chi2_blocks, newey_west_t
from caretwin.validation.verification import VerificationReport

__all__ = ["PIT_BINS", "build_scorecard", "subjects"]

PIT_BINS = 10


def _n(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def subjects(
    preds: list[Prediction], scope: Scope, kpis: list[str] | None
) -> dict[str, list[Prediction]]:
    """The predictions of each subject of ``scope`` (hour bins only for ``by_hour``)."""
    chosen = [p for p in preds if kpis is None or p.kpi in kpis]
    if scope == Scope.by_hour:
        rows = [p for p in chosen if p.group != "all"]
        key: Callable[[Prediction], str] = lambda p: p.group  # noqa: E731
    else:
        rows = [p for p in chosen if p.group == "all"]
        key = {
            Scope.per_kpi: lambda p: p.kpi,
            Scope.by_unit: lambda p: p.unit,
            Scope.overall: lambda p: "all",
        }[scope]
    out: dict[str, list[Prediction]] = {}
    for p in rows:
        out.setdefault(key(p), []).append(p)
    return out


def _z(p: Prediction) -> float:
    if p.observed is None or p.mean is None or not p.sd:
        return math.nan
    return (p.observed - p.mean) / p.sd


def _fold_means(rows: list[Prediction]) -> np.ndarray:
    """Mean standardised error per fold, in time order (block means for the bias test)."""
    folds = sorted({p.fold for p in rows})
    out = []
    for f in folds:
        z = np.array([_z(p) for p in rows if p.fold == f])
        z = z[np.isfinite(z)]
        out.append(float(z.mean()) if z.size else math.nan)
    return np.array(out)


def _covered(rows: list[Prediction]) -> tuple[np.ndarray, np.ndarray]:
    done = [p for p in rows if p.covered is not None]
    return (
        np.array([float(bool(p.covered)) for p in done]),
        np.array([p.fold for p in done]),
    )


def _test(c: Criterion, subject: str, rows: list[Prediction], alpha: float) -> CriterionTest:
    out: TestOutcome
    if c.metric == Metric.coverage:
        hits, blocks = _covered(rows)
        out = binomial_blocks(hits, blocks, c.level)
        summary = f"{int(hits.sum())}/{hits.size} covered"
    elif c.metric == Metric.bias:
        out = newey_west_t(_fold_means(rows))
        summary = f"mean z {out.estimate:+.2f}" if math.isfinite(out.estimate) else "no data"
    elif c.metric == Metric.pit_uniformity:
        pits = np.array([p.pit if p.pit is not None else math.nan for p in rows])
        out = chi2_blocks(pits, np.array([p.fold for p in rows]), PIT_BINS)
        summary = f"chi2 {out.statistic:.1f}" if math.isfinite(out.statistic) else "no data"
    else:  # sharpness: a declared rule on the mean relative width, no sampling test
        widths = np.array(
            [
                (p.hi - p.lo) / abs(p.mean)
                for p in rows
                if p.hi is not None and p.lo is not None and p.mean
            ]
        )
        w = float(widths.mean()) if widths.size else math.nan
        limit = c.max_relative_width or math.inf
        passed = (w <= limit) if math.isfinite(w) else None
        return CriterionTest(
            subject=subject, estimate=_n(w), statistic=None, p_value=None, n=int(widths.size),
            n_effective=None, passed=passed,
            summary=f"interval width {100 * w:.0f}% of the mean (limit {100 * limit:.0f}%)"
            if math.isfinite(w) else "no data",
        )  # fmt: skip
    passed = None if not math.isfinite(out.p_value) else out.p_value >= alpha
    return CriterionTest(
        subject=subject,
        estimate=_n(out.estimate),
        statistic=_n(out.statistic),
        p_value=_n(out.p_value),
        n=out.n,
        n_effective=_n(out.n_effective),
        passed=passed,
        summary=f"{summary}, p = {out.p_value:.3g}" if math.isfinite(out.p_value) else summary,
    )


def _decide(tests: list[CriterionTest]) -> bool | None:
    if any(t.passed is False for t in tests):
        return False
    if not tests or any(t.passed is None for t in tests):
        return None
    return True


def _criterion(
    c: Criterion,
    preds: list[Prediction],
    verification: VerificationReport | None,
    evidence: list[EvidenceRecord],
) -> CriterionResult:
    base = {
        "id": c.id, "statement": c.statement, "metric": c.metric.value, "test": c.test.value,
        "scope": c.scope.value, "alpha": c.alpha,
    }  # fmt: skip
    if c.metric == Metric.verification:
        ok = None if verification is None else verification.passed
        n_fail = 0 if verification is None else sum(not x.passed for x in verification.checks)
        summary = (
            "the verification suite did not run"
            if verification is None
            else f"{len(verification.checks) - n_fail}/{len(verification.checks)} checks passed"
        )
        return CriterionResult(**base, passed=ok, tests=[], summary=summary)
    if c.metric == Metric.evidence:
        mine = [e for e in evidence if e.kind == c.evidence_kind]
        signed = [e for e in mine if e.signed]
        summary = f"{len(signed)} signed of {len(mine)} {c.evidence_kind} record(s)"
        return CriterionResult(**base, passed=bool(signed), tests=[], summary=summary)
    groups = subjects(preds, c.scope, c.kpis)
    m = max(1, len(groups))
    alpha = c.alpha or 0.0
    per_test = alpha / m if c.family == "bonferroni" else alpha
    tests = [_test(c, name, rows, per_test) for name, rows in groups.items()]
    passed = _decide(tests)
    failed = [t.subject for t in tests if t.passed is False]
    summary = f"failed for {', '.join(failed)}" if failed else f"{len(tests)} subject(s) tested"
    return CriterionResult(
        **base, alpha_per_test=per_test if c.alpha else None, passed=passed, tests=tests,
        summary=summary,
    )  # fmt: skip


def _coverage_rows(preds: list[Prediction], kpis: list[str]) -> list[CoverageRow]:
    rows: list[CoverageRow] = []
    for scope in (Scope.overall, Scope.per_kpi, Scope.by_unit, Scope.by_hour):
        for subject, group in subjects(preds, scope, None).items():
            hits, _ = _covered(group)
            err = np.array(
                [
                    p.observed - p.mean
                    for p in group
                    if p.observed is not None and p.mean is not None
                ]
            )
            z = np.array([_z(p) for p in group])
            z = z[np.isfinite(z)]
            same_unit = scope == Scope.per_kpi
            rows.append(
                CoverageRow(
                    scope=scope.value,
                    subject=subject,
                    n=int(hits.size),
                    hits=int(hits.sum()),
                    coverage=float(hits.mean()) if hits.size else None,
                    mean_error=float(err.mean()) if same_unit and err.size else None,
                    mean_z=float(z.mean()) if z.size else None,
                )
            )
    return rows


def _pit(preds: list[Prediction], kpis: list[str]) -> list[PitHistogram]:
    out = []
    for subject, group in [("all", [p for p in preds if p.group == "all"])] + [
        (k, [p for p in preds if p.kpi == k and p.group == "all"]) for k in kpis
    ]:
        x = np.array([p.pit for p in group if p.pit is not None])
        idx = np.minimum((x * PIT_BINS).astype(int), PIT_BINS - 1)
        out.append(
            PitHistogram(subject=subject, counts=np.bincount(idx, minlength=PIT_BINS).tolist())
        )
    return out


def _verdicts(
    plan: ValidationPlan, bt: Backtest, results: list[CriterionResult]
) -> list[KpiVerdict]:
    out = []
    for k in bt.kpis:
        reasons: list[str] = []
        decided: list[bool | None] = []
        for c, r in zip(plan.criteria, results, strict=True):
            if c.scope != Scope.per_kpi or c.metric in (Metric.verification, Metric.evidence):
                continue
            for t in r.tests:
                if t.subject == k:
                    decided.append(t.passed)
                    if t.passed is False:
                        reasons.append(f"{c.id}: {t.summary}")
        can = None if not decided or None in decided else all(bool(d) for d in decided)
        if can is None and False in decided:
            can = False
        out.append(
            KpiVerdict(
                kpi=k, label=bt.labels[k], unit=bt.units[k], can_predict=can, reasons=reasons
            )
        )
    return out


def build_scorecard(
    plan: ValidationPlan,
    bt: Backtest,
    *,
    verification: VerificationReport | None = None,
    evidence: list[EvidenceRecord] | None = None,
    forecasts: ForecastValidation | None = None,
    generated_at: datetime | None = None,
) -> Scorecard:
    ev = evidence or []
    results = [_criterion(c, bt.predictions, verification, ev) for c in plan.criteria]
    return Scorecard(
        plan_name=plan.name,
        plan_version=plan.version,
        plan_hash=plan.content_hash(),
        plan_author=plan.author,
        model=plan.model,
        template_hash=bt.template_hash,
        data_hash=bt.data_hash,
        generated_at=generated_at or datetime.now(UTC),
        interval=plan.interval,
        intervals_from=INTERVALS_FROM,
        replications=plan.simulation.replications,
        folds=bt.folds,
        predictions=bt.predictions,
        coverage=_coverage_rows(bt.predictions, bt.kpis),
        pit=_pit(bt.predictions, bt.kpis),
        criteria=results,
        verdicts=_verdicts(plan, bt, results),
        verification=verification,
        evidence=ev,
        forecasts=forecasts,
        passed=all(r.passed is True for r in results),
    )
