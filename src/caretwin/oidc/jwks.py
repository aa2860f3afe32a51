"""The provider's signing keys (RFC 7517 JWK Set), cached, fetched again on an unknown key id.

Providers rotate keys by publishing the new key, signing with it, and later dropping the old
one. A token naming a key id the cached set lacks is the sign of a rotation, so the set is
fetched again, but such forced fetches happen at most every ``refetch_seconds``: tokens with
made-up key ids must not turn CareTwin into a stream of requests at the provider.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt

from caretwin.errors import IdentityProviderError, InvalidToken
from caretwin.oidc.http import get_json

__all__ = ["KeySetCache", "SigningKey"]

# The key type each algorithm family needs (RFC 7518 §3.1, RFC 8037).
_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


@dataclass(frozen=True)
class SigningKey:
    jwk: jwt.PyJWK
    kty: str
    #: The ``alg`` the key set pins the key to, if any.
    alg: str | None

    def fits(self, alg: str) -> bool:
        """Whether a token signed with ``alg`` may be checked with this key: the key's own
        ``alg`` if it names one, else the key type of the algorithm's family."""
        if self.alg is not None:
            return self.alg == alg
        return _KTY.get(alg[:2]) == self.kty


class KeySetCache:
    """Signing keys by key id, from ``jwks_uri``; thread-safe."""

    def __init__(
        self,
        client: httpx.Client,
        jwks_uri: str,
        *,
        cache_seconds: float,
        refetch_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.jwks_uri = jwks_uri
        self._cache_seconds = cache_seconds
        self._refetch_seconds = refetch_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str | None, SigningKey] = {}
        self._fetched_at: float | None = None
        self._forced_at: float | None = None  # the last fetch an unknown key id caused
        #: How many times the set was fetched (a figure for tests and ``oidc-check``).
        self.fetches = 0

    def _fetch(self) -> None:
        raw = get_json(self._client, self.jwks_uri, "key set")
        found = raw.get("keys")
        if not isinstance(found, list):
            raise IdentityProviderError(f"the key set at {self.jwks_uri} has no keys list")
        keys: dict[str | None, SigningKey] = {}
        for entry in found:
            # Encryption keys and keys of algorithms PyJWT cannot use are skipped, not fatal:
            # providers publish both kinds in one set.
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue
            kid, alg = entry.get("kid"), entry.get("alg")
            keys[kid if isinstance(kid, str) else None] = SigningKey(
                jwk=key, kty=str(entry.get("kty", "")), alg=alg if isinstance(alg, str) else None
            )
        if not keys:
            raise IdentityProviderError(f"the key set at {self.jwks_uri} holds no signing key")
        self._keys = keys
        self._fetched_at = self._clock()
        self.fetches += 1

    def key_ids(self) -> list[str]:
        with self._lock:
            if self._fetched_at is None:
                self._fetch()
            return sorted(k for k in self._keys if k is not None)

    def key_for(self, kid: str | None) -> SigningKey:
        """The key a token's header names; raises :class:`InvalidToken` when still unknown."""
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self._cache_seconds
            if stale:
                self._fetch()
            key = self._lookup(kid)
            forced_ok = self._forced_at is None or now - self._forced_at >= self._refetch_seconds
            if key is None and not stale and forced_ok:
                self._forced_at = now
                self._fetch()  # the provider may have rotated its keys
                key = self._lookup(kid)
            if key is None:
                raise InvalidToken(
                    "token refused: signed with a key the provider does not publish",
                    details={"reason": "unknown key", "kid": kid},
                )
            return key

    def _lookup(self, kid: str | None) -> SigningKey | None:
        if kid is not None:
            return self._keys.get(kid)
        # A token without ``kid`` is usable only when the set leaves no choice.
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None
