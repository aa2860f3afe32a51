"""CareTwin: governed digital twins of hospital operations.

The curated public API. Everything here is stable across minor versions; anything reached by a
deeper import path is internal and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

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

__all__ = [
    "AccessDenied",
    "Actor",
    "CalibrationError",
    "CareTwinError",
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
    "dump_definition",
    "example_path",
    "load_definition",
    "parse_definition",
    "simulate",
]
