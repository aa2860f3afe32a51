"""Sign-in settings of a workspace (``auth:`` in ``caretwin.yaml``): OpenID Connect.

Checked when the workspace loads, so a typo in a claim path or a role name is a
:class:`~caretwin.errors.ConfigError` naming the field (``auth.oidc.role_map.x``) at start-up,
not a refused sign-in at 3 a.m. The client secret itself is never in this file nor in the
model: only where to read it (a file or an environment variable), so printing, logging or
dumping the settings cannot leak it (docs/security.md, "Single sign-on").
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pydantic

from caretwin.access import ROLES
from caretwin.errors import ConfigError

__all__ = [
    "ASYMMETRIC_ALGS",
    "AuthSettings",
    "OidcSettings",
    "ProvisionMode",
    "is_loopback_url",
]

#: The JWS algorithms a token may be signed with: public-key ones only. ``none`` and the HMAC
#: family (``HS*``) are never accepted: with HS256 the "key" is whatever the verifier holds,
#: and a verifier holding the provider's *public* key would accept anyone's forgery.
ASYMMETRIC_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def is_loopback_url(url: str) -> bool:
    return (urlsplit(url).hostname or "") in _LOOPBACK


class ProvisionMode(StrEnum):
    """Who decides an OIDC user's roles."""

    #: The identity provider: roles come from the token's claims through ``role_map``; no row in
    #: the user table is needed, and a *disabled* row of the same name refuses the user.
    MAP = "map"
    #: CareTwin's user table: the user must exist there, enabled, and acts with the table's
    #: roles (``caretwin users set-roles``); the provider only proves who they are.
    REQUIRE_USER = "require_user"


class OidcSettings(pydantic.BaseModel):
    """``auth.oidc`` in ``caretwin.yaml`` (docs/security.md lists every field)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    #: The provider's issuer URL, exactly as its discovery document states it.
    issuer: str
    client_id: str = pydantic.Field(min_length=1)
    #: Where the client secret is: a file (first line) or an environment variable. Neither for
    #: a public client (PKCE only, ``token_endpoint_auth_method: none``).
    client_secret_file: Path | None = None
    client_secret_env: str | None = None
    #: Accepted ``aud`` values of bearer (access) tokens; default: the client id.
    audience: list[str] = pydantic.Field(default_factory=list)
    #: Clients (``azp``) whose access tokens are accepted; empty: any client of the provider.
    authorized_parties: list[str] = pydantic.Field(default_factory=list)
    scopes: list[str] = pydantic.Field(default_factory=lambda: ["openid", "profile", "email"])
    #: The claim naming the CareTwin user; ``sub`` when the token lacks it.
    username_claim: str = "preferred_username"
    name_claim: str = "name"
    #: A dotted path to the role values in the claims (``realm_access.roles``, ``groups``,
    #: ``roles``); a string value counts as one role.
    roles_claim: str | None = None
    #: Claim value -> CareTwin roles (values that are not keys grant nothing).
    role_map: dict[str, list[str]] = pydantic.Field(default_factory=dict)
    #: Roles every signed-in OIDC user gets in ``map`` mode.
    default_roles: list[str] = pydantic.Field(default_factory=list)
    allowed_algs: list[str] = pydantic.Field(default_factory=lambda: ["RS256", "ES256", "PS256"])
    clock_skew_seconds: int = pydantic.Field(default=60, ge=0, le=600)
    #: How long discovery and the key set are trusted before being fetched again.
    jwks_cache_seconds: int = pydantic.Field(default=3600, ge=0)
    #: A token with an unknown key id fetches the key set again at most this often, so a flood
    #: of forged key ids cannot make CareTwin hammer the provider.
    jwks_refetch_seconds: int = pydantic.Field(default=30, ge=0)
    provision: ProvisionMode = ProvisionMode.MAP
    #: ``auto``: ``client_secret_basic`` unless discovery offers only ``client_secret_post``.
    token_endpoint_auth_method: Literal[
        "auto", "client_secret_basic", "client_secret_post", "none"
    ] = "auto"
    #: The callback URL registered at the provider; default: this server's own
    #: ``/signin/oidc/callback`` as the browser reaches it (set it behind a reverse proxy).
    redirect_uri: str | None = None
    #: The provider's name on the sign-in button ("Sign in with Keycloak").
    display_name: str = "single sign-on"
    #: A CA bundle for a provider behind the hospital's own certificate authority.
    ca_file: Path | None = None
    timeout_seconds: float = pydantic.Field(default=10.0, gt=0, le=120)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        if isinstance(data, dict) and "client_secret" in data:
            raise ValueError(
                "client_secret must not be written in caretwin.yaml: put it in a file "
                "(client_secret_file) or an environment variable (client_secret_env)"
            )
        return data

    @pydantic.field_validator("issuer")
    @classmethod
    def _https_issuer(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_url(value)):
            if parts.query or parts.fragment:
                raise ValueError("an issuer has no query or fragment")
            return value
        raise ValueError("must be an https:// URL (http:// only on loopback, for tests)")

    @pydantic.field_validator("allowed_algs")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in ASYMMETRIC_ALGS]
        if bad or not value:
            raise ValueError(
                f"not allowed: {', '.join(bad) or 'an empty list'}; "
                f"choose among {', '.join(sorted(ASYMMETRIC_ALGS))} (never none or HS*)"
            )
        return value

    @pydantic.field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("must include openid")
        return value

    @pydantic.field_validator("role_map")
    @classmethod
    def _known_mapped_roles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for claim_value, roles in value.items():
            _check_roles(roles, f"[{claim_value!r}]")
        return value

    @pydantic.field_validator("default_roles")
    @classmethod
    def _known_default_roles(cls, value: list[str]) -> list[str]:
        _check_roles(value, "")
        return value

    @pydantic.model_validator(mode="after")
    def _one_secret_source(self) -> OidcSettings:
        settings = self
        if settings.client_secret_file is not None and settings.client_secret_env:
            raise ValueError("give client_secret_file or client_secret_env, not both")
        has_secret = settings.client_secret_file is not None or bool(settings.client_secret_env)
        if settings.token_endpoint_auth_method == "none" and has_secret:
            raise ValueError("token_endpoint_auth_method none is for clients without a secret")
        if settings.token_endpoint_auth_method.startswith("client_secret") and not has_secret:
            raise ValueError(f"{settings.token_endpoint_auth_method} needs a client secret")
        return settings

    @property
    def audiences(self) -> list[str]:
        return self.audience or [self.client_id]

    def client_secret(self, root: Path) -> str | None:
        """The secret, read now from its file (relative to the workspace folder ``root``) or
        variable; ``None`` for a public client."""
        if self.client_secret_env:
            secret = os.environ.get(self.client_secret_env, "")
            if not secret:
                raise ConfigError(
                    f"auth.oidc.client_secret_env: ${self.client_secret_env} is not set"
                )
            return secret
        if self.client_secret_file is None:
            return None
        path = root / self.client_secret_file
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(
                f"auth.oidc.client_secret_file: cannot read {path}: {exc.strerror}"
            ) from exc
        if not lines or not lines[0].strip():
            raise ConfigError(f"auth.oidc.client_secret_file: {path} is empty")
        return lines[0].strip()


def _check_roles(roles: list[str], where: str) -> None:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(
            f"unknown role {', '.join(unknown)}{where and ' at ' + where}; "
            f"roles are {', '.join(ROLES)}"
        )


class AuthSettings(pydantic.BaseModel):
    """``auth:`` in ``caretwin.yaml``: how people sign in besides passwords and API tokens."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    oidc: OidcSettings | None = None
