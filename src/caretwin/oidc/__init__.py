"""OpenID Connect relying party: discovery, key sets, token validation, the code flow.

The protocol only, to the standards (OpenID Connect Core 1.0 and Discovery 1.0, RFC 7636
PKCE, RFC 6749/6750, RFC 7517/7519): no user table, no audit, no sessions; those are the
service layer's (:mod:`caretwin.services.oidc`). Network and token failures leave this package
as CareTwin errors: :class:`~caretwin.errors.InvalidToken` for a token refused,
:class:`~caretwin.errors.IdentityProviderError` for a provider that cannot be used.
"""

from __future__ import annotations

from caretwin.oidc.claims import claim_at, display_name, mapped_roles, username
from caretwin.oidc.client import OidcClient
from caretwin.oidc.discovery import ProviderMetadata
from caretwin.oidc.flow import AuthorizationRequest, TokenResponse, pkce_challenge
from caretwin.oidc.jwks import KeySetCache
from caretwin.oidc.tokens import TokenKind, ValidatedToken

__all__ = [
    "AuthorizationRequest",
    "KeySetCache",
    "OidcClient",
    "ProviderMetadata",
    "TokenKind",
    "TokenResponse",
    "ValidatedToken",
    "claim_at",
    "display_name",
    "mapped_roles",
    "pkce_challenge",
    "username",
]
