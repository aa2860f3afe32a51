"""CareTwin: governed digital twins of hospital operations.

The curated public API. Everything here is stable across minor versions; anything reached by a
deeper import path is internal and may change.
"""

from __future__ import annotations

import typing as _t

from caretwin.access import Actor, Permission
from caretwin.errors import (
    AccessDenied,
    CalibrationError,
    CareTwinError,
    ConfigError,
    DataError,
    DefinitionError,
    LakeEmpty,
    RunNotFound,
    ScenarioNotFound,
    SimulationError,
    StoreError,
    WorkspaceNotFound,
)
from caretwin.lazy import load_lazy as _load_lazy
from caretwin.version import __version__

if _t.TYPE_CHECKING:
    from caretwin.experiment.comparison import Comparisons, compare
    from caretwin.lake import Lake
    from caretwin.model import (
        TwinDefinition,
        apply_scenario,
        dump_definition,
        example_path,
        load_definition,
        parse_definition,
    )
    from caretwin.services.context import ServiceContext
    from caretwin.sim.result import KpiSummary, ReplicationResult, SimulationResult
    from caretwin.sim.runner import simulate
    from caretwin.workspace import Workspace

# Imported on first use (PEP 562), so ``import caretwin`` (and with it every ``caretwin`` command,
# even ``--help``) does not pay for pydantic models, DuckDB, pandas or SQLAlchemy up front.
_LAZY = {
    "Lake": "caretwin.lake",
    "TwinDefinition": "caretwin.model",
    "apply_scenario": "caretwin.model",
    "dump_definition": "caretwin.model",
    "example_path": "caretwin.model",
    "load_definition": "caretwin.model",
    "parse_definition": "caretwin.model",
    "ServiceContext": "caretwin.services.context",
    "Comparisons": "caretwin.experiment.comparison",
    "compare": "caretwin.experiment.comparison",
    "KpiSummary": "caretwin.sim.result",
    "ReplicationResult": "caretwin.sim.result",
    "SimulationResult": "caretwin.sim.result",
    "simulate": "caretwin.sim.runner",
    "Workspace": "caretwin.workspace",
}


def __getattr__(name: str) -> _t.Any:
    return _load_lazy(__name__, _LAZY, globals(), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AccessDenied",
    "Actor",
    "CalibrationError",
    "CareTwinError",
    "Comparisons",
    "ConfigError",
    "DataError",
    "DefinitionError",
    "KpiSummary",
    "Lake",
    "LakeEmpty",
    "Permission",
    "ReplicationResult",
    "RunNotFound",
    "ScenarioNotFound",
    "ServiceContext",
    "SimulationError",
    "SimulationResult",
    "StoreError",
    "TwinDefinition",
    "Workspace",
    "WorkspaceNotFound",
    "__version__",
    "apply_scenario",
    "compare",
    "dump_definition",
    "example_path",
    "load_definition",
    "parse_definition",
    "simulate",
]
