"""Experiments on small queueing models with known answers, through the real engine.

Tolerances come from the stated Monte Carlo error of each check (see the comments); seeds are
fixed, so the runs are deterministic.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

from caretwin.access import Actor
from caretwin.cli.app import app
from caretwin.experiment import (
    apply_overrides,
    moving_average,
    run_experiment_spec,
    spec_from_data,
    truncation_point,
)
from caretwin.model import definition_from_data
from caretwin.services.context import ServiceContext
from caretwin.services.experiment import run_experiment
from caretwin.services.reproduce import reproduce
from caretwin.sim.runner import simulate
from caretwin.workspace import Workspace


def erlang_c_wait(c: int, lam: float, mu: float) -> float:
    """Mean wait in queue of M/M/c (Erlang C), inf when unstable."""
    a = lam / mu
    if c <= a:
        return math.inf
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    p_wait = c * b / (c - a * (1 - b))
    return p_wait / (c * mu - lam)


def queue_model(
    c: int, lam: float, service: dict[str, Any], *, days: float, warmup: float = 2
) -> dict[str, Any]:
    return {
        "name": "queue",
        "resources": {"server": {"capacity": c}},
        "arrivals": {"in": {"type": "poisson", "pathway": "p", "rates": [lam] * 24}},
        "pathways": {"p": {"steps": [{"id": "serve", "acquire": ["server"], "duration": service}]}},
        "run": {"warmup_days": warmup, "run_days": days, "cooldown_days": 1, "replications": 10},
        "kpis": {
            "wait": {"type": "wait", "steps": ["p.serve"]},
            "busy": {"type": "occupancy", "resource": "server"},
            "served": {
                "type": "interval",
                "pathway": "p",
                "start": "arrival",
                "end": "exit",
                "stat": "count",
            },
        },
    }


EXP = {"dist": "exponential", "mean": 1.0}


def test_common_random_numbers_shrink_the_paired_interval() -> None:
    """M/M/c at λ = 4/h, capacity 6 → 7 → 8, 20 replications under one seed.

    Under independence the sample correlation of 20 pairs has sd ≈ 1/√19 = 0.23, so a
    correlation above 0.69 (3 sd) shows the pairs share their draws; re-running a variant with
    another seed must instead look independent. The paired half-width is then below the
    unpaired one, and the reported variance reduction is 2·cov / (var₁ + var₂) exactly.
    """
    defn = definition_from_data(queue_model(6, 4.0, EXP, days=20))
    spec = spec_from_data(
        {
            "model": "inline",
            "replications": 20,
            "seed": 7,
            "kpis": ["wait", "busy"],
            "sweeps": [{"path": "resources.server.capacity", "values": [6, 7, 8]}],
        }
    )
    result = run_experiment_spec(spec, defn)
    assert result.variants[0].variant.name == "baseline"
    base = np.array([r.kpis["wait"] for r in result.baseline.result.replications])
    null_3sd = 3 / math.sqrt(len(base) - 1)
    for vr in result.variants[2:]:  # capacity 7 and 8 (capacity 6 is the baseline itself)
        other = np.array([r.kpis["wait"] for r in vr.result.replications])
        c = vr.comparisons["wait"]
        assert c.difference == pytest.approx(other.mean() - base.mean(), abs=1e-12)
        assert c.difference < 0 and c.paired_significant
        assert np.corrcoef(base, other)[0, 1] > null_3sd
        assert c.paired_ci95 < c.unpaired_ci95
        cov = np.cov(base, other, ddof=1)
        assert c.variance_reduction == pytest.approx(2 * cov[0, 1] / (cov[0, 0] + cov[1, 1]))
        independent = simulate(apply_overrides(defn, vr.variant.overrides), replications=20, seed=8)
        indep = np.array([r.kpis["wait"] for r in independent.replications])
        assert abs(np.corrcoef(base, indep)[0, 1]) < null_3sd
    # capacity 6 is the baseline model: its variant is the baseline run itself (cached)
    same = result.variants[1].comparisons["wait"]
    assert same.difference == 0 and same.paired_ci95 == 0


def test_search_finds_the_erlang_c_capacity() -> None:
    """Smallest c with mean M/M/c queue wait below 0.1 h at λ = 4/h, μ = 1/h: Erlang C gives
    Wq(6) = 0.142 h and Wq(7) = 0.043 h, so c = 7. With 10 × 30-day runs the CI half-width is
    a few percent of the mean, far from either margin."""
    lam, mu, goal = 4.0, 1.0, 0.1
    candidates = list(range(5, 13))
    expected = next(c for c in candidates if erlang_c_wait(c, lam, mu) < goal)
    assert expected == 7
    defn = definition_from_data(queue_model(5, lam, EXP, days=30))
    spec = spec_from_data(
        {
            "model": "inline",
            "replications": 10,
            "seed": 3,
            "kpis": ["wait"],
            "target": {
                "kpi": "wait",
                "below": goal,
                "vary": "resources.server.capacity",
                "from": 5,
                "to": 12,
                "step": 1,
            },
        }
    )
    (search,) = run_experiment_spec(spec, defn).searches
    assert search.chosen == expected and search.previous == expected - 1
    chosen, previous = search.probe(expected), search.probe(expected - 1)
    assert chosen is not None and previous is not None
    assert chosen.confident and not previous.met
    for p in (chosen, previous):  # the true values lie within the 99.9% intervals
        half999 = p.ci95 * stats.t.ppf(0.9995, p.n - 1) / stats.t.ppf(0.975, p.n - 1)
        assert abs(p.mean - erlang_c_wait(int(p.value), lam, mu)) < half999
    assert len(search.probes) <= 5  # 12, 5, 8, 6, 7: log2 of 8 candidates plus both ends


def test_replication_advisor_on_a_poisson_count() -> None:
    """The count of 1-day arrivals at λ = 1/h is Poisson(24): σ/μ = 1/√24. A relative half-width
    of 4% needs n = (t_{n−1}/(0.04·√24))² ≈ 103 replications. The rule estimates σ from the
    data, and n scales with s², whose relative sd at n ≈ 100 is √(2/99) ≈ 0.14: allow 3 sd."""
    defn = definition_from_data(
        queue_model(50, 1.0, {"dist": "fixed", "value": 0.1}, days=1, warmup=0)
    )
    spec = spec_from_data(
        {
            "model": "inline",
            "replications": 10,
            "seed": 5,
            "kpis": ["served"],
            "advisors": {
                "replications": {"kpi": "served", "half_width": 0.04, "max_replications": 400}
            },
        }
    )
    advice = run_experiment_spec(spec, defn).replication_advice
    assert advice is not None and advice.recommended is not None
    n_true = next(
        n for n in range(3, 1000) if n >= (stats.t.ppf(0.975, n - 1) / (0.04 * math.sqrt(24))) ** 2
    )
    assert 100 <= n_true <= 106
    assert abs(advice.recommended - n_true) <= 3 * 0.14 * n_true
    assert advice.path[-1].n == advice.replications_run


def test_welch_warmup_from_an_empty_start() -> None:
    """M/M/∞ (no queueing) from empty: E[N(t)] = λτ(1 − e^{−t/τ}) with λ = 2/h, τ = 48 h.
    The advisor's truncation on simulated data matches Welch's rule applied to that exact
    curve within 2 days: near the answer the curve moves 2.4 beds/day while the smoothed
    40-replication mean has a standard error of about 1 bed."""
    lam, tau_h = 2.0, 48.0
    defn = definition_from_data(
        queue_model(1000, lam, {"dist": "exponential", "mean": tau_h}, days=10, warmup=3)
    )
    spec = spec_from_data(
        {
            "model": "inline",
            "replications": 5,
            "seed": 11,
            "kpis": ["busy"],
            "advisors": {
                "warmup": {
                    "resource": "server",
                    "window": 2,
                    "tolerance": 0.05,
                    "run_days": 40,
                    "replications": 40,
                }
            },
        }
    )
    advice = run_experiment_spec(spec, defn).warmup_advice
    assert advice is not None and advice.truncation_days is not None
    # exact daily means of λτ(1 − e^{−t/τ}) over day d (t in hours), then Welch's rule
    L, tau = lam * tau_h, tau_h / 24
    d = np.arange(40.0)
    exact = L * (1 - tau * (np.exp(-d / tau) - np.exp(-(d + 1) / tau)))
    expected, level = truncation_point(moving_average(exact, 2), 0.05)
    assert expected is not None
    assert abs(advice.truncation_days - expected) <= 2
    assert advice.level == pytest.approx(level, rel=0.05)
    assert advice.sufficient is (advice.truncation_days <= 3)


def _write_experiment(tmp_path: Path) -> Path:
    (tmp_path / "mmc.yaml").write_text(
        yaml.safe_dump(queue_model(5, 4.0, EXP, days=10)), encoding="utf-8"
    )
    exp = {
        "name": "mmc-capacity",
        "model": "mmc.yaml",
        "replications": 4,
        "seed": 9,
        "sweeps": [{"path": "resources.server.capacity", "from": 5, "to": 7, "step": 1}],
        "target": {"kpi": "wait", "below": 0.1, "vary": "resources.server.capacity"},
        "advisors": {
            "replications": {"kpi": "busy", "half_width": 0.05, "max_replications": 16},
            "warmup": {"resource": "server", "window": 1, "run_days": 6},
        },
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp), encoding="utf-8")
    return path


def test_recorded_run_reproduces_identically(workspace: Workspace, tmp_path: Path) -> None:
    ctx = ServiceContext(workspace=workspace, actor=Actor("tester", frozenset({"admin"})))
    run = run_experiment(ctx, _write_experiment(tmp_path), workers=1)
    manifest = orjson.loads((run.run_dir / "manifest.json").read_bytes())
    assert manifest["kind"] == "experiment" and manifest["status"] == "succeeded"
    assert manifest["parameters"]["spec"]["sweeps"][0]["from"] == 5
    assert set(manifest["outputs"]["variants"]) >= {"baseline", "server.capacity=6"}
    # the typed result is the recorded outputs plus the run's own fields, nothing lost or renamed
    shown = orjson.loads(orjson.dumps(run.to_dict()))
    assert {k: shown[k] for k in manifest["outputs"]} == manifest["outputs"]
    assert set(shown) - set(manifest["outputs"]) == {
        "run_id", "run_dir", "report", "simulated_replications", "findings",
    }  # fmt: skip
    assert (run.run_dir / "model.yaml").exists() and (run.run_dir / "experiment.yaml").exists()
    html = run.report.read_text(encoding="utf-8") if run.report else ""
    assert "Paired difference" in html and "Warm-up advisor" in html
    assert html.count("Plotly.newPlot") == 1 and 'src="http' not in html
    repro = reproduce(ctx, run.run_id)
    assert repro.identical, repro.differences


def test_cli_experiment_json_schema_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    schema = runner.invoke(app, ["experiment", "--schema"])
    assert schema.exit_code == 0
    assert "sweeps" in orjson.loads(schema.stdout)["properties"]
    exp = _write_experiment(tmp_path)
    out = runner.invoke(
        app,
        [
            "experiment",
            str(exp),
            "-w",
            str(ws),
            "--workers",
            "1",
            "--format",
            "json",
            "--no-report",
        ],
    )
    assert out.exit_code == 0, out.output
    data = orjson.loads(out.stdout)
    assert data["search"][0]["chosen"] in (6, 7) and data["report"] is None
    table = runner.invoke(
        app, ["experiment", str(exp), "-w", str(ws), "--workers", "1", "--no-report"]
    )
    assert table.exit_code == 0, table.output
    assert "paired" in table.stdout and "smallest" in table.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: mmc.yaml\nsweeps: [{path: resources.server.capacity, from: 5}]\n")
    err = runner.invoke(app, ["experiment", str(bad), "-w", str(ws)])
    assert err.exit_code == 3 and "sweeps[0]" in err.output and "Traceback" not in err.output
