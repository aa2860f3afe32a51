"""Validation as audited, recorded operations: run a plan, run the verification suite, record
and sign evidence, read scorecards.

A validation run is a run of kind ``validation``: its folder keeps the plan as run
(``plan.yaml``), the scorecard (``scorecard.json``, also the manifest's outputs in short) and
its HTML page (``report.html``). Evidence records live in ``<workspace>/validation/evidence``;
signing one needs a named workspace user (the sign-off carries their full name).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from caretwin.access import Permission
from caretwin.calibrate.extract import extract
from caretwin.errors import AccessDenied, ConfigError, RunNotFound
from caretwin.lake import Lake
from caretwin.model import load_definition
from caretwin.model.definition import ResourceKind
from caretwin.runs import RunRecorder, run_dir
from caretwin.runs.recorder import get_run, list_runs
from caretwin.services.context import ServiceContext
from caretwin.services.models import resolve_model_path
from caretwin.services.results import ServiceResult
from caretwin.validation import (
    EvidenceStore,
    Scorecard,
    Signoff,
    StoredForecast,
    build_scorecard,
    resolve_plan,
    run_backtest,
    validate_forecasts,
    verify_pools,
)
from caretwin.validation.evidence import Attachment, EvidenceKind, EvidenceRecord
from caretwin.validation.forecasts import ForecastValidation
from caretwin.validation.plan import Metric, ValidationPlan
from caretwin.validation.verification import VerificationReport
from caretwin.workspace import Workspace

__all__ = [
    "EvidenceInfo",
    "ForecastCoverage",
    "ValidationRun",
    "VerificationRun",
    "add_evidence",
    "evaluate_plan",
    "forecast_validation",
    "get_scorecard",
    "list_evidence",
    "run_validation",
    "sign_evidence",
    "verify_model",
]

PLAN_FILE = "plan.yaml"
SCORECARD_FILE = "scorecard.json"
REPORT_FILE = "report.html"

Step = Callable[[str], None]


class ValidationRun(ServiceResult):
    """A validation run's scorecard and where it is kept."""

    run_id: str
    plan: str
    report: Path | None
    scorecard: Scorecard


class VerificationRun(ServiceResult):
    """The verification suite's checks on one model."""

    model_path: str
    report: VerificationReport


class ForecastCoverage(ServiceResult):
    """Stored forecasts against the lake; ``result`` is None when none was recorded."""

    result: ForecastValidation | None


class EvidenceInfo(ServiceResult):
    """One evidence record as stored (see :class:`caretwin.validation.EvidenceRecord`)."""

    id: str
    kind: str
    title: str
    model: str
    model_version: str | None
    findings: str
    recorded_by: str
    recorded_at: datetime
    attachments: list[Attachment]
    signoffs: list[Signoff]
    signed: bool

    @classmethod
    def of(cls, r: EvidenceRecord) -> EvidenceInfo:
        return cls(**r.model_dump(), signed=r.signed)


def _store(ws: Workspace) -> EvidenceStore:
    return EvidenceStore(ws.root / "validation" / "evidence")


def _stored_forecasts(ws: Workspace) -> list[StoredForecast]:
    out = []
    for summary in list_runs(ws, kind="forecast"):
        folder = run_dir(ws, summary.run_id)
        result, model = folder / "forecast.json", folder / "model.yaml"
        if summary.status != "succeeded" or not result.is_file() or not model.is_file():
            continue
        data: dict[str, Any] = orjson.loads(result.read_bytes())
        defn = load_definition(model)
        units = {
            name: res.unit or name
            for name, res in defn.resources.items()
            if res.kind == ResourceKind.bed
        }
        out.append(StoredForecast(summary.run_id, data.get("as_of"), data["quantiles"], units))
    return out


def _forecasts(ws: Workspace, lake: Lake) -> ForecastValidation | None:
    stored = _stored_forecasts(ws)
    if not stored:
        return None
    ex = extract(lake)
    seen = ex.beds["start"][np.isfinite(ex.beds["start"])]
    end = float(seen.max()) if seen.size else -math.inf
    return validate_forecasts(stored, ex, end)


