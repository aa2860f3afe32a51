"""The experiment service: run an experiment file as one recorded, audited, reproducible run.

The run folder keeps the model as loaded (``model.yaml``) and the experiment as validated
(``experiment.yaml``); the manifest's parameters hold the experiment spec itself. The
``experiment`` reproducer re-runs that spec on that model copy and returns outputs built by the
same function, so ``caretwin reproduce`` compares every variant, comparison, advisor result and
search probe exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from caretwin.access import Permission
from caretwin.errors import DefinitionError
from caretwin.experiment import (
    ExperimentSpec,
    Progress,
    load_spec,
    run_experiment_spec,
    spec_from_data,
)
from caretwin.model import dump_definition, load_definition
from caretwin.model.definition import TwinDefinition
from caretwin.reports.experiment import write_experiment_report
from caretwin.runs import Manifest, RunRecorder, run_dir
from caretwin.services.context import ServiceContext
from caretwin.services.experiment_results import ExperimentRun
from caretwin.services.models import resolve_model_path
from caretwin.services.reproduce import register_reproducer
from caretwin.sim.plugin_kpis import kpi_plugin_refs
from caretwin.sim.runner import default_workers

__all__ = ["ExperimentRun", "resolve_experiment_model", "run_experiment"]

MODEL_FILE = "model.yaml"
SPEC_FILE = "experiment.yaml"
REPORT_FILE = "report.html"


def resolve_experiment_model(spec: ExperimentSpec, base_dir: Path | None) -> Path:
    """The model file: relative to the experiment file's folder first, else as given/example."""
    if base_dir is not None:
        beside = base_dir / spec.model
        if beside.exists():
            return beside
    return resolve_model_path(spec.model)


def run_experiment(
    ctx: ServiceContext,
    spec_path_or_model: str | Path | ExperimentSpec,
    *,
    model: TwinDefinition | None = None,
    workers: int | None = None,
    report: bool = True,
    progress: Progress | None = None,
) -> ExperimentRun:
    """Run an experiment (file path or validated spec) as one recorded run.

    ``model`` overrides the spec's ``model`` reference (an already-loaded definition).
    """
    if isinstance(spec_path_or_model, ExperimentSpec):
        spec, base_dir, target = spec_path_or_model, None, spec_path_or_model.name or "experiment"
    else:
        path = Path(spec_path_or_model)
        spec, base_dir, target = load_spec(path), path.parent, str(path)
    n_workers = workers if workers is not None else default_workers()
    with ctx.operation("experiment.run", Permission.SIMULATE, target=target) as op:
        defn = model or load_definition(resolve_experiment_model(spec, base_dir))
        with RunRecorder.start(
            ctx,
            "experiment",
            defn.name,
            defn.content_hash(),
            scenarios=spec.scenarios,
            seed=spec.seed if spec.seed is not None else defn.run.seed,
            replications=spec.replications or defn.run.replications,
            parameters={"spec": spec.to_data(), "workers": n_workers, "report": report},
            data_snapshot_hash=(defn.provenance or {}).get("data_snapshot_hash"),
        ) as rec:
            op.details.update(run_id=rec.run_id, model_hash=defn.content_hash())
            (rec.run_dir / MODEL_FILE).write_text(dump_definition(defn), encoding="utf-8")
            (rec.run_dir / SPEC_FILE).write_text(
                yaml.safe_dump(spec.to_data(), sort_keys=False, allow_unicode=True),
                encoding="utf-8",
            )
            with rec.timer("simulate"):
                result = run_experiment_spec(spec, defn, workers=n_workers, progress=progress)
            outputs = result.to_outputs()
            report_path = None
            if report:
                with rec.timer("report"):
                    report_path = write_experiment_report(
                        result,
                        rec.run_dir / REPORT_FILE,
                        manifest={"run_id": rec.run_id, "seed": result.seed, **_spec_meta(spec)},
                    )
            rec.timings["replications"] = float(result.simulated_replications)
            rec.manifest.plugins = kpi_plugin_refs(defn)
            rec.finish(outputs, report_path=report_path)
            op.details.update(
                variants=len(result.variants),
                replications=result.simulated_replications,
                searches=len(result.searches),
            )
            return ExperimentRun.of(rec.run_id, rec.run_dir, result, outputs, report_path)


def _spec_meta(spec: ExperimentSpec) -> dict[str, Any]:
    return {"experiment": spec.to_data()}


def _reproduce(ctx: ServiceContext, original: Manifest) -> dict[str, Any]:
    data = original.parameters.get("spec")
    if not isinstance(data, dict):
        raise DefinitionError(f"run {original.run_id} has no experiment spec in its manifest")
    spec = spec_from_data(data, source=f"run {original.run_id}")
    defn = load_definition(run_dir(ctx.workspace, original.run_id) / MODEL_FILE)
    workers = int(original.parameters.get("workers", 1))
    return run_experiment_spec(spec, defn, workers=workers).to_outputs()


register_reproducer("experiment", _reproduce, permission=Permission.SIMULATE)
