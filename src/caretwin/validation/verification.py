"""The verification suite: does the engine compute what queueing theory says, on the model's own
pools? (ISPOR-SMDM "verification": the code does what the model says.)

Each pool of the model becomes an M/M/c station with its own capacity ``c`` and its own mean
holding time (the mean duration of the first step acquiring it), loaded to ``rho`` (default
0.85) by Poisson arrivals at ``lambda = rho c / E[S]``. The engine then runs it, and three
figures are compared with their closed forms:

* the probability of waiting, Erlang C ``C(c, a)`` with ``a = lambda E[S]``;
* the mean wait, ``W_q = C(c, a) / (c mu - lambda)``;
* the mean number in service, ``L = lambda E[S] = a`` (Little's law on the servers).

A check passes when the simulated mean is within 1 % (relative, of the theory or of ``E[S]``
for waits) or its t-test against the closed form has p >= ``alpha`` (default 0.001 per check).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from caretwin.model.definition import TwinDefinition
from caretwin.model.loader import definition_from_data

__all__ = ["VerificationCheck", "VerificationReport", "erlang_c", "verify_pools"]

#: Services simulated per replication of a station: enough for ~1 % precision of L.
SERVICES_PER_REPLICATION = 20_000


class VerificationCheck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pool: str
    check: str
    theory: float
    simulated: float
    se: float | None
    p_value: float | None
    passed: bool


class VerificationReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    model_hash: str
    rho: float
    replications: int
    alpha: float
    checks: list[VerificationCheck]
    passed: bool


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load ``a`` (< c), by the Erlang B recursion."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1 - b))


def _holding_mean(defn: TwinDefinition, pool: str) -> float:
    for pw in defn.pathways.values():
        for step in pw.steps:
            if pool in step.acquire and step.duration is not None:
                mean = getattr(step.duration, "mean", None)
                if callable(mean):
                    value = float(mean())
                    if value > 0:
                        return value
    return 1.0


def _station(pool: str, c: int, es: float, lam: float, reps: int, seed: int) -> TwinDefinition:
    run_h = SERVICES_PER_REPLICATION / lam
    data: dict[str, Any] = {
        "format_version": 1,
        "name": f"verify-{pool}",
        "version": "1",
        "time_unit": "hours",
        "resources": {pool: {"capacity": c}},
        "arrivals": {"poisson": {"type": "poisson", "pathway": "station", "rates": [lam] * 24}},
        "pathways": {
            "station": {
                "steps": [
                    {
                        "id": "serve",
                        "acquire": [pool],
                        "duration": {"dist": "exponential", "mean": es},
                    }
                ]
            }
        },
        "run": {
            "warmup_days": math.ceil(20 * es / 24),
            "run_days": math.ceil(run_h / 24),
            "cooldown_days": 0,
            "replications": reps,
            "seed": seed,
        },
        "kpis": {
            "wait": {"type": "wait", "steps": ["station.serve"]},
            "p_wait": {
                "type": "wait",
                "steps": ["station.serve"],
                "stat": "pct_over",
                "threshold": 1e-9,
            },
            "busy": {"type": "occupancy", "resource": pool},
        },
    }
    return definition_from_data(data, source=f"verification station {pool}")


def _check(
    pool: str, name: str, theory: float, values: np.ndarray, scale: float, alpha: float
) -> VerificationCheck:
    from scipy.stats import t as student_t

    v = values[np.isfinite(values)]
    mean = float(v.mean())
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    diff = mean - theory
    p = math.nan
    if math.isfinite(se) and se > 0:
        p = float(2 * student_t.sf(abs(diff / se), v.size - 1))
    close = abs(diff) <= 0.01 * max(abs(theory), scale)
    passed = close or (math.isfinite(p) and p >= alpha)
    return VerificationCheck(
        pool=pool,
        check=name,
        theory=theory,
        simulated=mean,
        se=se if math.isfinite(se) else None,
        p_value=p if math.isfinite(p) else None,
        passed=passed,
    )


def verify_pools(
    defn: TwinDefinition,
    *,
    rho: float = 0.85,
    replications: int = 10,
    seed: int = 20260101,
    alpha: float = 0.001,
    pools: list[str] | None = None,
) -> VerificationReport:
    """Run the suite on every pool of ``defn`` with at least one unit (or on ``pools``)."""
    from caretwin.sim.runner import simulate

    checks: list[VerificationCheck] = []
    for name, res in defn.resources.items():
        if res.capacity < 1 or (pools is not None and name not in pools):
            continue
        es = _holding_mean(defn, name)
        c = res.capacity
        lam = rho * c / es
        a = lam * es
        pw = erlang_c(c, a)
        wq = pw / (c / es - lam)
        result = simulate(_station(name, c, es, lam, replications, seed), replications=replications)
        per_rep = {k: np.array([r.kpis[k] for r in result.replications]) for k in result.summary}
        checks += [
            _check(name, "erlang_c_p_wait_pct", 100 * pw, per_rep["p_wait"], 100.0, alpha),
            _check(name, "erlang_c_mean_wait_h", wq, per_rep["wait"], es, alpha),
            _check(name, "little_busy_units", a, per_rep["busy"], a, alpha),
        ]
    return VerificationReport(
        model=defn.name,
        model_hash=defn.content_hash(),
        rho=rho,
        replications=replications,
        alpha=alpha,
        checks=checks,
        passed=all(c.passed for c in checks),
    )
