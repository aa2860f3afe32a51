"""caretwin.validation: plans, the tests behind criteria, scorecards, verification, evidence."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.cli.app import app
from caretwin.errors import AccessDenied, DefinitionError, EvidenceNotFound
from caretwin.reports.scorecard import scorecard_page
from caretwin.services.context import ServiceContext
from caretwin.services.users import add_user
from caretwin.services.validation import add_evidence, list_evidence, sign_evidence
from caretwin.validation import (
    Backtest,
    build_scorecard,
    erlang_c,
    parse_plan,
    plan_names,
    plan_schema,
    resolve_plan,
    verify_pools,
)
from caretwin.validation.scorecard import Fold, Prediction, scorecard_schema
from caretwin.validation.stats import binomial_blocks, design_effect, newey_west_t, pit
from caretwin.workspace import Workspace

runner = CliRunner()
ADMIN = Actor("root", frozenset({"admin"}))


def test_shipped_plans_parse_and_roll_their_origin() -> None:
    assert {"rh1-backtest", "demo-holdout"} <= set(plan_names())
    plan, source = resolve_plan("rh1-backtest")
    assert source == "shipped:rh1-backtest"
    folds = plan.data.fold_windows()
    assert len(folds) == 12
    assert folds[0] == (date(2025, 1, 6), date(2026, 1, 6), date(2026, 2, 6))
    assert folds[-1][2] == date(2027, 1, 6)  # 24 months after the start
    assert folds[5][0] == date(2025, 6, 6)  # sliding: 12 months before its origin
    assert len(plan.content_hash()) == 64
    assert "criteria" in plan_schema()["properties"]
    assert "verdicts" in scorecard_schema()["properties"]


def test_a_criterion_must_declare_its_test_and_error_rate() -> None:
    text = """
name: bad
version: "1"
author: me
data: {start: 2025-01-06, train: {weeks: 8}, horizon: {weeks: 1}, folds: 2}
criteria:
  - {id: cov, statement: covers, metric: coverage, test: newey_west_t, alpha: 0.05}
  - {id: bias, statement: unbiased, metric: bias, test: newey_west_t}
