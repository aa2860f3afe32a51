"""Saved scenarios: parameter changes people define on a model, kept as immutable versions.

A saved scenario is what a model's own ``scenarios:`` entry is (overrides by dotted field
path), defined by a person instead of the model's author: it names a model, the overrides, a
note and who wrote it when. Saving checks it the way ``caretwin validate`` checks a model's
scenarios: the overrides are applied and the resulting definition validated by the twin format
itself, every problem named by the override path that caused it. Each save adds a version;
archiving adds a tombstone version; nothing is updated in place (:mod:`caretwin.store.scenarios`).

A run names a saved scenario as ``NAME@vN``: the overrides are put into the run's copy of the
model (``model.yaml`` in the run folder), so the run reproduces without the database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from caretwin.access import Permission
from caretwin.errors import ConfigError, DefinitionError, SavedScenarioNotFound
from caretwin.model import Scenario, apply_scenario, scenario_names
from caretwin.model.definition import TwinDefinition
from caretwin.model.parameters import GROUPS, ParameterGroup, parameter_catalogue
from caretwin.services.context import ServiceContext
from caretwin.services.models import load_named_model
from caretwin.services.results import ServiceResult
from caretwin.store.models import utcnow
from caretwin.store.scenarios import SavedScenario
from caretwin.workspace import Workspace

__all__ = [
    "ModelParameters",
    "Parameter",
    "SavedScenarioInfo",
    "archive_scenario",
    "list_saved_scenarios",
    "model_parameters",
    "save_scenario",
    "show_saved_scenario",
    "with_saved_scenarios",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_REF = re.compile(r"^(?P<name>[^@]+)(?:@v?(?P<version>\d+))?$")
_MAX_OVERRIDES = 200


class Parameter(BaseModel):
    """One parameter a scenario may change (:class:`caretwin.model.parameters.ParameterSpec`)."""

    model_config = ConfigDict(frozen=True)

    path: str
    group: ParameterGroup
    label: str
    unit: str
    type: Literal["int", "float"]
    value: int | float
    minimum: float | None
    maximum: float | None
    exclusive_minimum: bool


class ModelParameters(ServiceResult):
    """A model's editable parameters with their current values, units and bounds; ``groups``
    gives each group's heading in the order to show them."""

    model: str
    model_name: str
    model_hash: str
    groups: dict[str, str]
    parameters: list[Parameter]
    scenarios: list[str]


class SavedScenarioInfo(ServiceResult):
    """One version of a saved scenario; ``ref`` (``NAME@vN``) is how a run names it."""

    name: str
    version: int
    ref: str
    model: str
    model_name: str
    model_hash: str
    description: str
    overrides: dict[str, Any]
    note: str
    author: str
    created_at: datetime
    archived: bool

    @classmethod
    def of(cls, row: SavedScenario) -> SavedScenarioInfo:
        return cls(
            name=row.name,
            version=row.version,
            ref=f"{row.name}@v{row.version}",
            model=row.model,
            model_name=row.model_name,
            model_hash=row.model_hash,
            description=row.description,
            overrides=dict(row.overrides),
            note=row.note,
            author=row.author,
            created_at=row.created_at,
            archived=row.archived,
        )


def model_parameters(ctx: ServiceContext, model: str) -> ModelParameters:
    """The parameters of ``model`` a scenario may change, read off its definition."""
    with ctx.operation("model.parameters", Permission.MODEL_READ, target=model) as op:
        defn = load_named_model(ctx.workspace, model)
        params = [Parameter(**vars(p)) for p in parameter_catalogue(defn)]
        op.details["count"] = len(params)
        return ModelParameters(
            model=model,
            model_name=defn.name,
            model_hash=defn.content_hash(),
            groups=dict(GROUPS),
            parameters=params,
            scenarios=scenario_names(defn),
        )


def _rows(ws: Workspace, name: str) -> list[SavedScenario]:
    with ws.session() as session:
        stmt = select(SavedScenario).where(SavedScenario.name == name)
        return list(session.scalars(stmt.order_by(SavedScenario.version)))


def _latest(ws: Workspace, name: str) -> SavedScenario:
    rows = _rows(ws, name)
    if not rows:
        raise SavedScenarioNotFound(f"no saved scenario {name!r}", details={"name": name})
    return rows[-1]


def list_saved_scenarios(
    ctx: ServiceContext, model: str | None = None, include_archived: bool = False
) -> list[SavedScenarioInfo]:
    """The latest version of every saved scenario (of ``model``), by name."""
    with ctx.operation("scenarios.list", Permission.MODEL_READ, target=model or "*") as op:
        latest = (
            select(SavedScenario.name, func.max(SavedScenario.version).label("v"))
            .group_by(SavedScenario.name)
            .subquery()
        )
        stmt = select(SavedScenario).join(
            latest, (SavedScenario.name == latest.c.name) & (SavedScenario.version == latest.c.v)
        )
        if model is not None:
            stmt = stmt.where(SavedScenario.model == model)
        if not include_archived:
            stmt = stmt.where(SavedScenario.archived.is_(False))
        with ctx.workspace.session() as session:
            found = [SavedScenarioInfo.of(r) for r in session.scalars(stmt.order_by("name"))]
        op.details["count"] = len(found)
        return found


def show_saved_scenario(
    ctx: ServiceContext, name: str, version: int | None = None
) -> SavedScenarioInfo:
    """One saved scenario: its latest version, or ``version``."""
    with ctx.operation("scenarios.show", Permission.MODEL_READ, target=name):
        return SavedScenarioInfo.of(_version(ctx.workspace, name, version))


def _version(ws: Workspace, name: str, version: int | None) -> SavedScenario:
    if version is None:
        return _latest(ws, name)
    for row in _rows(ws, name):
        if row.version == version:
            return row
    raise SavedScenarioNotFound(
        f"saved scenario {name!r} has no version {version}",
        details={"name": name, "version": version},
    )


