"""Authentication to a FHIR source: none, a static bearer token, or SMART Backend Services.

SMART Backend Services (the client-credentials profile of SMART App Launch 2.x): the client
finds the token endpoint in ``{base}/.well-known/smart-configuration``, signs a short-lived JWT
assertion (``iss`` = ``sub`` = client id, ``aud`` = token URL, unique ``jti``) with its private key
(RS384 or ES384) and trades it for an access token with ``grant_type=client_credentials``. The
token is cached until shortly before it expires, process-wide, so back-to-back pulls (and every
page of one pull) reuse it. Secrets are read from where the configuration points, never logged.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import TYPE_CHECKING

import jwt

from caretwin.connectors.config import AuthConfig, AuthMode, read_secret
from caretwin.errors import ConfigError

if TYPE_CHECKING:
    from caretwin.connectors.http import FhirHttp

__all__ = ["ASSERTION_TYPE", "BearerAuth", "SmartBackendAuth", "make_auth"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Renew this many seconds before expiry so a token never expires mid-request.
EXPIRY_MARGIN = 30.0
#: SMART caps assertion lifetime at five minutes.
ASSERTION_LIFETIME = 300

_cache: dict[tuple[str, str, str], tuple[str, float]] = {}
_cache_lock = threading.Lock()


class BearerAuth:
    """A static token read from an environment variable or a file at first use."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._token: str | None = None

    def headers(self, http: FhirHttp) -> dict[str, str]:
        if self._token is None:
            self._token = read_secret(self.config.token_env, self.config.token_file, "bearer token")
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        self._token = None  # re-read: the operator may have rotated the file


class SmartBackendAuth:
    """Client-credentials grant with a signed JWT assertion; the token is cached until expiry."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.token_requests = 0

    def _token_url(self, http: FhirHttp) -> str:
        if self.config.token_url:
            return self.config.token_url
        doc = http.get_json(http.url(".well-known/smart-configuration"), use_auth=False)
        url = doc.get("token_endpoint")
        if not isinstance(url, str) or not url:
            raise ConfigError(f"{http.config.base_url}: smart-configuration has no token_endpoint")
        self.config = self.config.model_copy(update={"token_url": url})
        return url

    def _key(self, http: FhirHttp) -> tuple[str, str, str]:
        return (http.config.base_url, self.config.client_id or "", self.config.scope)

    def headers(self, http: FhirHttp) -> dict[str, str]:
        key = self._key(http)
        with _cache_lock:
            cached = _cache.get(key)
        if cached is None or cached[1] - EXPIRY_MARGIN <= time.time():
            cached = self._fetch(http)
            with _cache_lock:
                _cache[key] = cached
        return {"Authorization": f"Bearer {cached[0]}"}

    def invalidate(self) -> None:
        with _cache_lock:
            for key in [k for k in _cache if k[1] == (self.config.client_id or "")]:
                del _cache[key]

    def assertion(self, token_url: str) -> str:
        pem = read_secret(None, self.config.private_key_file, "SMART private key")
        now = int(time.time())
        claims = {
            "iss": self.config.client_id,
            "sub": self.config.client_id,
            "aud": token_url,
            "exp": now + ASSERTION_LIFETIME,
            "iat": now,
            "jti": secrets.token_hex(16),
        }
        headers = {"typ": "JWT", **({"kid": self.config.key_id} if self.config.key_id else {})}
        try:
            return jwt.encode(claims, pem, algorithm=self.config.alg, headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError(
                f"cannot sign the SMART assertion with {self.config.private_key_file} "
                f"({self.config.alg}): {exc.__class__.__name__}"
            ) from exc

    def _fetch(self, http: FhirHttp) -> tuple[str, float]:
        token_url = self._token_url(http)
        form = {
            "grant_type": "client_credentials",
            "scope": self.config.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(token_url),
        }
        self.token_requests += 1
        resp = http.request(
            "POST", token_url, data=form, use_auth=False, headers={"Accept": "application/json"}
        )
        try:
            body = resp.json()
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{token_url}: token response without access_token") from exc
        return token, time.time() + expires_in


def make_auth(config: AuthConfig) -> BearerAuth | SmartBackendAuth | None:
    """The authenticator for ``config`` (``None`` for no authentication)."""
    if config.mode == AuthMode.bearer:
        return BearerAuth(config)
    if config.mode == AuthMode.smart:
        return SmartBackendAuth(config)
    return None