"""
    with pytest.raises(DefinitionError) as err:
        parse_plan(text)
    paths = " ".join(p for p, _ in err.value.problems)
    messages = " ".join(m for _, m in err.value.problems)
    assert "criteria.0" in paths and "criteria.1" in paths
    assert "binomial_blocks" in messages and "alpha" in messages


def test_coverage_test_discounts_correlated_blocks() -> None:
    rng = np.random.default_rng(1)
    iid = (rng.random(240) < 0.9).astype(float)
    blocks = np.repeat(np.arange(12), 20)
    assert design_effect(iid, blocks) < 1.6
    assert binomial_blocks(iid, blocks, 0.9).p_value > 0.05
    # whole periods missed together: 216/240 hits looks like 90 %, yet it is 11 of 12 blocks
    clumped = np.ones(240)
    clumped[blocks == 3] = 0.0
    clumped[:4] = 0.0  # a little noise so the estimate is not degenerate
    out = binomial_blocks(clumped, blocks, 0.9)
    assert out.n_effective < 40  # not 240 independent trials
    assert binomial_blocks(np.array([1.0] * 6 + [0.0] * 6), np.arange(12), 0.9).p_value < 0.01


def test_newey_west_bias_test_finds_a_shift_and_not_noise() -> None:
    rng = np.random.default_rng(7)
    # its error rate is what it declares: about 5 % of unbiased series rejected at 0.05
    rejected = np.mean([newey_west_t(rng.normal(0, 1, 24)).p_value < 0.05 for _ in range(400)])
    assert 0.02 < rejected < 0.10, rejected
    assert newey_west_t(rng.normal(0, 1, 24) + 1.5).p_value < 0.01
    assert pit(np.arange(10.0), 4.0) == pytest.approx(0.45)
    assert math.isnan(pit(np.arange(10.0), math.nan))


def _prediction(fold: int, kpi: str, observed: float, rng: np.random.Generator) -> Prediction:
    samples = rng.normal(10, 1, 200)
    lo, hi = (float(x) for x in np.quantile(samples, [0.05, 0.95]))
    return Prediction(
        fold=fold, kpi=kpi, unit="ED" if kpi == "good" else "MED", observed=observed,
        mean=float(samples.mean()), sd=float(samples.std(ddof=1)), lo=lo, hi=hi,
        pit=pit(samples, observed), covered=lo <= observed <= hi,
    )  # fmt: skip


def _backtest(folds: int = 24) -> Backtest:
    rng = np.random.default_rng(3)
    preds = []
    for f in range(folds):
        preds.append(_prediction(f, "good", float(rng.normal(10, 1)), rng))
        preds.append(_prediction(f, "biased", float(rng.normal(12, 1)), rng))
    folds_ = [
        Fold(
            index=f,
            train_start=date(2025, 1, 6),
            origin=date(2026, 1, 6),
            end=date(2026, 1, 13),
            model_hash="x",
        )
        for f in range(folds)
    ]
    return Backtest(
        folds=folds_, predictions=preds, kpis=["good", "biased"],
        labels={"good": "Good KPI", "biased": "Biased KPI"},
        units={"good": "ED", "biased": "MED"}, data_hash="d", template_hash="t",
    )  # fmt: skip


def test_scorecard_says_which_kpis_the_twin_can_predict() -> None:
    plan, _ = resolve_plan("rh1-backtest")
    sc = build_scorecard(plan, _backtest())
    verdicts = {v.kpi: v for v in sc.verdicts}
    assert verdicts["good"].can_predict is True
    assert verdicts["biased"].can_predict is False
    assert any(r.startswith("bias-kpi") for r in verdicts["biased"].reasons)
    criteria = {c.id: c for c in sc.criteria}
    assert criteria["coverage-kpi"].alpha_per_test == pytest.approx(0.025)  # bonferroni, 2 KPIs
    assert criteria["verification"].passed is None  # not run: undecided, never passed
    assert criteria["face-validity"].passed is False and not sc.passed
    per_kpi = {r.subject: r for r in sc.coverage_table("per_kpi")}
    assert per_kpi["good"].n == 24 and per_kpi["biased"].coverage is not None
    page = scorecard_page(sc)
    assert "can</strong> predict: Good KPI" in page
    assert "cannot</strong> predict: Biased KPI" in page
    assert "inside the simulated range" not in page
    sc.model_validate_json(sc.model_dump_json())  # the JSON round-trips through its schema


def test_erlang_c_closed_form() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


def test_verification_suite_passes_on_the_models_own_pools(report_figure: object) -> None:
    from caretwin.model import load_definition

    defn = load_definition(Path(__file__).parents[1] / "examples" / "model.yaml")
    report = verify_pools(defn, replications=4, seed=11)
    assert report.checks and report.passed, [c for c in report.checks if not c.passed]
    assert {c.check for c in report.checks} == {
        "erlang_c_p_wait_pct",
        "erlang_c_mean_wait_h",
        "little_busy_units",
    }


def test_evidence_is_audited_and_signed_with_the_full_name(workspace: Workspace) -> None:
    admin = ServiceContext(workspace, ADMIN)
    rec = add_evidence(
        admin, "face_validity", "Ward review", "reference-hospital", "Pathways match practice."
    )
    assert not rec.signed
    with pytest.raises(AccessDenied):  # an OS admin with no user entry is not a named person
        sign_evidence(admin, rec.id, "I reviewed it")
    add_user(admin, "carol", "Carol C. Jones", ["clinician"])
    add_user(admin, "vic", "Vic Viewer", ["viewer"])
    with pytest.raises(AccessDenied):
        sign_evidence(ServiceContext(workspace, Actor("vic", frozenset({"viewer"}))), rec.id, "x")
    carol = ServiceContext(workspace, Actor("carol", frozenset({"clinician"})))
    signed = sign_evidence(carol, rec.id, "The pathways match our wards.")
    assert signed.signed and signed.signoffs[0].full_name == "Carol C. Jones"
    assert list_evidence(carol, "reference-hospital")[0].signoffs[0].user == "carol"
    with pytest.raises(EvidenceNotFound):
        sign_evidence(carol, "ev-000000000000", "x")
    actions = [(e.action, e.outcome) for e in AuditLog(workspace).list(limit=100)]
    assert ("evidence.add", "ok") in actions and ("evidence.sign", "denied") in actions
    assert ("evidence.sign", "ok") in actions


def test_cli_lists_plans_and_prints_schemas() -> None:
    r = runner.invoke(app, ["validation", "plans"])
    assert r.exit_code == 0 and "rh1-backtest" in r.output
    r = runner.invoke(app, ["validation", "schema", "--scorecard"])
    assert r.exit_code == 0 and "CareTwin validation scorecard" in r.output


PLAN_SMALL = """
name: small-backtest
version: "1"
author: tests
data: {start: 2025-01-06, train: {weeks: 20}, horizon: {weeks: 1}, folds: 2}
simulation: {replications: 20, seed: 5}
by_hour: {kpis: [ed_wait_mean_h], bin_hours: 12, replications: 10}
criteria:
  - {id: coverage, statement: covers, metric: coverage, test: binomial_blocks, scope: overall,
     alpha: 0.05}
  - {id: bias, statement: unbiased, metric: bias, test: newey_west_t, scope: overall, alpha: 0.05}
