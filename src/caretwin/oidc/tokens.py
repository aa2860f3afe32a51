"""JWT validation (RFC 7519, OpenID Connect Core §3.1.3.7) with PyJWT.

Checked, in order: the header parses and names an allowed public-key algorithm (never
``none``, never ``HS*``); the key id is one the provider publishes; the signature; ``iss``
equals the discovery document's issuer; ``aud`` (a string or a list) holds an accepted
audience; ``exp``, ``nbf`` and ``iat`` with the configured clock skew. ID tokens also: ``azp``
is our client when present (and present when there are several audiences) and ``nonce`` is the
one sent. Every refusal is an :class:`~caretwin.errors.InvalidToken` whose ``details.reason``
names the check; the token itself is never put in an error.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import jwt

from caretwin.errors import InvalidToken
from caretwin.oidc.jwks import KeySetCache
from caretwin.workspace.auth import OidcSettings

__all__ = ["TokenKind", "ValidatedToken", "validate_jwt"]


class TokenKind(StrEnum):
    ACCESS = "access"
    ID = "id"


@dataclass(frozen=True)
class ValidatedToken:
    kind: TokenKind
    claims: Mapping[str, object]
    alg: str
    kid: str | None

    @property
    def subject(self) -> str:
        return str(self.claims.get("sub", ""))


def _refuse(reason: str, message: str, **details: object) -> InvalidToken:
    return InvalidToken(f"token refused: {message}", details={"reason": reason, **details})


# PyJWT's exceptions, most specific first, as (reason, wording).
_REASONS: list[tuple[type[jwt.PyJWTError], str, str]] = [
    (jwt.ExpiredSignatureError, "expired", "it has expired"),
    (jwt.ImmatureSignatureError, "not yet valid", "it is not valid yet (nbf or iat ahead)"),
    (jwt.InvalidAudienceError, "wrong audience", "it is meant for another audience"),
    (jwt.InvalidIssuerError, "wrong issuer", "it was issued by another issuer"),
    (jwt.InvalidSignatureError, "bad signature", "its signature does not verify"),
    (jwt.MissingRequiredClaimError, "missing claim", "a required claim is missing"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed", "its algorithm is not allowed"),
    (jwt.DecodeError, "malformed", "it is not a well-formed JWT"),
]


def _header(token: str) -> dict[str, object]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _refuse("malformed", "it is not a well-formed JWT") from exc
    return dict(header)


def validate_jwt(
    token: str,
    *,
    kind: TokenKind,
    keys: KeySetCache,
    issuer: str,
    settings: OidcSettings,
    nonce: str | None = None,
) -> ValidatedToken:
    header = _header(token)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in settings.allowed_algs:
        # Checked before any key is looked up: "none" and HS256 never reach the verifier.
        raise _refuse("algorithm not allowed", f"algorithm {alg!r} is not allowed", alg=alg)
    if "crit" in header:
        # RFC 7515 §4.1.11: extensions a verifier does not understand must be refused.
        raise _refuse("malformed", "it requires header extensions CareTwin does not support")
    # ``jku``, ``x5u`` and ``jwk`` headers are ignored: keys come from the provider's key set
    # only, never from a URL or key the token names itself.
    kid = header.get("kid")
    kid = kid if isinstance(kid, str) else None
    key = keys.key_for(kid)
    if not key.fits(alg):
        raise _refuse("algorithm not allowed", f"algorithm {alg} does not fit the key", alg=alg)
    audiences = [settings.client_id] if kind is TokenKind.ID else settings.audiences
    try:
        claims = jwt.decode(
            token,
            key.jwk.key,
            algorithms=[alg],
            audience=audiences,
            issuer=issuer,
            leeway=settings.clock_skew_seconds,
            options={"require": ["exp", "iat", "iss", "sub", "aud"], "verify_signature": True},
        )
    except (TypeError, ValueError) as exc:  # a key PyJWT cannot use for this algorithm
        raise _refuse("algorithm not allowed", "the key does not fit its algorithm") from exc
    except jwt.PyJWTError as exc:
        for cls, reason, wording in _REASONS:
            if isinstance(exc, cls):
                raise _refuse(reason, wording) from exc
        raise _refuse("invalid", "it does not validate") from exc
    _check_parties(claims, kind, settings)
    if kind is TokenKind.ID:
        sent = claims.get("nonce")
        if nonce is None or not isinstance(sent, str) or not hmac.compare_digest(sent, nonce):
            raise _refuse("nonce mismatch", "its nonce is not the one this sign-in sent")
    return ValidatedToken(kind=kind, claims=claims, alg=alg, kid=kid)


def _check_parties(claims: Mapping[str, object], kind: TokenKind, settings: OidcSettings) -> None:
    aud = claims.get("aud")
    several = isinstance(aud, list) and len(aud) > 1
    azp = claims.get("azp")
    if kind is TokenKind.ID:
        # Core §3.1.3.7 (4, 5): with several audiences azp must be there, and be us.
        if (several and azp is None) or (azp is not None and azp != settings.client_id):
            raise _refuse("wrong authorized party", "it was issued to another client")
    elif settings.authorized_parties:
        party = azp if azp is not None else claims.get("client_id")
        if party not in settings.authorized_parties:
            raise _refuse("wrong authorized party", "it was issued to a client not allowed")
