"""The authorization-code flow (OpenID Connect Core §3.1) with state, nonce and PKCE S256.

:func:`authorization_request` makes the redirect to the provider and the three secrets the
callback is checked against (kept server-side by the caller, never in the URL but for what
the provider must see): ``state`` (binds the callback to this request, against login CSRF),
``nonce`` (binds the ID token to it, against replay) and the PKCE ``code_verifier`` (RFC 7636:
only whoever started the flow can redeem the code). :func:`exchange_code` redeems the code at
the token endpoint with the client authentication the provider offers.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import pydantic

from caretwin.errors import ConfigError, IdentityProviderError, InvalidToken
from caretwin.oidc.discovery import ProviderMetadata
from caretwin.oidc.http import post_form
from caretwin.workspace.auth import OidcSettings

__all__ = [
    "AuthorizationRequest",
    "TokenResponse",
    "authorization_request",
    "client_auth_method",
    "exchange_code",
    "pkce_challenge",
]


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str

    def __repr__(self) -> str:  # the secrets stay out of logs and tracebacks
        return f"AuthorizationRequest(redirect_uri={self.redirect_uri!r})"


def authorization_request(
    meta: ProviderMetadata, settings: OidcSettings, redirect_uri: str
) -> AuthorizationRequest:
    methods = meta.code_challenge_methods_supported
    if methods is not None and "S256" not in methods:
        raise IdentityProviderError("the provider does not support PKCE with S256")
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43-128
    params = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(settings.scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    parts = urlsplit(meta.authorization_endpoint)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return AuthorizationRequest(url, state, nonce, verifier, redirect_uri)


class TokenResponse(pydantic.BaseModel):
    """RFC 6749 §5.1 plus the ID token of OpenID Connect."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)

    access_token: str = pydantic.Field(repr=False)
    token_type: str
    id_token: str = pydantic.Field(repr=False)
    expires_in: int | None = None
    scope: str | None = None


def client_auth_method(meta: ProviderMetadata, settings: OidcSettings, has_secret: bool) -> str:
    """The token endpoint's client authentication: configured, or what discovery offers."""
    if settings.token_endpoint_auth_method != "auto":
        return settings.token_endpoint_auth_method
    if not has_secret:
        return "none"
    offered = meta.token_endpoint_auth_methods_supported
    for method in ("client_secret_basic", "client_secret_post"):
        if method in offered:
            return method
    raise ConfigError(
        "auth.oidc: the provider offers neither client_secret_basic nor client_secret_post "
        f"(it offers {', '.join(offered) or 'nothing'})"
    )


def exchange_code(
    client: httpx.Client,
    meta: ProviderMetadata,
    settings: OidcSettings,
    secret: str | None,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> TokenResponse:
    method = client_auth_method(meta, settings, secret is not None)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    auth: tuple[str, str] | None = None
    if method == "client_secret_basic" and secret is not None:
        # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding; httpx
        # does not, so a secret with ':' or '%' would otherwise be mangled.
        auth = (_form_encode(settings.client_id), _form_encode(secret))
    else:
        form["client_id"] = settings.client_id
        if method == "client_secret_post" and secret is not None:
            form["client_secret"] = secret
    status, body = post_form(client, meta.token_endpoint, form, auth, "token endpoint")
    if status != 200:
        error = body.get("error")
        reason = error if isinstance(error, str) else f"HTTP {status}"
        if reason == "invalid_client":
            raise IdentityProviderError(
                "the provider refused CareTwin's client credentials (check client_id and "
                "the client secret)",
                details={"error": reason},
            )
        raise InvalidToken(
            f"sign-in refused: the provider would not redeem the code ({reason})",
            details={"reason": "code refused", "error": reason},
        )
    try:
        tokens = TokenResponse.model_validate(body)
    except pydantic.ValidationError as exc:
        raise IdentityProviderError(
            "the token endpoint's answer lacks an access token or ID token"
        ) from exc
    if tokens.token_type.lower() != "bearer":
        raise IdentityProviderError(f"the token endpoint issued a {tokens.token_type} token")
    return tokens


def _form_encode(value: str) -> str:
    return urlencode({"": value})[1:]
