"""OpenID Connect sign-in: who a provider's token stands for, with which roles, audited.

The protocol is :mod:`caretwin.oidc`; this module decides the actor and audits:

* **Bearer tokens** (the API): :func:`authenticate_bearer` sends CareTwin's own ``ct_`` tokens
  to :func:`~caretwin.services.identity.authenticate_token` and any other token, when the
  workspace configures ``auth.oidc``, to :func:`authenticate_oidc_token` (a JWT access token
  checked against the provider's keys).
* **Web sign-on**: :func:`begin_oidc_sign_in` keeps the flow's state, nonce and PKCE verifier
  server-side in a :class:`PendingSignIns` (single use, ten minutes, bound to the browser by a
  cookie value) and :func:`finish_oidc_sign_in` redeems the code and checks the ID token.
* **Provisioning** (``auth.oidc.provision``): ``map``, the provider's claims give the roles
  through ``role_map`` and a *disabled* user of the same name is refused; ``require_user``, the
  user must be an enabled row of the user table and acts with the table's roles.

Refusals are audited as ``auth.oidc`` ``denied`` with the reason, the issuer and the subject
when known; a success as ``ok`` (a bearer token the first time this process sees it; every
request is audited anyway as ``api.request``). Tokens, codes and secrets never are.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pydantic

from caretwin.access import Actor, Permission
from caretwin.audit import AuditLog
from caretwin.errors import (
    AccessDenied,
    CareTwinError,
    ConfigError,
    IdentityProviderError,
    InvalidToken,
    NotAuthenticated,
)
from caretwin.oidc import (
    AuthorizationRequest,
    OidcClient,
    TokenKind,
    ValidatedToken,
    claim_at,
    display_name,
    mapped_roles,
    username,
)
from caretwin.services.context import ServiceContext
from caretwin.services.identity import TOKEN_PREFIX, authenticate_token
from caretwin.services.results import ServiceResult
from caretwin.store.identity import User
from caretwin.workspace import Workspace
from caretwin.workspace.auth import OidcSettings, ProvisionMode

__all__ = [
    "OIDC_KIND",
    "OidcCheck",
    "OidcProvider",
    "OidcRedirect",
    "OidcSignIn",
    "PendingSignIns",
    "authenticate_bearer",
    "authenticate_oidc_token",
    "begin_oidc_sign_in",
    "check_oidc",
    "finish_oidc_sign_in",
    "oidc_provider",
]

log = logging.getLogger(__name__)

#: The actor kind of a person signed in through the provider.
OIDC_KIND = "oidc"
_ACTION = "auth.oidc"

_clients: dict[tuple[Path, str], OidcClient] = {}
_clients_lock = threading.Lock()


def _settings(ws: Workspace) -> OidcSettings:
    settings = ws.config.auth.oidc
    if settings is None:
        raise ConfigError("single sign-on is not configured (auth.oidc in caretwin.yaml)")
    return settings


def _client(ws: Workspace) -> OidcClient:
    """The process's client of the workspace's provider (its metadata and key caches live on)."""
    settings = _settings(ws)
    key = (ws.root, settings.model_dump_json())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = OidcClient(settings, ws.root)
        return client


class OidcProvider(ServiceResult):
    """What a sign-in page shows of the configured provider."""

    issuer: str
    display_name: str
    provision: str


def oidc_provider(ws: Workspace) -> OidcProvider | None:
    """The configured provider, or ``None`` when the workspace has no single sign-on."""
    settings = ws.config.auth.oidc
    if settings is None:
        return None
    return OidcProvider(
        issuer=settings.issuer,
        display_name=settings.display_name,
        provision=settings.provision.value,
    )


# -- audit ------------------------------------------------------------------------------------


def _audit(
    ws: Workspace, actor: Actor, target: str, outcome: str, details: dict[str, object]
) -> None:
    try:
        AuditLog(ws).record(actor, _ACTION, target, outcome, details)
    except Exception:
        if outcome == "ok":
            raise
        log.exception("could not audit a refused OIDC sign-in")  # never hides the refusal


def _refused(ws: Workspace, exc: CareTwinError, who: str, details: dict[str, object]) -> None:
    reason = exc.details.get("reason", exc.code)
    anonymous = Actor(name=who, roles=frozenset(), kind="anonymous")
    _audit(ws, anonymous, who, "denied", {**details, "reason": reason})


class _SeenTokens:
    """Digests of bearer tokens already audited as accepted (bounded, oldest forgotten)."""

    def __init__(self, size: int = 4096) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def first_time(self, token: str) -> bool:
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        with self._lock:
            if digest in self._seen:
                self._seen.move_to_end(digest)
                return False
            self._seen[digest] = None
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)
            return True


_seen = _SeenTokens()


# -- who the claims are ----------------------------------------------------------------------


def _identity(validated: ValidatedToken) -> dict[str, object]:
    claims = validated.claims
    return {"iss": claims.get("iss"), "sub": claims.get("sub"), "token": validated.kind.value}


def _actor_for(
    ws: Workspace,
    settings: OidcSettings,
    validated: ValidatedToken,
    role_claims: Mapping[str, object],
) -> Actor:
    """The actor of validated claims under the provisioning mode; refusals raise (unaudited)."""
    name = username(validated.claims, settings)
    if not name:
        raise NotAuthenticated(
            "sign-in refused: the token names no user", details={"reason": "no user"}
        )
    with ws.session() as session:
        user = session.get(User, name)
        table_roles = None if user is None else frozenset(user.roles)
        disabled = user is not None and user.disabled
    if disabled:
        raise NotAuthenticated(
            f"sign-in refused: user {name!r} is disabled", details={"reason": "user disabled"}
        )
    if settings.provision is ProvisionMode.REQUIRE_USER:
        if table_roles is None:
            raise NotAuthenticated(
                f"sign-in refused: {name!r} is not a user of this workspace (an admin adds "
                f"them with: caretwin users add {name} ...)",
                details={"reason": "unknown user", "user": name},
            )
        roles = table_roles
    else:
        roles = mapped_roles(role_claims, settings)
    if not roles:
        raise AccessDenied(
            f"{name} signed in but holds no CareTwin role (auth.oidc.role_map maps none of "
            f"the values of {settings.roles_claim or 'no roles_claim'})",
            details={"reason": "no role", "user": name},
        )
    return Actor(name=name, roles=roles, kind=OIDC_KIND)


def authenticate_oidc_token(ws: Workspace, token: str) -> Actor:
    """The actor a provider's JWT access token stands for (the API's bearer tokens).

    Raises :class:`InvalidToken` (401) for a token that does not validate,
    :class:`NotAuthenticated` (401) for a user refused by the provisioning mode,
    :class:`AccessDenied` (403) for one with no role, each audited; a provider that cannot be
    reached is an :class:`~caretwin.errors.IdentityProviderError`.
    """
    settings = _settings(ws)
    client = _client(ws)
    try:
        validated = client.validate(token, TokenKind.ACCESS)
    except InvalidToken as exc:
        _refused(ws, exc, "anonymous", {"token": "access", "iss": settings.issuer})
        raise
    try:
        actor = _actor_for(ws, settings, validated, validated.claims)
    except AccessDenied as exc:
        _refused(ws, exc, username(validated.claims, settings) or "anonymous", _identity(validated))
        raise
    if _seen.first_time(token):
        _audit(ws, actor, actor.name, "ok", {**_identity(validated), "roles": sorted(actor.roles)})
    return actor


def authenticate_bearer(ws: Workspace, token: str) -> Actor:
    """The actor of an ``Authorization: Bearer`` token: an API token or, with single sign-on
    configured, a provider's access token."""
    if token.startswith(TOKEN_PREFIX) or ws.config.auth.oidc is None:
        return authenticate_token(ws, token)
    return authenticate_oidc_token(ws, token)


