"""Engine v1 against closed forms: Erlang B, Erlang C, Little's law.

Each check runs independent replications with a fixed seed and asserts that the theoretical
value lies inside the 99.9% Student-t confidence interval of the replication means, so the
tolerance is the stated Monte Carlo error, not a guess.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from caretwin.model import definition_from_data
from caretwin.sim.runner import simulate


def erlang_b(c: int, a: float) -> float:
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    b = erlang_b(c, a)
    return c * b / (c - a * (1 - b))


def mmc_model(
    c: int, lam: float, mean_service: float, *, queue_limit: int | None = None, days: float = 200
) -> dict[str, Any]:
    pool: dict[str, Any] = {"capacity": c}
    if queue_limit is not None:
        pool["queue_limit"] = queue_limit
    return {
        "name": "mmc",
        "resources": {"server": pool},
        "arrivals": {"in": {"type": "poisson", "pathway": "p", "rates": [lam] * 24}},
        "pathways": {
            "p": {
                "steps": [
                    {
                        "id": "service",
                        "acquire": ["server"],
                        "duration": {"dist": "exponential", "mean": mean_service},
                    }
                ]
            }
        },
        "run": {"warmup_days": 5, "run_days": days, "cooldown_days": 2, "replications": 10},
        "kpis": {
            "wait": {"type": "wait", "steps": ["p.service"]},
            "busy": {"type": "occupancy", "resource": "server"},
            "lost": {"type": "turned_away", "resource": "server"},
            "sojourn": {"type": "interval", "pathway": "p", "start": "arrival", "end": "exit"},
            "served": {
                "type": "interval",
                "pathway": "p",
                "start": "start:service",
                "end": "exit",
                "stat": "count",
            },
        },
    }


def ci999(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values)
    half = stats.t.ppf(0.9995, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size)
    return float(arr.mean()), float(half)


def per_rep(result: Any, kpi: str) -> list[float]:
    return [r.kpis[kpi] for r in result.replications]


def test_erlang_b_loss_probability() -> None:
    c, lam, s = 5, 4.0, 1.0
    d = definition_from_data(mmc_model(c, lam, s, queue_limit=0))
    res = simulate(d, replications=10, seed=11)
    mean, half = ci999(per_rep(res, "lost"))
    expected = 100 * erlang_b(c, lam * s)  # 19.9%
    assert abs(mean - expected) <= half, (mean, half, expected)
    # nobody waits in a loss system
    assert max(per_rep(res, "wait")) == 0.0


def test_erlang_c_waiting_time() -> None:
    c, lam, s = 3, 2.4, 1.0  # rho = 0.8
    d = definition_from_data(mmc_model(c, lam, s, days=300))
    res = simulate(d, replications=12, seed=5)
    mean, half = ci999(per_rep(res, "wait"))
    expected = erlang_c(c, lam * s) / (c / s - lam)  # mean wait in queue, hours
    assert abs(mean - expected) <= half, (mean, half, expected)


def test_littles_law_on_a_station() -> None:
    c, lam, s = 4, 3.0, 1.0
    d = definition_from_data(mmc_model(c, lam, s))
    res = simulate(d, replications=10, seed=3)
    window_h = d.run.run_days * 24
    # L (time-average busy servers) against lambda * W from the same replication
    diffs = []
    for r in res.replications:
        lam_hat = r.kpis["served"] / window_h
        w = r.kpis["sojourn"] - r.kpis["wait"]  # time in service
        diffs.append(r.kpis["busy"] - lam_hat * w)
    mean, half = ci999(diffs)
    assert abs(mean) <= max(half, 0.01 * c), (mean, half)
    # and against the offered load a = lambda / mu
    busy_mean, busy_half = ci999(per_rep(res, "busy"))
    assert abs(busy_mean - lam * s) <= busy_half


def test_fixed_durations_are_exact() -> None:
    data = mmc_model(1, 0.5, 1.0)
    data["pathways"]["p"]["steps"][0]["duration"] = {"dist": "fixed", "value": 0.25}
    res = simulate(definition_from_data(data), replications=2, seed=1)
    for r in res.replications:
        assert r.kpis["sojourn"] - r.kpis["wait"] == pytest.approx(0.25)
