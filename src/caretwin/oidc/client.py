"""One relying party of one provider: cached metadata and keys, tokens checked, codes redeemed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from caretwin.errors import IdentityProviderError
from caretwin.oidc.discovery import ProviderMetadata, fetch_metadata
from caretwin.oidc.flow import (
    AuthorizationRequest,
    TokenResponse,
    authorization_request,
    exchange_code,
)
from caretwin.oidc.http import make_http_client
from caretwin.oidc.jwks import KeySetCache
from caretwin.oidc.tokens import TokenKind, ValidatedToken, validate_jwt
from caretwin.workspace.auth import OidcSettings

__all__ = ["OidcClient"]

#: After the provider failed, requests within this many seconds fail at once with the same
#: error instead of each waiting for the provider's timeout (and piling onto it).
RETRY_AFTER_SECONDS = 5.0


class OidcClient:
    """Thread-safe; keep one per provider for the process so its caches pay off."""

    def __init__(
        self,
        settings: OidcSettings,
        root: Path,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._root = root  # client_secret_file is relative to the workspace folder
        self._http = http or make_http_client(settings)
        self._clock = clock
        self._lock = threading.Lock()
        self._meta: ProviderMetadata | None = None
        self._meta_at = 0.0
        self._keys: KeySetCache | None = None
        self._failure: tuple[float, IdentityProviderError] | None = None

    def close(self) -> None:
        self._http.close()

    def metadata(self) -> ProviderMetadata:
        with self._lock:
            now = self._clock()
            if self._meta is None or now - self._meta_at >= self.settings.jwks_cache_seconds:
                if self._failure is not None and now - self._failure[0] < RETRY_AFTER_SECONDS:
                    failed = self._failure[1]
                    raise IdentityProviderError(failed.message, details=failed.details)
                try:
                    meta = fetch_metadata(self._http, self.settings.issuer)
                except IdentityProviderError as exc:
                    self._failure = (now, exc)
                    raise
                self._failure = None
                if self._keys is None or self._keys.jwks_uri != meta.jwks_uri:
                    self._keys = KeySetCache(
                        self._http,
                        meta.jwks_uri,
                        cache_seconds=self.settings.jwks_cache_seconds,
                        refetch_seconds=self.settings.jwks_refetch_seconds,
                        clock=self._clock,
                    )
                self._meta, self._meta_at = meta, now
            return self._meta

    @property
    def keys(self) -> KeySetCache:
        self.metadata()
        assert self._keys is not None
        return self._keys

    def validate(self, token: str, kind: TokenKind, nonce: str | None = None) -> ValidatedToken:
        meta = self.metadata()
        return validate_jwt(
            token,
            kind=kind,
            keys=self.keys,
            issuer=meta.issuer,
            settings=self.settings,
            nonce=nonce,
        )

    def authorization_request(self, redirect_uri: str) -> AuthorizationRequest:
        return authorization_request(self.metadata(), self.settings, redirect_uri)

    def redeem(self, code: str, request: AuthorizationRequest) -> TokenResponse:
        """Exchange ``code`` for tokens (PKCE verifier and redirect URI of ``request``)."""
        return exchange_code(
            self._http,
            self.metadata(),
            self.settings,
            self.settings.client_secret(self._root),
            code=code,
            redirect_uri=request.redirect_uri,
            code_verifier=request.code_verifier,
        )
