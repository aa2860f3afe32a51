"""The workspace configuration file, ``caretwin.yaml``.

Kept deliberately small: a workspace is a folder, and everything that can be derived from the
folder (lake and run locations, the SQLite path) is derived rather than configured, so moving
or copying a workspace folder keeps it working.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
import yaml

from caretwin.audit.settings import AuditSettings
from caretwin.errors import ConfigError
from caretwin.workspace.auth import AuthSettings
from caretwin.workspace.private import PRIVATE_FILE, holds_password

__all__ = [
    "CONFIG_FILE",
    "SecurityPolicy",
    "WorkspaceConfig",
    "load_config",
    "normalize_database_url",
    "save_config",
]

CONFIG_FILE = "caretwin.yaml"


class SecurityPolicy(pydantic.BaseModel):
    """Sign-in policy of a workspace (``security:`` in ``caretwin.yaml``; docs/security.md)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    #: Failed password attempts in a row that lock an account ...
    lockout_after: int = pydantic.Field(default=5, ge=1)
    #: ... for this long (a success before then resets the count).
    lockout_minutes: int = pydantic.Field(default=15, ge=1)
    #: A web or API session idle this long is logged off (the server asks ``session_expired``).
    session_idle_minutes: int = pydantic.Field(default=15, ge=1)
    #: A web session ends this long after sign-in, however active (absolute expiry).
    session_max_hours: int = pydantic.Field(default=12, ge=1)
    #: Failed web sign-ins (per user name, and per client address) before the throttle answers
    #: 429 for ``signin_throttle_seconds``.
    signin_throttle_after: int = pydantic.Field(default=5, ge=1)
    signin_throttle_seconds: int = pydantic.Field(default=60, ge=1)
    #: The longest a break-glass grant may last.
    break_glass_max_minutes: int = pydantic.Field(default=240, ge=1)


class WorkspaceConfig(pydantic.BaseModel):
    """What ``caretwin.yaml`` holds.

    ``database_url`` of ``None`` means the SQLite file ``<root>/caretwin.db``; a PostgreSQL URL
    may reference environment variables (``${PGPASSWORD}``) so secrets need not be written here.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    name: str
    database_url: str | None = None
    timezone: str = "UTC"
    #: A shared workspace maps OS users through its user table and is group-readable by
    #: ``group`` (``caretwin init --shared``); otherwise the OS user who made it is its admin.
    shared: bool = False
    group: str | None = None
    security: SecurityPolicy = SecurityPolicy()
    audit: AuditSettings = AuditSettings()  # key file, checkpoint folders, syslog (security.md)
    auth: AuthSettings = AuthSettings()  # OpenID Connect single sign-on (security.md)

    @pydantic.field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @pydantic.field_validator("name")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


def normalize_database_url(url: str) -> str:
    """Expand ``${VARS}`` and default bare PostgreSQL URLs to the psycopg 3 driver.

    ``postgresql://`` alone makes SQLAlchemy look for psycopg2, which CareTwin does not depend
    on; users should not have to know that.
    """
    url = os.path.expandvars(url.strip())
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_config(root: Path) -> WorkspaceConfig:
    path = root / CONFIG_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a mapping of settings")
    try:
        return WorkspaceConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid {path}: {problems}") from exc


def save_config(root: Path, config: WorkspaceConfig) -> Path:
    """Write ``caretwin.yaml``; owner-only when its ``database_url`` spells out a password."""
    path = root / CONFIG_FILE
    header = (
        "# CareTwin workspace configuration. database_url: null means ./caretwin.db (SQLite).\n"
    )
    data = config.model_dump(mode="json")
    defaults = WorkspaceConfig(name=config.name).model_dump(mode="json")
    for key in (
        "shared",
        "group",
        "security",
        "audit",
        "auth",
    ):  # a single-user workspace's file stays short
        if data[key] == defaults[key]:
            data.pop(key)
    body = yaml.safe_dump(data, sort_keys=False)
    if holds_password(config.database_url):
        # created 0600 (never briefly readable), and tightened if it existed
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.chmod(path, PRIVATE_FILE)  # before the secret is written (os.fchmod: POSIX only)
            fh.write(header + body)
    else:
        path.write_text(header + body, encoding="utf-8")
    return path