def forecast_validation(ctx: ServiceContext) -> ForecastCoverage:
    """Coverage of every stored forecast against what the lake has seen since (or None when
    no forecast was recorded)."""
    with ctx.operation("validation.forecasts", Permission.RUNS_READ, target="forecasts") as op:
        found = _forecasts(ctx.workspace, Lake(ctx.workspace.lake_dir))
        op.details["forecasts"] = 0 if found is None else len(found.forecasts)
        return ForecastCoverage(result=found)


def _outputs(sc: Scorecard) -> dict[str, Any]:
    return {
        "passed": sc.passed,
        "plan_hash": sc.plan_hash,
        "criteria": {c.id: c.passed for c in sc.criteria},
        "coverage": {r.subject: r.coverage for r in sc.coverage_table("per_kpi")},
        "can_predict": {v.kpi: v.can_predict for v in sc.verdicts},
    }


def evaluate_plan(
    ws: Workspace,
    plan: ValidationPlan,
    *,
    workers: int = 1,
    on_step: Step | None = None,
) -> Scorecard:
    """The scorecard of ``plan`` on ``ws``'s lake, inside the caller's operation and run record
    (``run_validation``'s, or the demo's)."""
    template = load_definition(resolve_model_path(plan.model))
    lake = Lake(ws.lake_dir)
    bt = run_backtest(lake, plan, template, workers=workers, on_step=on_step)
    metrics = {c.metric for c in plan.criteria}
    verification = None
    if Metric.verification in metrics:
        if on_step:
            on_step("verification suite")
        verification = verify_pools(template, seed=plan.simulation.seed)
    evidence = _store(ws).list(model=template.name)
    return build_scorecard(
        plan, bt, verification=verification, evidence=evidence, forecasts=_forecasts(ws, lake)
    )


def run_validation(
    ctx: ServiceContext,
    plan: str | Path | ValidationPlan,
    *,
    workers: int = 1,
    on_step: Step | None = None,
) -> ValidationRun:
    """Run a validation plan (a file, a shipped plan's name, or a parsed plan) as one recorded
    run."""
    from caretwin.reports.scorecard import write_scorecard_page

    if isinstance(plan, ValidationPlan):
        loaded, source = plan, f"inline:{plan.name}"
    else:
        loaded, source = resolve_plan(plan)
    with ctx.operation("validation.run", Permission.VALIDATE, target=source) as op:
        op.details.update(plan=loaded.name, plan_version=loaded.version)
        op.details["plan_hash"] = loaded.content_hash()
        with RunRecorder.start(
            ctx,
            "validation",
            loaded.name,
            loaded.content_hash(),
            seed=loaded.simulation.seed,
            replications=loaded.simulation.replications,
            parameters={"plan": source, "workers": workers},
            data_snapshot_hash=Lake(ctx.workspace.lake_dir).data_hash(),
        ) as rec:
            op.details["run_id"] = rec.run_id
            (rec.run_dir / PLAN_FILE).write_text(
                yaml.safe_dump(loaded.to_data(), sort_keys=False), encoding="utf-8"
            )
            with rec.timer("validate"):
                sc = evaluate_plan(ctx.workspace, loaded, workers=workers, on_step=on_step)
            (rec.run_dir / SCORECARD_FILE).write_bytes(
                orjson.dumps(sc.to_dict(), option=orjson.OPT_INDENT_2)
            )
            with rec.timer("report"):
                page = write_scorecard_page(sc, rec.run_dir / REPORT_FILE, rec.run_id)
            rec.finish(_outputs(sc), report_path=page)
            op.details["passed"] = sc.passed
    return ValidationRun(run_id=rec.run_id, plan=source, report=page, scorecard=sc)


