"""A real OpenID Connect provider on loopback (``oidc-provider-mock``, authlib underneath).

The mock issues opaque access tokens; real providers used for APIs (Keycloak, Entra ID, Okta,
Auth0) issue JWT access tokens (RFC 9068), so the provider here is configured, through
authlib's own ``OAUTH2_ACCESS_TOKEN_GENERATOR`` setting, to sign its access tokens as JWTs with
the provider's key (the one its ``/jwks`` publishes). ``overrides`` changes claims of the next
tokens (an expired ``exp``, another ``iss``) the way a misbehaving provider would.

The mock does not enforce PKCE; :class:`_PkceGate` in front of it does (RFC 7636 §4.6):
it remembers the ``code_challenge`` of each authorization request by the code issued, and
the token endpoint refuses a code whose ``code_verifier`` does not hash to it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import flask
import httpx
import werkzeug.serving
from werkzeug.wrappers import Request, Response

logging.getLogger("werkzeug").setLevel(logging.ERROR)
logging.getLogger("oidc_provider_mock").setLevel(logging.ERROR)

CLIENT_ID = "caretwin-test"
CLIENT_SECRET = "s3cret:with%odd chars"
REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: the test reads the Location


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class _PkceGate:
    """WSGI middleware enforcing PKCE S256 and recording what the client sent."""

    app: Any
    challenges: dict[str, str] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    basic_auth: list[tuple[str, str] | None] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)  # read again by the provider behind
        request = Request(dict(environ, **{"wsgi.input": io.BytesIO(raw)}))
        self.paths.append(request.path)
        if request.path == "/oauth2/token":
            form = {k: v for k, v in request.form.items()}
            self.token_requests.append(form)
            auth = request.authorization
            basic = None if auth is None else (auth.username or "", auth.password or "")
            self.basic_auth.append(basic)
            challenge = self.challenges.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            if challenge is None or _challenge(verifier) != challenge:
                body = '{"error": "invalid_grant", "error_description": "PKCE verification"}'
                resp = Response(body, status=400, content_type="application/json")
                return resp(environ, start_response)
        if request.path != "/oauth2/authorize":
            return self.app(environ, start_response)
        method = request.args.get("code_challenge_method")
        challenge = request.args.get("code_challenge")
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            captured["headers"] = headers
            return start_response(status, headers, *rest)

        body = list(self.app(environ, capture))  # the debugger middleware answers lazily
        location = dict(captured.get("headers", [])).get("Location", "")
        code = parse_qs(urlsplit(location).query).get("code", [None])[0]
        if code and challenge and method == "S256":
            self.challenges[code] = challenge
        return body


class Provider:
    """The running provider: its issuer URL, its key and helpers to get real tokens from it."""

    def __init__(self, users: Iterable[Any]) -> None:
        import oidc_provider_mock

        self.overrides: dict[str, Any] = {}
        package = Path(oidc_provider_mock.__file__).parent
        app = flask.Flask("caretwin-test-provider", template_folder=package / "templates")
        app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = self._access_token
        oidc_provider_mock.init_app(app, user_claims=list(users))
        app.secret_key = b"caretwin-test-provider-key"

        @app.post("/test/rotate-key")
        def rotate() -> tuple[str, int]:
            from authlib import jose

            flask.g.oidc_provider_mock_storage.jwk = jose.RSAKey.generate_key(is_private=True)
            return "", 204

        self.gate = _PkceGate(app)
        self._server = werkzeug.serving.make_server("127.0.0.1", 0, self.gate, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True
        self._thread.start()
        self.http = httpx.Client(timeout=10)

    def _access_token(self, client: Any, grant_type: str, user: Any, scope: str) -> str:
        from authlib import jose

        jwk = flask.g.oidc_provider_mock_storage.jwk
        kid = jwk.as_dict()["kid"]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": flask.request.host_url.rstrip("/"),
            "sub": user.sub,
            "aud": client.get_client_id(),
            "azp": client.get_client_id(),
            "client_id": client.get_client_id(),
            "scope": scope,
            "iat": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            **user.claims,
            **self.overrides,
        }
        header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
        token: bytes = jose.jwt.encode(header, claims, jwk)
        return token.decode("ascii")

    def authorize(self, url: str, sub: str) -> str:
        """Submit the provider's authorization form for ``sub`` (what a user's click does) and
        return where the provider redirects the browser."""
        parts = urlsplit(url)
        r = self.http.post(f"{self.issuer}{parts.path}?{parts.query}", data={"sub": sub})
        assert r.status_code == 302, r.text[:300]
        return r.headers["location"]

    def deny(self, url: str) -> str:
        parts = urlsplit(url)
        r = self.http.post(f"{self.issuer}{parts.path}?{parts.query}", data={"action": "deny"})
        assert r.status_code == 302, r.text[:300]
        return r.headers["location"]

    def tokens(self, sub: str, client_id: str = CLIENT_ID) -> dict[str, str]:
        """Access and ID tokens for ``sub`` through the provider's own code flow."""
        verifier = "v" * 50
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid profile email",
            "state": "st",
            "nonce": "nonce-1",
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
        location = self.authorize(
            f"{self.issuer}/oauth2/authorize?{httpx.QueryParams(params)}", sub
        )
        code = parse_qs(urlsplit(location).query)["code"][0]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }
        r = self.http.post(f"{self.issuer}/oauth2/token", data=form, auth=(client_id, "x"))
        assert r.status_code == 200, r.text
        body: dict[str, str] = r.json()
        return body

    def access_token(self, sub: str, **overrides: Any) -> str:
        self.overrides = overrides
        try:
            return self.tokens(sub)["access_token"]
        finally:
            self.overrides = {}

    def rotate_key(self) -> None:
        assert self.http.post(f"{self.issuer}/test/rotate-key").status_code == 204

    def close(self) -> None:
        self.http.close()
        self._server.shutdown()
        self._thread.join(5)
        self._server.server_close()


