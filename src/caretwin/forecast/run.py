"""Forecast replications: the census of every pool, hour by hour, from a current state.

Replication ``i`` uses the engine's streams keyed ``(seed, i, ...)`` and the warm start's own
streams, so a forecast is bit-identical for the same model, state and seed whatever the number
of workers. Prediction intervals are percentiles across replications (numpy's default linear
interpolation): the 50% interval is p25–p75 and the 90% interval p05–p95.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from caretwin.errors import SimulationError
from caretwin.forecast.census import CensusRecorder
from caretwin.model.definition import TwinDefinition
from caretwin.sim.compiled import CompiledModel, compile_definition
from caretwin.sim.state import HospitalState, check_state
from caretwin.sim.warmstart import CompiledState, compile_state, forecast_model, run_from_state

Progress = Callable[[int], None]

# Name -> percentile; the median and the bounds of the 50% and 90% prediction intervals.
QUANTILES: dict[str, float] = {"p05": 5.0, "p25": 25.0, "median": 50.0, "p75": 75.0, "p95": 95.0}


def _replicate(
    model: CompiledModel, state: CompiledState, seed: int, rep: int, hours: int
) -> np.ndarray:
    rec = CensusRecorder(len(model.resources), hours)
    run_from_state(model, state, seed, rep, trace=rec)
    return rec.close()


def _chunk(args: tuple[CompiledModel, CompiledState, int, list[int], int]) -> np.ndarray:
    model, state, seed, reps, hours = args
    return np.stack([_replicate(model, state, seed, r, hours) for r in reps])


@dataclass
class ForecastResult:
    model_name: str
    model_hash: str
    scenario: str
    seed: int
    hours: int
    start_hour: float  # hours since Monday 00:00 of the state
    as_of: str | None  # the state's local date-time (ISO), when it gave one
    resources: list[str]
    capacities: list[int]
    census: np.ndarray  # (replications, hours + 1, pools), units held at each hour mark
    wall_seconds: float
    workers: int

    @property
    def replications(self) -> int:
        return int(self.census.shape[0])

    def quantiles(self) -> dict[str, dict[str, list[float]]]:
        """Per pool: each of :data:`QUANTILES` at hour marks 0..hours."""
        q = np.percentile(self.census, list(QUANTILES.values()), axis=0)  # (5, hours+1, pools)
        return {
            name: {k: q[i, :, j].tolist() for i, k in enumerate(QUANTILES)}
            for j, name in enumerate(self.resources)
        }

    def outputs(self) -> dict[str, Any]:
        """What the run manifest keeps (and a reproduction must match exactly)."""
        return {
            "scenario": self.scenario,
            "hours": self.hours,
            "start_hour_of_week": self.start_hour,
            "as_of": self.as_of,
            "census": "units held at each hour mark (0 = the state)",
            "capacity": dict(zip(self.resources, self.capacities, strict=True)),
            "quantiles": self.quantiles(),
        }


def run_forecast(
    defn: TwinDefinition,
    state: HospitalState,
    hours: int,
    *,
    replications: int = 500,
    seed: int | None = None,
    workers: int = 1,
    scenario_label: str = "baseline",
    progress: Progress | None = None,
) -> ForecastResult:
    """``replications`` runs of ``defn`` for ``hours`` from ``state`` (validated first)."""
    if hours < 1:
        raise SimulationError("a forecast needs at least 1 hour")
    if replications < 1:
        raise SimulationError("replications must be at least 1")
    check_state(state, defn)
    root_seed = seed if seed is not None else defn.run.seed
    model = forecast_model(compile_definition(defn), float(hours))
    cstate = compile_state(state, model)
    started = time.perf_counter()
    workers = max(1, min(workers, replications))
    if workers == 1:
        parts = []
        for r in range(replications):
            parts.append(_replicate(model, cstate, root_seed, r, hours))
            if progress:
                progress(1)
        census = np.stack(parts)
    else:
        size = max(1, min(50, -(-replications // (4 * workers))))
        jobs = [
            (model, cstate, root_seed, list(range(i, min(i + size, replications))), hours)
            for i in range(0, replications, size)
        ]
        chunks = []
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for job, part in zip(jobs, pool.map(_chunk, jobs), strict=True):
                chunks.append(part)
                if progress:
                    progress(len(job[3]))
        census = np.concatenate(chunks)
    return ForecastResult(
        model_name=defn.name,
        model_hash=defn.content_hash(),
        scenario=scenario_label,
        seed=root_seed,
        hours=hours,
        start_hour=state.start_hour(),
        as_of=state.as_of.isoformat() if state.as_of else None,
        resources=[r.name for r in model.resources],
        capacities=[r.capacity for r in model.resources],
        census=census,
        wall_seconds=time.perf_counter() - started,
        workers=workers,
    )
