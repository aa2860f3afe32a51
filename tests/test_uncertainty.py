"""Parameter uncertainty (issue 11): observed information, draws, the nested interval, load and
runaway replications, and a reduced-scale coverage study of ``interval90``.

Tolerances are derived from the Monte Carlo error of the quantity checked (stated beside each).
The full-scale study (20 RH1 data sets) is ``benchmarks/coverage_study.py``; docs/validity.md
gives its table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from caretwin.calibrate.fitting import fit_duration, poisson_rates
from caretwin.calibrate.uncertainty import draw_parameters, duration_uncertainty, has_uncertainty
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.model.loader import definition_from_data
from caretwin.sim.stability import Z_CRITICAL, batch_means, mann_kendall_z
from caretwin.validation import offered_load, simulate_uncertain
from caretwin.validation.uncertainty import interval_from_draws


def test_lognormal_information_matches_the_closed_form() -> None:
    rng = np.random.default_rng(11)
    n = 4000
    x = rng.lognormal(1.0, 0.6, n)
    fit = fit_duration(x, families=("lognormal",))
    u = duration_uncertainty(fit, x)
    s = math.exp(u["theta"][1])
    cov = np.asarray(u["cov"])
    # uncensored lognormal: Var(mu) = s²/n, Var(log s) = 1/(2n), independent; the numerical
    # Hessian agrees to far better than 1 %
    assert cov[0, 0] == pytest.approx(s * s / n, rel=0.01)
    assert cov[1, 1] == pytest.approx(1 / (2 * n), rel=0.01)
    assert abs(cov[0, 1]) < 0.01 * math.sqrt(cov[0, 0] * cov[1, 1])


def test_censoring_widens_the_uncertainty() -> None:
    rng = np.random.default_rng(12)
    x = rng.exponential(5.0, 3000)
    done, open_ = x[x < 8], np.full(int((x >= 8).sum()), 8.0)
    full = duration_uncertainty(fit_duration(x, families=("exponential",)), x)
    cens = duration_uncertainty(fit_duration(done, ("exponential",), open_), done, open_)
    # exponential: Var(log mean) = 1/events; censoring removes events
    assert full["cov"][0][0] == pytest.approx(1 / 3000, rel=0.01)
    assert cens["cov"][0][0] == pytest.approx(1 / done.size, rel=0.01)


def _small_model(rate: float, mean: float, sd: float, c: int, days: float) -> dict[str, Any]:
    return {
        "name": "mmc",
        "resources": {"server": {"capacity": c}},
        "arrivals": {"a": {"type": "poisson", "pathway": "p", "rates": [rate] * 24}},
        "pathways": {
            "p": {
                "steps": [
                    {"id": "serve", "acquire": ["server"], "duration": {"dist": "lognormal",
                     "mean": mean, "sd": sd}}
                ]
            }
        },
        "run": {"warmup_days": 5, "run_days": days, "replications": 4, "seed": 3},
        "kpis": {
            "wait_h": {"type": "wait", "steps": ["p.serve"]},
            "busy": {"type": "occupancy", "resource": "server"},
        },
    }  # fmt: skip


def _calibrated(data: dict[str, Any], rng: np.random.Generator, days: int) -> dict[str, Any]:
    """Fit the small model's rate and duration on ``days`` of data drawn from it, with the
    provenance the calibrator writes (what :func:`draw_parameters` reads)."""
    rate = data["arrivals"]["a"]["rates"][0]
    d = data["pathways"]["p"]["steps"][0]["duration"]
    per_hour = rng.poisson(rate * days, 24)  # arrivals in each hour of day over ``days`` days
    k = int(per_hour.sum())
    fit_r = poisson_rates(np.repeat(np.arange(24), per_hour), np.full(24, float(days)))
    s2 = math.log1p((d["sd"] / d["mean"]) ** 2)
    x = rng.lognormal(math.log(d["mean"]) - s2 / 2, math.sqrt(s2), k)
    fit = fit_duration(x)
    out = {**data, "arrivals": {"a": {**data["arrivals"]["a"], "rates": fit_r.rates}}}
    step = {
        **data["pathways"]["p"]["steps"][0],
        "duration": fit.distribution.model_dump(by_alias=True),
    }
    out["pathways"] = {"p": {"steps": [step]}}
    out["provenance"] = {
        "uncertainty_method": "test",
        "diagnostics": {
            "arrivals.a.rates": {"counts": fit_r.counts, "exposure_h": fit_r.exposure_h},
            "pathways.p.serve.duration": {
                "family": fit.family, "uncertainty": duration_uncertainty(fit, x),
            },
        },
    }  # fmt: skip
    return out


def test_draws_are_reproducible_and_centred_on_the_mle() -> None:
    truth = _small_model(2.0, 3.0, 2.0, 8, 30)
    cal = definition_from_data(_calibrated(truth, np.random.default_rng(5), 60))
    assert has_uncertainty(cal)
    a = draw_parameters(cal, np.random.default_rng(1))
    b = draw_parameters(cal, np.random.default_rng(1))
    assert a.content_hash() == b.content_hash() != cal.content_hash()
    rates = [
        draw_parameters(cal, np.random.default_rng(i)).arrivals["a"].rates[0]  # type: ignore[union-attr]
        for i in range(300)
    ]
    mle = cal.arrivals["a"].rates[0]  # type: ignore[union-attr]
    se = math.sqrt(mle / 60)  # one hour-of-day bin, 60 days: sqrt(k)/exposure
    # the draws' mean is within 4 Monte Carlo errors (se/sqrt(300)) of the MLE, their sd ~ se
    assert abs(np.mean(rates) - mle) < 4 * se / math.sqrt(300)
    assert np.std(rates) == pytest.approx(se, rel=0.15)  # sd of a sd from 300: ~4 %


def test_nested_interval_removes_the_monte_carlo_noise() -> None:
    rng = np.random.default_rng(8)
    j, r = 4000, 2
    g = rng.normal(10.0, 1.0, j)  # the expected KPI per draw: N(10, 1)
    y = g[:, None] + rng.normal(0.0, 3.0, (j, r))  # replications add noise of sd 3
    iv = interval_from_draws(y)
    # without removing the noise the interval would be ±1.645·sqrt(1 + 9/2) = ±3.9; the 75 %
    # upper bound on Var(ȳ) = 5.5 adds 5.5·(ratio − 1) to the parameter variance of 1
    from scipy.special import chdtri

    half = 1.645 * math.sqrt(1 + 5.5 * ((j - 1) / chdtri(j - 1, 0.75) - 1))
    lo, hi = iv.interval90
    # tolerance: the 5 % order statistic of 4000 draws has sd ≈ 0.05 σ, the variance ≈ 3 %
    assert lo == pytest.approx(10 - half, abs=0.15) and hi == pytest.approx(10 + half, abs=0.15)
    assert iv.parameters > 0.9 and iv.parameters + iv.monte_carlo == pytest.approx(1.0)
    # no parameter uncertainty: what the interval holds beyond the mean is mostly Monte Carlo
    # (the draws cannot rule out a small parameter part, so it is wider than the mean's CI)
    flat = interval_from_draws(10.0 + rng.normal(0.0, 3.0, (50, 2)))
    assert flat.monte_carlo > 0.5
    assert flat.interval90[0] < 10.0 < flat.interval90[1]


def test_offered_load_of_rh1() -> None:
    load = offered_load(load_definition(example_path(REFERENCE_HOSPITAL)))
    # ward: 6.125/h × 0.25 admitted × (0.88 + 0.12 × 0.8) × 96 h / 160 beds
    assert load["ward_bed"].rho == pytest.approx(6.125 * 0.25 * 0.976 * 96 / 160)
    # ED spaces are held through treatment (2 h) and, for 35 %, CT (0.33 h) and review (0.75 h)
    assert load["ed_space"].holding_h == pytest.approx(2.0 + 0.35 * (0.33 + 0.75))
    assert load["ct"].capacity == pytest.approx(2 * 240 / 246)  # up 240 h, repair 6 h


def test_trend_test_flags_a_queue_that_runs_away() -> None:
    rng = np.random.default_rng(2)
    flat = batch_means(rng.exponential(1.0, 4000))
    assert abs(mann_kendall_z(flat)) < Z_CRITICAL
    growing = batch_means(np.linspace(0, 50, 4000) + rng.exponential(1.0, 4000))
    assert mann_kendall_z(growing) > Z_CRITICAL
    overloaded = definition_from_data(_small_model(2.0, 3.0, 2.0, 5, 60))  # rho = 1.2
    stable = definition_from_data(_small_model(2.0, 3.0, 2.0, 9, 60))  # rho = 0.67
    from caretwin.sim.runner import simulate

    assert simulate(overloaded, replications=4).runaway_share == 1.0
    assert simulate(stable, replications=4).runaway_share == 0.0


@pytest.mark.slow
def test_interval90_covers_the_truth_about_90_percent_of_the_time(
    report_figure: Callable[[str], None],
) -> None:
    """Reduced-scale coverage study: an M/G/c queue, 40 data sets of 30 days, each calibrated
    with the real fitters and simulated with parameter uncertainty (40 replications).

    Truth: E[busy servers] = λ·E[S] exactly; the mean wait from 4000 replications of the
    true model (its Monte Carlo error is < 2 % of the intervals' median width). 80 (data set,
    KPI) pairs: under 90 % coverage the count is Binomial(80, 0.9), mean 72, sd 2.7; the test
    accepts 64..79 (P(X < 64) = 0.002, P(X = 80) = 0.0002). KPIs of one data set share its
    draws, so the binomial is an approximation; each KPI alone must reach 31 of 40.
    """
    from caretwin.sim.runner import simulate

    truth_data = _small_model(2.0, 3.0, 2.0, 8, 30)
    truth_defn = definition_from_data(truth_data)
    true_wait = simulate(truth_defn, replications=4000, seed=99).summary["wait_h"].mean
    truth = {"busy": 2.0 * 3.0, "wait_h": true_wait}
    covered = {k: 0 for k in truth}
    rng = np.random.default_rng(2026)
    for seed in range(40):
        cal = definition_from_data(_calibrated(truth_data, rng, 30))
        res = simulate_uncertain(cal, replications=40, seed=seed, load_draws=0)
        for k, t in truth.items():
            lo, hi = res.intervals[k].interval90
            covered[k] += lo <= t <= hi
    total = sum(covered.values())
    report_figure(f"interval90 coverage, reduced scale: {total}/80 ({covered})")
    assert 64 <= total <= 79, covered
    assert min(covered.values()) >= 31, covered


@pytest.mark.slow
def test_simulate_parameter_uncertainty_json_report_and_reproducibility(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from caretwin.cli.app import app
    from caretwin.model import dump_definition

    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    cal = definition_from_data(
        _calibrated(_small_model(2.0, 3.0, 2.0, 8, 20), np.random.default_rng(4), 30)
    )
    model = tmp_path / "cal.yaml"
    model.write_text(dump_definition(cal), encoding="utf-8")
    args = ["simulate", str(model), "--parameter-uncertainty", "--reps", "40", "--workers", "1",
            "--format", "json", "-w", str(ws)]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    for k in out["kpis"].values():
        lo, hi = k["interval90"]
        assert lo <= k["mean"] <= hi
        share = k["variance_share"]
        assert share["parameters"] + share["monte_carlo"] == pytest.approx(1.0)
    assert set(out["load"]["server"]) == {"rho", "rho_interval90", "p_rho_above_1"}
    lo, hi = out["load"]["server"]["rho_interval90"]
    assert lo < out["load"]["server"]["rho"] < hi
    assert out["runaway_share"] == 0.0
    assert out["parameter_uncertainty"]["draws"] == 20
    report = Path(out["report"]).read_text(encoding="utf-8")
    assert "Uncertainty, load and stability" in report
    manifest = json.loads((Path(out["run_dir"]) / "manifest.json").read_text())
    assert len(manifest["parameters"]["parameter_draws"]["spawn_keys"]) == 20
    again = json.loads(runner.invoke(app, [*args, "--no-report"]).stdout)
    assert again["kpis"] == out["kpis"]  # same model and seed: bit-identical