def _check_name(name: str, defn: TwinDefinition) -> None:
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid scenario name {name!r}: a letter, then letters, digits, '_' or '-' "
            "(at most 64)",
            details={"name": name},
        )
    if name in scenario_names(defn):
        raise ConfigError(
            f"{name!r} is a scenario of the model itself; choose another name",
            details={"name": name},
        )


def _problem_path(name: str, path: str, message: str) -> tuple[str, str]:
    """A problem of the overridden model, named by the override path that caused it."""
    prefix = f"scenarios.{name}.set."
    if path.startswith(prefix):
        return path[len(prefix) :], message
    if path == f"scenarios.{name}" and ": " in message:
        # a cross-field check (e.g. routing shares summing to 1) names the definition's path
        where, _, text = message.partition(": ")
        return re.sub(r"\[([^\]]*)\]", r".\1", where), text
    return path, message


def check_overrides(defn: TwinDefinition, name: str, overrides: dict[str, Any]) -> None:
    """Raise :class:`DefinitionError` (problems by override path) unless ``overrides`` make a
    valid model of ``defn``."""
    if not overrides:
        raise DefinitionError("a scenario must change at least one parameter")
    if len(overrides) > _MAX_OVERRIDES:
        raise DefinitionError(f"a scenario may change at most {_MAX_OVERRIDES} parameters")
    trial = defn.model_copy(update={"scenarios": {name: Scenario(set=overrides)}})
    try:
        apply_scenario(trial, name)
    except DefinitionError as exc:
        problems = [_problem_path(name, p, m) for p, m in exc.problems]
        raise DefinitionError(
            f"scenario {name!r} does not make a valid model of {defn.name}", problems=problems
        ) from None


def save_scenario(
    ctx: ServiceContext,
    name: str,
    model: str,
    overrides: dict[str, Any],
    *,
    description: str = "",
    note: str = "",
) -> SavedScenarioInfo:
    """Save a new version of scenario ``name`` on ``model`` after validating its overrides."""
    with ctx.operation("scenarios.save", Permission.SCENARIOS_EDIT, target=name) as op:
        defn = load_named_model(ctx.workspace, model)
        _check_name(name, defn)
        rows = _rows(ctx.workspace, name)
        if rows and rows[-1].model != model:
            raise ConfigError(
                f"saved scenario {name!r} belongs to model {rows[-1].model!r}, not {model!r}",
                details={"name": name, "model": rows[-1].model},
            )
        check_overrides(defn, name, overrides)
        row = SavedScenario(
            name=name,
            version=(rows[-1].version + 1) if rows else 1,
            model=model,
            model_name=defn.name,
            model_hash=defn.content_hash(),
            description=description,
            overrides=dict(overrides),
            note=note,
            author=ctx.actor.name,
            created_at=utcnow(),
            archived=False,
        )
        with ctx.workspace.session() as session:
            session.add(row)
        op.details.update(
            model=model, version=row.version, paths=sorted(overrides), model_hash=row.model_hash
        )
        return SavedScenarioInfo.of(row)


def archive_scenario(ctx: ServiceContext, name: str, note: str = "") -> SavedScenarioInfo:
    """Archive ``name``: a new version marks it archived; earlier versions stay readable."""
    with ctx.operation("scenarios.archive", Permission.SCENARIOS_EDIT, target=name) as op:
        last = _latest(ctx.workspace, name)
        if last.archived:
            raise ConfigError(f"saved scenario {name!r} is already archived")
        row = SavedScenario(
            name=name,
            version=last.version + 1,
            model=last.model,
            model_name=last.model_name,
            model_hash=last.model_hash,
            description=last.description,
            overrides=dict(last.overrides),
            note=note,
            author=ctx.actor.name,
            created_at=utcnow(),
            archived=True,
        )
        with ctx.workspace.session() as session:
            session.add(row)
        op.details["version"] = row.version
        return SavedScenarioInfo.of(row)


def _resolve(ws: Workspace, ref: str) -> SavedScenario:
    m = _REF.match(ref.strip())
    if m is None:
        raise ConfigError(f"invalid saved scenario {ref!r}: NAME or NAME@vN")
    version = int(m["version"]) if m["version"] else None
    row = _version(ws, m["name"], version)
    if row.archived:
        raise ConfigError(
            f"saved scenario {m['name']!r} is archived"
            + ("" if version is None else f" at version {version}"),
            details={"name": m["name"]},
        )
    return row


def with_saved_scenarios(
    ctx: ServiceContext, defn: TwinDefinition, refs: Sequence[str]
) -> tuple[TwinDefinition, list[str]]:
    """``defn`` with the saved scenarios ``refs`` (``NAME`` or ``NAME@vN``) added as scenarios
    named ``NAME@vN``, and those names; each is checked against ``defn`` as saving checks it."""
    if not refs:
        return defn, []
    with ctx.operation("scenarios.use", Permission.MODEL_READ, target=",".join(refs)) as op:
        added: dict[str, Scenario] = {}
        for ref in refs:
            row = _resolve(ctx.workspace, ref)
            if row.model_name != defn.name:
                raise ConfigError(
                    f"saved scenario {row.name!r} is for model {row.model_name!r}, "
                    f"not {defn.name!r}",
                    details={"name": row.name, "model": row.model_name},
                )
            key = f"{row.name}@v{row.version}"
            check_overrides(defn, key, row.overrides)
            added[key] = Scenario(description=row.description or row.note, set=dict(row.overrides))
        op.details["scenarios"] = list(added)
        scenarios = {**defn.scenarios, **added}
        return defn.model_copy(update={"scenarios": scenarios}), list(added)