"""


@pytest.mark.slow
def test_reduced_backtest_runs_as_a_recorded_validation(
    workspace: Workspace, tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    """The RH1 backtest at a reduced scale: 20 weeks of training, two one-week predictions
    (benchmarks/validation_backtest.py runs the 24-month one)."""
    from caretwin.runs import get_run
    from caretwin.services.ingestion import ingest
    from caretwin.services.synth import synthesize
    from caretwin.services.validation import get_scorecard, run_validation

    ctx = ServiceContext(workspace, ADMIN)
    synthesize(ctx, "reference-hospital", days=20 * 7 + 14 + 14, seed=7, out_dir=tmp_path / "d")
    ingest(ctx, [tmp_path / "d"])
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(PLAN_SMALL, encoding="utf-8")
    run = run_validation(ctx, plan_file)
    sc = run.scorecard
    assert [f.origin for f in sc.folds] == [date(2025, 5, 26), date(2025, 6, 2)]
    per_kpi = {r.subject: r for r in sc.coverage_table("per_kpi")}
    assert {"ed_wait_mean_h", "ward_occupancy_mean", "surgical_bed_occupancy_mean"} <= set(per_kpi)
    assert {r.subject for r in sc.coverage_table("by_unit")} >= {"ED", "ICU", "MED", "SURG"}
    assert [r.subject for r in sc.coverage_table("by_hour")] == ["00-12h", "12-24h"]
    overall = sc.coverage_table("overall")[0]
    assert overall.n == 2 * len(per_kpi) and overall.coverage is not None
    # a twin calibrated on its own hospital covers most of its 90 % intervals
    assert overall.coverage >= 0.6, overall
    assert get_run(workspace, run.run_id).kind == "validation"
    assert run.report is not None and "Acceptance criteria" in run.report.read_text()
    assert get_scorecard(ctx, run.run_id).scorecard == sc
    report_figure(
        f"reduced RH1 backtest (2 weekly folds): 90% intervals cover "
        f"{overall.hits}/{overall.n}; per KPI "
        + ", ".join(f"{k} {r.hits}/{r.n}" for k, r in per_kpi.items())
    )
