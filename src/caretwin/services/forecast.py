"""The forecast service: census forecasts from a current state, recorded and reproducible.

A forecast run keeps the model as loaded (``model.yaml``), the state (``state.json``), the
census quantiles (``forecast.json``, also the manifest's outputs) and the fan-chart page
(``forecast.html``) in its run folder. The ``forecast`` reproducer re-runs from those files, so
``caretwin reproduce`` checks the quantiles bit for bit. Audit details carry ids, counts and the
state's hash, never what the state says about patients.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from caretwin.access import Permission
from caretwin.errors import DataError
from caretwin.forecast import ForecastResult, run_forecast, state_at
from caretwin.forecast.report import write_forecast_page
from caretwin.model import apply_scenario, dump_definition, load_definition
from caretwin.model.definition import TwinDefinition
from caretwin.runs import Manifest, RunRecorder, run_dir
from caretwin.services.context import ServiceContext
from caretwin.services.models import resolve_model_path
from caretwin.services.reproduce import register_reproducer
from caretwin.services.results import ServiceResult
from caretwin.sim.runner import default_workers, trace_run
from caretwin.sim.state import HospitalState, check_state, load_state

MODEL_FILE = "model.yaml"
STATE_FILE = "state.json"
RESULT_FILE = "forecast.json"
PAGE_FILE = "forecast.html"

__all__ = ["ForecastRun", "StateFile", "capture_state", "forecast", "write_state"]

Progress = Callable[[int], None]


class ForecastRun(ServiceResult):
    """A recorded forecast: per pool, each quantile (p05, p25, median, p75, p95) of units held
    at hour marks 0..hours (0 is the state itself); ``capacity`` is in the model's pool order."""

    run_id: str
    run_dir: Path
    report: Path | None
    model: str
    model_hash: str
    scenario: str
    replications: int
    seed: int
    hours: int
    start_hour_of_week: float
    as_of: str | None
    census: str
    capacity: dict[str, int]
    quantiles: dict[str, dict[str, list[float]]]
    workers: int
    wall_seconds: float

    @classmethod
    def of(
        cls, run_id: str, folder: Path, result: ForecastResult, page: Path | None
    ) -> ForecastRun:
        return cls.model_validate(
            {
                "run_id": run_id,
                "run_dir": folder,
                "report": page,
                "model": result.model_name,
                "model_hash": result.model_hash,
                "replications": result.replications,
                "seed": result.seed,
                "workers": result.workers,
                "wall_seconds": result.wall_seconds,
                **result.outputs(),
            }
        )


class StateFile(ServiceResult):
    """A state written to a file: where, its hour of the week, patients and devices out."""

    path: Path
    hour_of_week: float | None
    patients: int
    devices_out: int


def _definition(model: str | Path | TwinDefinition) -> tuple[TwinDefinition, str]:
    if isinstance(model, TwinDefinition):
        return model, model.name
    path = resolve_model_path(model)
    return load_definition(path), str(path)


def state_hash(state: HospitalState) -> str:
    return hashlib.sha256(state.to_json_bytes()).hexdigest()


def forecast(
    ctx: ServiceContext,
    model: str | Path | TwinDefinition,
    state: HospitalState | Path | str,
    hours: int,
    *,
    replications: int = 500,
    seed: int | None = None,
    scenario: str = "baseline",
    workers: int | None = None,
    report: bool = True,
    progress: Progress | None = None,
) -> ForecastRun:
    """Forecast the census of every pool ``hours`` ahead of ``state`` as one recorded run."""
    defn, target = _definition(model)
    n_workers = workers if workers is not None else default_workers()
    with ctx.operation("forecast.run", Permission.SIMULATE, target=target) as op:
        st = state if isinstance(state, HospitalState) else load_state(Path(state))
        scenario_defn = apply_scenario(defn, scenario)
        check_state(st, scenario_defn)
        run_seed = seed if seed is not None else defn.run.seed
        digest = state_hash(st)
        op.details.update(
            model_hash=defn.content_hash(), state_hash=digest, patients=st.patient_count()
        )
        with RunRecorder.start(
            ctx,
            "forecast",
            defn.name,
            defn.content_hash(),
            scenarios=[scenario],
            seed=run_seed,
            replications=replications,
            parameters={"hours": hours, "workers": n_workers, "state_hash": digest},
        ) as rec:
            op.details["run_id"] = rec.run_id
            (rec.run_dir / MODEL_FILE).write_text(dump_definition(defn), encoding="utf-8")
            (rec.run_dir / STATE_FILE).write_bytes(st.to_json_bytes())
            with rec.timer("forecast"):
                result = run_forecast(
                    scenario_defn,
                    st,
                    hours,
                    replications=replications,
                    seed=run_seed,
                    workers=n_workers,
                    scenario_label=scenario,
                    progress=progress,
                )
            outputs = result.outputs()
            (rec.run_dir / RESULT_FILE).write_bytes(
                orjson.dumps(outputs, option=orjson.OPT_INDENT_2)
            )
            page = None
            if report:
                with rec.timer("report"):
                    page = write_forecast_page(result, rec.run_dir / PAGE_FILE, rec.run_id)
            rec.finish(outputs, report_path=page)
            return ForecastRun.of(rec.run_id, rec.run_dir, result, page)


def capture_state(
    ctx: ServiceContext,
    model: str | Path | TwinDefinition,
    at_h: float,
    *,
    seed: int | None = None,
    scenario: str = "baseline",
) -> HospitalState:
    """The state of one simulated replication at ``at_h`` hours (t = 0 is a Monday 00:00).

    A realistic starting point to edit into the hospital's real state, and what the coverage
    check of forecasts starts from.
    """
    defn, target = _definition(model)
    with ctx.operation("forecast.capture", Permission.SIMULATE, target=target) as op:
        scenario_defn = apply_scenario(defn, scenario)
        run_seed = seed if seed is not None else defn.run.seed
        trace = trace_run(scenario_defn, run_seed, at_h)
        st = state_at(trace, at_h, model=defn.name)
        op.details.update(
            model_hash=defn.content_hash(), at_h=at_h, seed=run_seed, patients=st.patient_count()
        )
        return st


def write_state(
    ctx: ServiceContext,
    model: str | Path | TwinDefinition,
    at_h: float,
    out: Path,
    *,
    seed: int | None = None,
    scenario: str = "baseline",
) -> StateFile:
    """Capture the state at ``at_h`` (see :func:`capture_state`) and write it to ``out``."""
    st = capture_state(ctx, model, at_h, seed=seed, scenario=scenario)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(st.to_json_bytes())
    except OSError as exc:
        raise DataError(f"cannot write {out}: {exc.strerror or exc}") from None
    return StateFile(
        path=out,
        hour_of_week=st.hour_of_week,
        patients=st.patient_count(),
        devices_out=sum(d.count for d in st.devices),
    )


def _reproduce(ctx: ServiceContext, original: Manifest) -> dict[str, Any]:
    folder = run_dir(ctx.workspace, original.run_id)
    defn = load_definition(folder / MODEL_FILE)
    st = load_state(folder / STATE_FILE)
    result = run_forecast(
        apply_scenario(defn, (original.scenarios or ["baseline"])[0]),
        st,
        int(original.parameters["hours"]),
        replications=original.replications or 1,
        seed=original.seed,
        workers=int(original.parameters.get("workers", 1)),
        scenario_label=(original.scenarios or ["baseline"])[0],
    )
    return result.outputs()


register_reproducer("forecast", _reproduce, permission=Permission.SIMULATE)
