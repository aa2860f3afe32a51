"""How many replications? The sequential rule of Hoad, Robinson & Davies (2010).

Hoad, Robinson & Davies, "Automating the selection of the number of replications for a discrete-
event simulation model", J. Oper. Res. Soc. 61 (2010): add replications one at a time, computing
the 95% confidence-interval half-width of the KPI's mean (relative to the mean, or absolute);
the answer is the first ``n`` at which it is within the target *and stays within it* for a
look-ahead of ``f(kLimit, n)`` further replications — ``kLimit`` while ``n ≤ 100`` and
``kLimit · n / 100`` beyond, so that a half-width that dips under the target by chance is not
taken for convergence.

Replication ``i`` always draws from the streams keyed by ``(seed, i)``, so the first ``n``
replications of a longer run are the ``n``-replication run: the path below is exactly what
adding replications one at a time would give.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["CiPoint", "ReplicationAdvice", "advise_replications", "ci_path", "look_ahead"]


@dataclass(frozen=True)
class CiPoint:
    n: int
    mean: float
    half_width: float  # absolute 95% half-width
    relative: float  # half_width / |mean| (inf when the mean is 0)

    def to_json(self) -> dict[str, Any]:
        rel = self.relative if math.isfinite(self.relative) else None
        return {"n": self.n, "mean": self.mean, "half_width": self.half_width, "relative": rel}


@dataclass(frozen=True)
class ReplicationAdvice:
    kpi: str
    target: float
    relative: bool
    k_limit: int
    recommended: int | None  # None: not reached within max_replications
    replications_run: int
    path: list[CiPoint]

    def to_json(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi,
            "target": self.target,
            "relative": self.relative,
            "k_limit": self.k_limit,
            "recommended": self.recommended,
            "replications_run": self.replications_run,
            "path": [p.to_json() for p in self.path],
        }


def look_ahead(k_limit: int, n: int) -> int:
    """Hoad et al.'s f(kLimit, Nsol): a longer look-ahead once ``n`` exceeds 100."""
    return k_limit if n <= 100 else math.ceil(k_limit * n / 100)


def ci_path(values: list[float] | np.ndarray) -> list[CiPoint]:
    """The cumulative mean and 95% half-width after 2, 3, … replications."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    out: list[CiPoint] = []
    for n in range(2, x.size + 1):
        head = x[:n]
        mean = float(head.mean())
        half = float(stats.t.ppf(0.975, n - 1) * head.std(ddof=1) / math.sqrt(n))
        rel = half / abs(mean) if mean != 0 else (0.0 if half == 0 else math.inf)
        out.append(CiPoint(n, mean, half, rel))
    return out


def recommend(
    path: list[CiPoint], target: float, *, relative: bool, k_limit: int, min_n: int
) -> int | None:
    """The smallest ``n ≥ min_n`` within ``target`` for ``n … n + f(kLimit, n)``, if seen."""
    ok = {p.n: (p.relative if relative else p.half_width) <= target for p in path}
    last = path[-1].n if path else 0
    for p in path:
        if p.n < min_n or not ok[p.n]:
            continue
        end = p.n + look_ahead(k_limit, p.n)
        if end > last:
            return None  # within target so far, but the look-ahead is not complete yet
        if all(ok[m] for m in range(p.n, end + 1)):
            return p.n
    return None


def advise_replications(
    kpi: str,
    run: Callable[[int], list[float]],
    *,
    target: float,
    relative: bool = True,
    k_limit: int = 5,
    min_n: int = 3,
    max_n: int = 200,
    start: int = 10,
) -> ReplicationAdvice:
    """Run more replications (``run(n)`` returns the KPI of replications 0…n−1) until decided.

    The number run doubles each round (a round re-runs the earlier replications, which costs
    at most as much again as the final round and keeps ``run`` a plain call of the engine).
    """
    n = max(min(start, max_n), min_n + k_limit, 3)
    n = min(n, max_n)
    while True:
        path = ci_path(run(n))
        rec = recommend(path, target, relative=relative, k_limit=k_limit, min_n=min_n)
        if rec is not None or n >= max_n:
            return ReplicationAdvice(kpi, target, relative, k_limit, rec, n, path)
        n = min(2 * n, max_n)
