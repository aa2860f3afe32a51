"""Models and scenarios: choose a model and scenarios, run them, watch the job, compare with
the baseline; and the scenario editor, a form generated from the model's parameter catalogue.

Every figure on these pages is a field of a service result (``ModelParameters``,
``SavedScenarioInfo``, ``JobInfo``, ``RunComparison``); the pages only parse forms and render.
The job page works without script (a ``noscript`` refresh); ``/static/scenarios.js`` polls the
job's JSON instead and goes on to the comparison when the run is done.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from caretwin.access import Permission
from caretwin.errors import ConfigError, DefinitionError
from caretwin.services.comparison import RunComparison, run_comparison
from caretwin.services.jobs import MAX_REPLICATIONS, get_job, submit_simulation
from caretwin.services.models import list_models
from caretwin.services.scenarios import (
    ModelParameters,
    Parameter,
    list_saved_scenarios,
    model_parameters,
    save_scenario,
    show_saved_scenario,
)
from caretwin.web.deps import Page, PageAccess, RunsPage, SimulatePage
from caretwin.web.render import render
from caretwin.web.routing import PageRoute

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)

ModelPage = Annotated[Page, Depends(PageAccess(Permission.MODEL_READ))]
EditPage = Annotated[Page, Depends(PageAccess(Permission.SCENARIOS_EDIT))]

#: Seconds between refreshes of the job page when script is off.
REFRESH_SECONDS = 2
_FIELD = "p:"


@router.get("/models")
def models(page: ModelPage, model: str | None = Query(None, max_length=200)) -> Response:
    """Choose a model, its scenarios (shipped and saved), and run them against the baseline."""
    found = list_models(page.ctx)
    chosen = next((m for m in found if m.key == model), found[0] if found else None)
    saved = list_saved_scenarios(page.ctx, chosen.key) if chosen else []
    return render(
        page, "models.html", title="Models and scenarios", models=found, chosen=chosen,
        saved=saved, can_run=page.actor.can(Permission.SIMULATE),
        can_edit=page.actor.can(Permission.SCENARIOS_EDIT), max_reps=MAX_REPLICATIONS,
        run=_run_options_defaults(page),
    )  # fmt: skip


def _run_options_defaults(page: Page) -> dict[str, str]:
    q = page.request.query_params
    return {k: q.get(k, "") for k in ("replications", "run_days", "warmup_days")}


def _number(form: FormData, key: str, kind: type[int] | type[float]) -> Any:
    raw = str(form.get(key) or "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{key.replace('_', ' ')} must be a number, not {raw!r}") from None


@router.post("/models/run")
async def run(page: SimulatePage) -> Response:
    """Queue the chosen scenarios beside the baseline as a job; then watch it."""
    form = await page.request.form()
    model = str(form.get("model") or "")
    shipped = [str(s) for s in form.getlist("scenario") if str(s) != "baseline"]
    saved = [str(s) for s in form.getlist("saved")]
    job = submit_simulation(
        page.ctx, model, scenarios=["baseline", *shipped], saved=saved,
        replications=_number(form, "replications", int),
        run_days=_number(form, "run_days", float),
        warmup_days=_number(form, "warmup_days", float),
    )  # fmt: skip
    worker = getattr(page.request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    return RedirectResponse(f"/models/jobs/{job.job_id}", status_code=303)


@router.get("/models/jobs/{job_id}")
def job(page: RunsPage, job_id: str) -> Response:
    """A scenario run in progress; once done, its comparison."""
    found = get_job(page.ctx, job_id)
    if found.status == "done" and found.run_id:
        return RedirectResponse(f"/runs/{found.run_id}/comparison", status_code=303)
    active = found.status in ("queued", "running")
    return render(
        page, "scenario_job.html", title="Running scenarios", job=found,
        noscript_refresh=REFRESH_SECONDS if active else None,
    )  # fmt: skip


@router.get("/models/jobs/{job_id}/status")
def job_status(page: RunsPage, job_id: str) -> Response:
    """The job as JSON, for the page's script to poll (same session, same permission)."""
    found = get_job(page.ctx, job_id)
    body = found.to_dict()
    body["next"] = f"/runs/{found.run_id}/comparison" if found.run_id else None
    return JSONResponse(body, headers={"cache-control": "no-store"})


def _chart(cmp: RunComparison) -> dict[str, Any]:
    """The chart's data: each KPI's change from baseline as % of the baseline mean, with its
    95% interval, per scenario (units differ between KPIs; percentages put them on one axis)."""
    traces = []
    for sc in cmp.scenarios:
        y, x, err = [], [], []
        for k in sc.kpis:
            base, diff, half = k.baseline_mean, k.difference, k.difference_ci95
            # a percentage of an average not clearly away from zero says nothing
            if base is None or diff is None or half is None or base == 0.0:
                continue
            if k.baseline_ci95 is None or k.baseline_ci95 >= abs(base):
                continue
            y.append(k.label)
            x.append(round(100.0 * diff / abs(base), 3))
            err.append(round(100.0 * half / abs(base), 3))
        traces.append({"name": sc.scenario, "y": y, "x": x, "error": err})
    return {"traces": traces}