@contextmanager
def running_provider(users: Iterable[Any]) -> Iterator[Provider]:
    provider = Provider(users)
    try:
        yield provider
    finally:
        provider.close()


def _users() -> list[Any]:
    from oidc_provider_mock import User

    return [
        User(
            sub="u-alice",
            claims={"preferred_username": "alice", "name": "Alice Example", "groups": ["ward-4"]},
        ),
        User(
            sub="u-bob",
            claims={"preferred_username": "bob", "realm_access": {"roles": ["ct-auditor", "x"]}},
        ),
        User(sub="u-carol", claims={"preferred_username": "carol", "groups": ["cafeteria"]}),
    ]


#: The provider's users: alice (group ward-4: clinician), bob (realm role ct-auditor: auditor,
#: with ``roles_claim: realm_access.roles``), carol (a group mapped to nothing).
USERS = _users()


def configure_oidc(ws: Any, provider: Provider, **overrides: Any) -> Any:
    """``ws`` reopened with ``auth.oidc`` pointing at ``provider`` (``overrides`` on top),
    written as YAML as an IT team would: loading it is what validates it."""
    import yaml

    from caretwin.workspace import Workspace
    from caretwin.workspace.config import load_config

    (ws.root / "oidc.secret").write_text(CLIENT_SECRET + "\n")
    oidc: dict[str, Any] = {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret_file": "oidc.secret",
        "roles_claim": "groups",
        "role_map": {"ward-4": ["clinician"], "ct-auditor": ["auditor"]},
        "display_name": "Test IdP",
        **overrides,
    }
    raw = load_config(ws.root).model_dump(mode="json")
    raw["auth"] = {"oidc": oidc}
    (ws.root / "caretwin.yaml").write_text(yaml.safe_dump(raw))
    root = ws.root
    ws.close()
    return Workspace.open(root)
