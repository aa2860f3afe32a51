"""The audit trail's settings (``audit:`` in ``caretwin.yaml``) and what the log needs of its home.

The chain's key and its checkpoints live *outside* the metadata database on purpose: whoever can
write the database but not the key file cannot forge a valid chain, and whoever deletes the
newest rows cannot also take back the checkpoints already written elsewhere (docs/security.md).
"""

from __future__ import annotations

import stat
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Literal, Protocol

import pydantic
from sqlalchemy.orm import Session

__all__ = ["AuditHome", "AuditSettings", "SyslogSettings", "audit_modes"]


class SyslogSettings(pydantic.BaseModel):
    """Forward every audit event (no PHI: ids, action, outcome) as RFC 5424 syslog."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = pydantic.Field(default=514, ge=1, le=65535)
    protocol: Literal["udp", "tcp"] = "udp"
    #: RFC 5424 APP-NAME.
    app_name: str = "caretwin"


class AuditSettings(pydantic.BaseModel):
    """``audit:`` in ``caretwin.yaml``; every field has a safe default."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    #: The HMAC key file (default ``<workspace>/keys/audit.key``, made 0600 on first use).
    #: ``$CARETWIN_AUDIT_KEY`` (64 hex digits), when set, wins over any file.
    key_file: Path | None = None
    #: More folders that receive every checkpoint (another disk, a WORM mount, a share).
    checkpoint_dirs: list[Path] = pydantic.Field(default_factory=list)
    #: A checkpoint is also written every this many events (and at every verify).
    checkpoint_every: int = pydantic.Field(default=100, ge=1)
    #: ... and by the first event once the newest checkpoint is this many minutes old, so a
    #: quiet workspace's checkpoints keep up too (a scheduled ``audit verify`` is the other way).
    checkpoint_minutes: int = pydantic.Field(default=60, ge=1)
    syslog: SyslogSettings | None = None


class AuditHome(Protocol):
    """What the audit log needs of the workspace (which sits above it): a unit of work, the
    folder (for the default key and checkpoint locations) and the settings."""

    @property
    def root(self) -> Path: ...

    @property
    def audit_settings(self) -> AuditSettings: ...

    def session(self) -> AbstractContextManager[Session]:
        """A unit of work: commits when the block succeeds, rolls back when it raises."""
        ...


def audit_modes(root: Path) -> tuple[int, int]:
    """(folder, file) modes of the key and checkpoint files: owner-only; in a shared workspace
    (its folder setgid to a service group, ``caretwin init --shared``) readable by that group,
    whose service accounts append events too (docs/security.md says what that implies)."""
    try:
        shared = bool(root.stat().st_mode & stat.S_ISGID)
    except OSError:
        shared = False
    return (0o2750, 0o640) if shared else (0o700, 0o600)