@router.get("/runs/{run_id}/comparison")
def comparison(page: RunsPage, run_id: str) -> Response:
    """The run's scenarios beside its baseline: table and chart with 95% intervals."""
    cmp = run_comparison(page.ctx, run_id)
    return render(
        page, "comparison.html", title=f"Comparison of {run_id}", cmp=cmp, chart=_chart(cmp),
    )  # fmt: skip


def _fields(params: ModelParameters) -> dict[str, list[Parameter]]:
    grouped: dict[str, list[Parameter]] = {g: [] for g in params.groups}
    for p in params.parameters:
        grouped[p.group].append(p)
    return {g: ps for g, ps in grouped.items() if ps}


def _editor(
    page: Page,
    params: ModelParameters,
    values: dict[str, str],
    status: int = 200,
    errors: dict[str, str] | None = None,
    general: list[str] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    return render(
        page, "scenario_edit.html", status, title=f"Scenario editor: {params.model}",
        params=params, groups=_fields(params), values=values, errors=errors or {},
        general=general or [], form=form or {}, field_prefix=_FIELD, field_id=_field_id,
        labels={p.path: p.label for p in params.parameters},
    )  # fmt: skip


def _field_id(path: str) -> str:
    """An HTML id for a parameter's input (paths hold dots, fine in ids but not in selectors)."""
    return "f-" + "".join(c if c.isalnum() or c in "_-" else "-" for c in path)


@router.get("/scenarios/new")
def editor(
    page: EditPage,
    model: str | None = Query(None, max_length=200),
    name: str | None = Query(None, max_length=64),
) -> Response:
    """The editor: every parameter of the model in a form; a saved scenario's values filled in."""
    form: dict[str, str] = {}
    overrides: dict[str, Any] = {}
    if name:
        found = show_saved_scenario(page.ctx, name)
        model, overrides = found.model, found.overrides
        form = {"name": found.name, "description": found.description}
    if not model:
        models_found = list_models(page.ctx)
        model = models_found[0].key if models_found else ""
    params = model_parameters(page.ctx, model)
    values = {p.path: _show(overrides.get(p.path, p.value)) for p in params.parameters}
    return _editor(page, params, values, form=form)


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


def _parse(form: FormData, params: ModelParameters) -> tuple[dict[str, Any], dict[str, str]]:
    """The overrides (values that differ from the model's) and per-field parse errors."""
    overrides: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for p in params.parameters:
        raw = str(form.get(_FIELD + p.path) or "").strip()
        if not raw:
            errors[p.path] = "enter a value"
            continue
        try:
            value: float = int(raw) if p.type == "int" else float(raw)
        except ValueError:
            errors[p.path] = "enter a whole number" if p.type == "int" else "enter a number"
            continue
        if p.type == "float" and not math.isfinite(value):
            errors[p.path] = "enter a finite number"
            continue
        if value != p.value:
            overrides[p.path] = value
    return overrides, errors


def _place(problems: list[tuple[str, str]], paths: list[str]) -> tuple[dict[str, str], list[str]]:
    """Each problem next to the field it names (or the fields under the part it names)."""
    errors: dict[str, str] = {}
    general: list[str] = []
    for path, message in problems:
        under = [p for p in paths if p == path or p.startswith(path + ".")]
        if not under:
            general.append(f"{path}: {message}")
        for p in under:
            errors[p] = f"{errors[p]}; {message}" if p in errors else message
    return errors, general


@router.post("/scenarios/new")
async def save(page: EditPage) -> Response:
    """Check the form with the twin format's validation and save a new version."""
    form = await page.request.form()
    model = str(form.get("model") or "")
    params = model_parameters(page.ctx, model)
    text = {k: str(form.get(k) or "").strip() for k in ("name", "description", "note")}
    values = {p.path: str(form.get(_FIELD + p.path) or "") for p in params.parameters}
    overrides, errors = _parse(form, params)
    general: list[str] = []
    if not text["name"]:
        general.append("Give the scenario a name.")
    if not errors and not general:
        try:
            saved = save_scenario(
                page.ctx, text["name"], model, overrides, description=text["description"],
                note=text["note"],
            )  # fmt: skip
        except DefinitionError as exc:
            errors, general = _place(exc.problems, [p.path for p in params.parameters])
            if not exc.problems:
                general = [exc.message]
        except ConfigError as exc:
            general = [exc.message]
        else:
            return RedirectResponse(f"/scenarios/{saved.name}?saved=1", status_code=303)
    return _editor(page, params, values, 422, errors, general, text)


@router.get("/scenarios/{name}")
def scenario(page: ModelPage, name: str, version: int | None = Query(None, ge=1)) -> Response:
    """A saved scenario: what it changes, who saved it; run it against the baseline."""
    found = show_saved_scenario(page.ctx, name, version)
    params = model_parameters(page.ctx, found.model)
    by_path = {p.path: p for p in params.parameters}
    return render(
        page, "scenario.html", title=f"Scenario {found.name}", scenario=found, by_path=by_path,
        just_saved=page.request.query_params.get("saved") == "1",
        can_run=page.actor.can(Permission.SIMULATE),
        can_edit=page.actor.can(Permission.SCENARIOS_EDIT), max_reps=MAX_REPLICATIONS,
        run=_run_options_defaults(page),
    )  # fmt: skip