# -- web single sign-on -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Pending:
    request: AuthorizationRequest
    binding_digest: str
    next_path: str
    expires: float


class PendingSignIns:
    """Sign-ins started and not yet finished, by ``state``: server-side, single use, short-lived.

    The browser gets only a random *binding* value in a cookie; the callback must bring it back
    with the state, so a callback URL captured or planted from another browser (login CSRF,
    code injection) finds no flow to finish. Kept in the server's memory: ``caretwin serve`` is
    one process, and a restart only makes users click the button again.
    """

    def __init__(self, ttl_seconds: float = 600, max_pending: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self._max = max_pending
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def add(self, request: AuthorizationRequest, next_path: str) -> str:
        binding = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            for state in [s for s, p in self._pending.items() if p.expires <= now]:
                del self._pending[state]
            if len(self._pending) >= self._max:
                # A flood of started sign-ins must not grow memory without bound.
                oldest = min(self._pending, key=lambda s: self._pending[s].expires)
                del self._pending[oldest]
            self._pending[request.state] = _Pending(
                request, _digest(binding), next_path, now + self.ttl_seconds
            )
        return binding

    def take(self, state: str, binding: str | None) -> _Pending | None:
        """The flow ``state`` started, removed (a second callback finds nothing), if it is
        unexpired and ``binding`` is the value given to its browser."""
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None or pending.expires <= time.monotonic() or binding is None:
            return None
        if not hmac.compare_digest(pending.binding_digest, _digest(binding)):
            return None
        return pending


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class OidcRedirect:
    """Where to send the browser, and the binding value to set in its cookie."""

    url: str
    binding: str

    def to_dict(self) -> dict[str, object]:
        return {"url": self.url}  # the binding is a secret of the browser's


@dataclass(frozen=True)
class OidcSignIn:
    """A finished sign-in: the actor for the new web session, their printed name, and where
    the browser was going."""

    actor: Actor
    full_name: str | None
    next_path: str

    def to_dict(self) -> dict[str, object]:
        return {"actor": self.actor.to_dict(), "full_name": self.full_name, "next": self.next_path}


def _safe_next(next_path: str | None) -> str:
    """Only a path on this site: an absolute or scheme-relative URL would be an open redirect."""
    if not next_path or not next_path.startswith("/") or next_path.startswith(("//", "/\\")):
        return "/"
    return next_path


def begin_oidc_sign_in(
    ws: Workspace, pending: PendingSignIns, redirect_uri: str, next_path: str | None = None
) -> OidcRedirect:
    """Start the authorization-code flow: the provider's URL, the flow kept in ``pending``."""
    request = _client(ws).authorization_request(redirect_uri)
    binding = pending.add(request, _safe_next(next_path))
    return OidcRedirect(url=request.url, binding=binding)


def finish_oidc_sign_in(
    ws: Workspace,
    pending: PendingSignIns,
    *,
    state: str | None,
    code: str | None,
    binding: str | None,
    error: str | None = None,
) -> OidcSignIn:
    """Finish a flow at the callback: check the state, redeem the code, validate the ID token.

    Refused (audited ``auth.oidc`` ``denied``, raising :class:`NotAuthenticated`): an error from
    the provider (the user denied consent), an unknown, expired, replayed or foreign ``state``,
    a code the provider will not redeem, an ID token that does not validate or carries another
    nonce, and users the provisioning mode refuses.
    """
    settings = _settings(ws)
    flow: dict[str, object] = {"flow": "code", "iss": settings.issuer}
    if error:
        exc = NotAuthenticated(
            f"sign-in refused by the provider ({error})", details={"reason": f"provider: {error}"}
        )
        _refused(ws, exc, "anonymous", flow)
        if state:
            pending.take(state, binding)  # that flow is over
        raise exc
    started = pending.take(state, binding) if state and code else None
    if started is None or not code:
        exc = NotAuthenticated(
            "sign-in refused: this sign-in link is unknown, expired, already used or from "
            "another browser; start again",
            details={"reason": "state mismatch"},
        )
        _refused(ws, exc, "anonymous", flow)
        raise exc
    client = _client(ws)
    try:
        tokens = client.redeem(code, started.request)
        id_token = client.validate(tokens.id_token, TokenKind.ID, nonce=started.request.nonce)
    except (NotAuthenticated, IdentityProviderError) as exc:
        _refused(ws, exc, "anonymous", flow)
        raise
    role_claims = _role_claims(client, settings, id_token, tokens.access_token)
    try:
        actor = _actor_for(ws, settings, id_token, role_claims)
    except AccessDenied as exc:
        _refused(
            ws,
            exc,
            username(id_token.claims, settings) or "anonymous",
            {**flow, **_identity(id_token)},
        )
        raise
    _audit(
        ws, actor, actor.name, "ok", {**flow, **_identity(id_token), "roles": sorted(actor.roles)}
    )
    return OidcSignIn(
        actor=actor, full_name=display_name(id_token.claims, settings), next_path=started.next_path
    )


def _role_claims(
    client: OidcClient, settings: OidcSettings, id_token: ValidatedToken, access_token: str
) -> Mapping[str, object]:
    """The claims roles are read from: the ID token's, or, when it lacks ``roles_claim`` (some
    providers put roles in the access token only), the access token's if it is a JWT for us
    about the same subject."""
    if not settings.roles_claim or claim_at(id_token.claims, settings.roles_claim) is not None:
        return id_token.claims
    try:
        access = client.validate(access_token, TokenKind.ACCESS)
    except CareTwinError:
        return id_token.claims  # an opaque access token, or one for another audience
    return access.claims if access.subject == id_token.subject else id_token.claims


# -- checking a configuration -----------------------------------------------------------------


class OidcCheck(ServiceResult):
    """What ``caretwin auth oidc-check`` found: the provider, the settings (no secret), and
    the actor a given token maps to."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    signing_algs: list[str]
    key_ids: list[str]
    client_id: str
    client_secret: str  # where it is read from, never the secret
    audience: list[str]
    scopes: list[str]
    provision: str
    roles_claim: str | None
    role_map: dict[str, list[str]]
    default_roles: list[str]
    token_endpoint_auth: str
    token_checked: bool = False
    token_kind: str | None = None
    subject: str | None = None
    user: str | None = None
    roles: list[str] = pydantic.Field(default_factory=list)
    permissions: list[str] = pydantic.Field(default_factory=list)
    expires: int | None = None


def _secret_source(settings: OidcSettings) -> str:
    if settings.client_secret_env:
        return f"${settings.client_secret_env}"
    if settings.client_secret_file is not None:
        return f"file {settings.client_secret_file}"
    return "none (public client)"


def check_oidc(ctx: ServiceContext, token: str | None = None) -> OidcCheck:
    """Fetch discovery and the key set, and, given a token, validate it and map its actor.

    The token is checked as an access token, then (failing the audience) as an ID token, and
    never audited itself; the mapped actor is what the API would act as.
    """
    from caretwin.oidc.flow import client_auth_method

    with ctx.operation("auth.oidc_check", Permission.WORKSPACE_ADMIN, "oidc") as op:
        ws = ctx.workspace
        settings = _settings(ws)
        client = OidcClient(settings, ws.root)  # fresh: check what the provider says now
        try:
            meta = client.metadata()
            key_ids = client.keys.key_ids()
            has_secret = settings.client_secret(ws.root) is not None
            result: dict[str, object] = {
                "issuer": meta.issuer,
                "authorization_endpoint": meta.authorization_endpoint,
                "token_endpoint": meta.token_endpoint,
                "jwks_uri": meta.jwks_uri,
                "signing_algs": meta.id_token_signing_alg_values_supported,
                "key_ids": key_ids,
                "client_id": settings.client_id,
                "client_secret": _secret_source(settings),
                "audience": settings.audiences,
                "scopes": settings.scopes,
                "provision": settings.provision.value,
                "roles_claim": settings.roles_claim,
                "role_map": settings.role_map,
                "default_roles": settings.default_roles,
                "token_endpoint_auth": client_auth_method(meta, settings, has_secret),
            }
            if token is not None:
                try:
                    validated = client.validate(token, TokenKind.ACCESS)
                except InvalidToken as exc:
                    if exc.details.get("reason") != "wrong audience":
                        raise
                    validated = _id_token_unchecked_nonce(client, token)
                actor = _actor_for(ws, settings, validated, validated.claims)
                exp = validated.claims.get("exp")
                result.update(
                    token_checked=True,
                    token_kind=validated.kind.value,
                    subject=validated.subject,
                    user=actor.name,
                    roles=sorted(actor.roles),
                    permissions=sorted(p.value for p in actor.permissions),
                    expires=exp if isinstance(exp, int) else None,
                )
                op.details.update(token_checked=True, user=actor.name)
        finally:
            client.close()
        return OidcCheck.model_validate(result)


def _id_token_unchecked_nonce(client: OidcClient, token: str) -> ValidatedToken:
    """An ID token checked for everything but its nonce (a diagnostic has no sign-in to match)."""
    import jwt

    try:
        nonce = jwt.decode(token, options={"verify_signature": False}).get("nonce")
    except jwt.PyJWTError as exc:
        raise InvalidToken(
            "token refused: it is not a well-formed JWT", details={"reason": "malformed"}
        ) from exc
    return client.validate(token, TokenKind.ID, nonce=nonce if isinstance(nonce, str) else "")
