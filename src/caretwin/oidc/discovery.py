"""OpenID Connect Discovery 1.0: the provider's metadata, with the issuer checked (§4.3)."""

from __future__ import annotations

import httpx
import pydantic

from caretwin.errors import IdentityProviderError
from caretwin.oidc.http import check_endpoint, get_json

__all__ = ["ProviderMetadata", "fetch_metadata", "well_known_url"]


class ProviderMetadata(pydantic.BaseModel):
    """What CareTwin uses of ``/.well-known/openid-configuration`` (other fields ignored)."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    id_token_signing_alg_values_supported: list[str] = pydantic.Field(default_factory=list)
    # Discovery 1.0 §3: when omitted, the default is client_secret_basic.
    token_endpoint_auth_methods_supported: list[str] = pydantic.Field(
        default_factory=lambda: ["client_secret_basic"]
    )
    code_challenge_methods_supported: list[str] | None = None
    response_types_supported: list[str] = pydantic.Field(default_factory=list)


def well_known_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def fetch_metadata(client: httpx.Client, issuer: str) -> ProviderMetadata:
    """The provider's metadata; refused unless its ``issuer`` is the configured one.

    Discovery §4.3 asks for an exact match; a trailing slash typed in ``caretwin.yaml`` is
    forgiven, and from then on the document's own spelling is what tokens' ``iss`` must equal.
    """
    url = well_known_url(issuer)
    raw = get_json(client, url, "discovery document")
    try:
        meta = ProviderMetadata.model_validate(raw)
    except pydantic.ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise IdentityProviderError(
            f"the discovery document at {url} lacks or mistypes: {fields}", details={"url": url}
        ) from exc
    if meta.issuer.rstrip("/") != issuer.rstrip("/"):
        raise IdentityProviderError(
            f"the discovery document at {url} names the issuer {meta.issuer!r}, "
            f"not the configured {issuer!r}",
            details={"configured": issuer, "stated": meta.issuer},
        )
    for what, endpoint in (
        ("authorization endpoint", meta.authorization_endpoint),
        ("token endpoint", meta.token_endpoint),
        ("key set URL", meta.jwks_uri),
    ):
        check_endpoint(endpoint, issuer, what)
    if "code" not in meta.response_types_supported and meta.response_types_supported:
        raise IdentityProviderError("the provider does not offer the authorization-code flow")
    return meta