def get_scorecard(ctx: ServiceContext, run_id: str) -> ValidationRun:
    """The scorecard of a recorded validation run."""
    with ctx.operation("validation.show", Permission.RUNS_READ, target=run_id):
        manifest = get_run(ctx.workspace, run_id)
        path = run_dir(ctx.workspace, run_id) / SCORECARD_FILE
        if manifest.kind != "validation" or not path.is_file():
            raise RunNotFound(
                f"run {run_id} is not a validation run with a scorecard",
                details={"run_id": run_id},
            )
        sc = Scorecard.model_validate_json(path.read_bytes())
        report = Path(manifest.report_path) if manifest.report_path else None
        return ValidationRun(
            run_id=run_id, plan=str(manifest.parameters.get("plan", "")), report=report,
            scorecard=sc,
        )  # fmt: skip


def verify_model(
    ctx: ServiceContext,
    model: str | Path,
    *,
    rho: float = 0.85,
    replications: int = 10,
    seed: int = 20260101,
) -> VerificationRun:
    """The verification suite (Erlang C, Little's law) on every pool of ``model``."""
    path = resolve_model_path(model)
    with ctx.operation("validation.verify", Permission.VALIDATE, target=str(path)) as op:
        if not 0 < rho < 1:
            raise ConfigError("the test load rho must be between 0 and 1")
        defn = load_definition(path)
        report = verify_pools(defn, rho=rho, replications=replications, seed=seed)
        op.details.update(model_hash=defn.content_hash(), passed=report.passed)
        op.details["checks"] = len(report.checks)
        return VerificationRun(model_path=str(path), report=report)


def add_evidence(
    ctx: ServiceContext,
    kind: EvidenceKind,
    title: str,
    model: str,
    findings: str,
    *,
    model_version: str | None = None,
    attachments: list[Path] | None = None,
) -> EvidenceInfo:
    """Record validation evidence (unsigned) about ``model`` (a twin definition's name)."""
    with ctx.operation("evidence.add", Permission.VALIDATE, target=model) as op:
        record = _store(ctx.workspace).add(
            kind=kind,
            title=title,
            model=model,
            model_version=model_version,
            findings=findings,
            recorded_by=ctx.actor.name,
            at=datetime.now(UTC),
            attachments=attachments,
        )
        op.details.update(evidence_id=record.id, kind=kind, attachments=len(record.attachments))
        return EvidenceInfo.of(record)


def list_evidence(ctx: ServiceContext, model: str | None = None) -> list[EvidenceInfo]:
    with ctx.operation("evidence.list", Permission.RUNS_READ, target=model or "*") as op:
        records = _store(ctx.workspace).list(model=model)
        op.details["count"] = len(records)
        return [EvidenceInfo.of(r) for r in records]


def _full_name(ctx: ServiceContext) -> str:
    from caretwin.store.identity import User

    with ctx.workspace.session() as session:
        user = session.get(User, ctx.actor.name)
        name = user.full_name.strip() if user is not None and not user.disabled else ""
    if not name:
        raise AccessDenied(
            "a sign-off needs a named, enabled workspace user with a full name; "
            f"{ctx.actor.name!r} is not one"
        )
    return name


def sign_evidence(ctx: ServiceContext, evidence_id: str, statement: str) -> EvidenceInfo:
    """Sign ``evidence_id`` as the acting user, recording their full name and statement."""
    with ctx.operation("evidence.sign", Permission.EVIDENCE_SIGN, target=evidence_id) as op:
        if not statement.strip():
            raise ConfigError("a sign-off needs a statement (what the signer attests)")
        signoff = Signoff(
            user=ctx.actor.name,
            full_name=_full_name(ctx),
            roles=sorted(ctx.actor.roles),
            at=datetime.now(UTC),
            statement=statement.strip(),
        )
        record = _store(ctx.workspace).sign(evidence_id, signoff)
        op.details.update(full_name=signoff.full_name, signoffs=len(record.signoffs))
        return EvidenceInfo.of(record)
