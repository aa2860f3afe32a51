"""A source's configuration, and reading its secrets from where the configuration points.

Why no secret is ever stored: the metadata database, the audit trail and ``sources show`` are
read by more people than should hold a server's credentials. A configuration names an
environment variable or a file; the secret is read at pull time, used, and never logged.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator

from caretwin.errors import ConfigError

__all__ = ["AuthConfig", "AuthMode", "SourceConfig", "read_secret"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class AuthMode(StrEnum):
    none = "none"
    bearer = "bearer"
    smart = "smart"


class AuthConfig(BaseModel):
    """How to authenticate; every secret is a reference (variable name or file path)."""

    mode: AuthMode = AuthMode.none
    token_env: str | None = None
    token_file: str | None = None
    client_id: str | None = None
    private_key_file: str | None = None
    key_id: str | None = None
    alg: str = "RS384"
    scope: str = "system/*.read"
    token_url: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> AuthConfig:
        if self.mode == AuthMode.bearer and not (self.token_env or self.token_file):
            raise ValueError(
                "bearer auth needs where the token is: an environment variable or a token file"
            )
        if self.mode == AuthMode.smart:
            if not self.client_id or not self.private_key_file:
                raise ValueError("smart auth needs a client id and a private key file")
            if self.alg not in ("RS384", "ES384"):
                raise ValueError("smart auth signs with RS384 or ES384")
        return self


class SourceConfig(BaseModel):
    """A FHIR R4 source: base URL, authentication and transfer settings."""

    name: str
    kind: str = "fhir"
    base_url: str
    auth: AuthConfig = Field(default_factory=AuthConfig)
    page_size: int = Field(default=500, ge=1, le=10_000)
    timeout: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=50)
    backoff_base: float = Field(default=0.5, ge=0)
    backoff_cap: float = Field(default=60.0, ge=0)
    max_retry_after: float = Field(default=300.0, ge=0)
    poll_interval: float = Field(default=5.0, ge=0)
    max_poll_seconds: float = Field(default=6 * 3600.0, gt=0)
    #: REST: compare the server's ids with the lake's after each pull, so deletes are found on
    #: servers without ``_history`` (costs one id listing per type)
    reconcile_deletes: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("a source name is letters, digits, '_', '.', '-' (max 100)")
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base URL must start with http:// or https://")
        return value.rstrip("/")


def read_secret(env: str | None, file: str | None, what: str) -> str:
    """The secret held by environment variable ``env`` or file ``file`` (stripped)."""
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{what}: environment variable {env} is not set")
        return value.strip()
    if file:
        try:
            return Path(file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read {file}: {exc.strerror or exc}") from exc
    raise ConfigError(f"{what}: no secret configured")
