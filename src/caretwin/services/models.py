"""Model services: resolving a model argument, validating, listing and copying examples."""

from __future__ import annotations

from pathlib import Path

from caretwin.access import Permission
from caretwin.errors import ConfigError, DefinitionError
from caretwin.model import (
    example_names,
    example_path,
    example_text,
    load_definition,
    parse_definition,
    scenario_names,
    scenario_problems,
)
from caretwin.model.definition import TwinDefinition
from caretwin.services.context import ServiceContext
from caretwin.services.results import ServiceResult
from caretwin.workspace import Workspace

__all__ = [
    "ExampleCopy",
    "ExampleInfo",
    "ModelCheck",
    "ModelInfo",
    "copy_example",
    "list_examples",
    "list_models",
    "load_named_model",
    "resolve_model_path",
    "validate_model",
    "validate_text",
]


class ModelCheck(ServiceResult):
    """A valid model: name, version, content hash, pool capacities, pathways, scenarios
    (``baseline`` first) and KPI names."""

    valid: bool
    name: str
    version: str
    model_hash: str
    resources: dict[str, int]
    pathways: list[str]
    scenarios: list[str]
    kpis: list[str]


class ExampleInfo(ServiceResult):
    name: str


class ExampleCopy(ServiceResult):
    example: str
    path: Path


def resolve_model_path(model: str | Path) -> Path:
    """A model file path; a bare example name (``reference-hospital``) means the shipped file."""
    p = Path(model)
    if not p.exists() and str(model) in example_names():
        return example_path(str(model))
    return p


#: Where a workspace keeps its own twin definitions (``caretwin demo`` writes its calibrated
#: model there): ``models/KEY.yaml`` is the model named ``KEY``.
WORKSPACE_MODELS = "models"


class ModelInfo(ServiceResult):
    """A model people may simulate by name: a shipped example or one kept in the workspace."""

    key: str
    source: str
    name: str
    description: str
    scenarios: list[str]


def _workspace_models(ws: Workspace) -> dict[str, Path]:
    folder = ws.root / WORKSPACE_MODELS
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml")) if p.is_file()}


def load_named_model(ws: Workspace, key: str) -> TwinDefinition:
    """The model called ``key``: a shipped example, else ``models/KEY.yaml`` in the workspace."""
    if key in example_names():
        return load_definition(example_path(key))
    found = _workspace_models(ws).get(key)
    if found is None:
        known = [*example_names(), *_workspace_models(ws)]
        raise ConfigError(
            f"unknown model {key!r}; one of: {', '.join(known)}", details={"model": key}
        )
    return load_definition(found)


def list_models(ctx: ServiceContext) -> list[ModelInfo]:
    """The models that may be simulated and given scenarios by name, examples first."""
    with ctx.operation("model.list", Permission.MODEL_READ, target="models") as op:
        keys = [(k, "example") for k in example_names()]
        keys += [(k, "workspace") for k in _workspace_models(ctx.workspace)]
        found = []
        for key, source in keys:
            d = load_named_model(ctx.workspace, key)
            found.append(
                ModelInfo(
                    key=key,
                    source=source,
                    name=d.name,
                    description=d.description,
                    scenarios=scenario_names(d),
                )
            )
        op.details["count"] = len(found)
        return found


def validate_model(ctx: ServiceContext, model: str | Path) -> ModelCheck:
    path = resolve_model_path(model)
    with ctx.operation("model.validate", Permission.MODEL_READ, target=str(path)) as op:
        return _check(load_definition(path), str(path), op.details)


def validate_text(ctx: ServiceContext, text: str, source: str = "definition") -> ModelCheck:
    """Check a twin definition given as YAML (or JSON) text, e.g. an HTTP request's body."""
    with ctx.operation("model.validate", Permission.MODEL_READ, target=source) as op:
        return _check(parse_definition(text, source=source), source, op.details)


def list_examples(ctx: ServiceContext) -> list[ExampleInfo]:
    """The example models shipped with CareTwin."""
    with ctx.operation("model.examples", Permission.MODEL_READ, target="examples") as op:
        names = example_names()
        op.details["count"] = len(names)
        return [ExampleInfo(name=n) for n in names]


def _check(d: TwinDefinition, where: str, details: dict[str, object]) -> ModelCheck:
    details.update(model=d.name, model_hash=d.content_hash())
    # simulate applies a scenario's overrides only when it runs it; validate applies them all
    problems = scenario_problems(d)
    if problems:
        raise DefinitionError(
            f"{where}: scenario overrides that simulate would refuse", problems=problems
        )
    return ModelCheck(
        valid=True,
        name=d.name,
        version=d.version,
        model_hash=d.content_hash(),
        resources={k: r.capacity for k, r in d.resources.items()},
        pathways=list(d.pathways),
        scenarios=scenario_names(d),
        kpis=list(d.kpis),
    )


def copy_example(ctx: ServiceContext, name: str, dest: Path) -> ExampleCopy:
    """Write a shipped example to ``dest`` (a file, or a folder to put ``NAME.yaml`` in)."""
    with ctx.operation("model.example.copy", Permission.MODEL_READ, target=name) as op:
        text = example_text(name)
        out = dest / f"{name}.yaml" if dest.is_dir() else dest
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        op.details["path"] = str(out)
        return ExampleCopy(example=name, path=out)
