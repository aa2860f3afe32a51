"""CareTwin's one exception tree.

Every error CareTwin raises on purpose derives from :class:`CareTwinError`; foreign exceptions
(pydantic, SQLAlchemy, DuckDB, OS errors) are translated into it at the boundary where they
happen, so callers catch one family and the CLI and API map it to one exit code or one JSON
error envelope::

    CareTwinError                       exit 1
    ├── ConfigError                     exit 2   bad workspace or configuration
    │   ├── WorkspaceNotFound                    no workspace at the given path
    │   ├── PluginMismatch                       a run's plugins are missing or at other versions
    │   └── IdentityProviderError                the OIDC provider is unreachable or answers wrong
    ├── DefinitionError                 exit 3   invalid twin definition (names field paths)
    │   └── ScenarioNotFound                     unknown scenario name
    ├── DataError                       exit 4   input data that cannot be used at all
    │   └── LakeEmpty                            an operation needs data the lake lacks
    ├── CalibrationError                exit 5   fitting failed or data too thin to fit
    ├── SimulationError                 exit 6   the engine could not run the model
    ├── StoreError                      exit 7   metadata database or workspace storage failure
    │   ├── RunNotFound                          no run with that id
    │   ├── JobNotFound                          no background job with that id
    │   ├── ScheduleNotFound                     no schedule with that name
    │   ├── SavedScenarioNotFound                no saved scenario (or version) by that name
    │   └── DiskFull                             no space left where the workspace writes
    ├── AccessDenied                    exit 8   actor lacks the permission
    │   └── NotAuthenticated                     credentials missing or refused (API 401)
    │       └── InvalidToken                     a bearer token refused (expired, forged, ...)
    ├── Cancelled                       exit 10  a job's cancel request stopped the work
    └── AuditTampered                   exit 9   the audit chain or its checkpoints fail to verify
"""

from __future__ import annotations

from typing import Any


class CareTwinError(Exception):
    """Base of every error CareTwin raises on purpose."""

    exit_code = 1
    code = "caretwin_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def envelope(self) -> dict[str, Any]:
        """The one JSON error shape used by the CLI's ``--format json`` and the API."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ConfigError(CareTwinError):
    exit_code = 2
    code = "config_error"


class WorkspaceNotFound(ConfigError):
    code = "workspace_not_found"


class PluginMismatch(ConfigError):
    """The plugins a run recorded are not installed here at the same versions."""

    code = "plugin_mismatch"


class IdentityProviderError(ConfigError):
    """The OpenID Connect provider cannot be reached, or its discovery document, key set or
    token endpoint answer something unusable (a wrong issuer, no keys): the deployment's
    problem, not the caller's credentials."""

    code = "identity_provider_error"


class DefinitionError(CareTwinError):
    """An invalid twin definition. ``problems`` lists ``(field path, message)`` pairs."""

    exit_code = 3
    code = "definition_error"

    def __init__(self, message: str, *, problems: list[tuple[str, str]] | None = None) -> None:
        self.problems: list[tuple[str, str]] = problems or []
        super().__init__(
            message,
            details={"problems": [{"path": p, "message": m} for p, m in self.problems]},
        )

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message] + [f"  {p}: {m}" for p, m in self.problems]
        return "\n".join(lines)


class ScenarioNotFound(DefinitionError):
    code = "scenario_not_found"


class DataError(CareTwinError):
    exit_code = 4
    code = "data_error"


class LakeEmpty(DataError):
    code = "lake_empty"


class CalibrationError(CareTwinError):
    exit_code = 5
    code = "calibration_error"


class SimulationError(CareTwinError):
    exit_code = 6
    code = "simulation_error"


class StoreError(CareTwinError):
    exit_code = 7
    code = "store_error"


class RunNotFound(StoreError):
    code = "run_not_found"


class JobNotFound(StoreError):
    code = "job_not_found"


class ScheduleNotFound(StoreError):
    code = "schedule_not_found"


class EvidenceNotFound(StoreError):
    code = "evidence_not_found"


class SavedScenarioNotFound(StoreError):
    code = "saved_scenario_not_found"


class DiskFull(StoreError):
    """The disk (or quota) holding the workspace is full; the failed step was undone."""

    code = "disk_full"


class AccessDenied(CareTwinError):
    exit_code = 8
    code = "access_denied"


class NotAuthenticated(AccessDenied):
    """Credentials missing, wrong, expired, revoked or locked out (the API's 401)."""

    code = "not_authenticated"


class InvalidToken(NotAuthenticated):
    """A bearer token was sent and refused: unknown, expired, revoked, wrongly signed or for
    another audience (RFC 6750 ``error="invalid_token"``). ``details.reason`` says which."""

    code = "invalid_token"


class AuditTampered(CareTwinError):
    """``audit verify`` found an event edited, deleted, inserted or reordered, the newest ones
    deleted (shorter than a checkpoint), or a forged checkpoint; ``details`` names the event."""

    exit_code = 9
    code = "audit_tampered"


class Cancelled(CareTwinError):
    """Work stopped at a safe point because its job was cancelled: raised from a job's progress
    callback, it unwinds the operation like any error (a half run is discarded, an ingest's
    staging dropped before the lake commit), and the worker records the job ``cancelled``."""

    exit_code = 10
    code = "cancelled"
