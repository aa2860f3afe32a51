"""OpenID Connect against a real provider on loopback (``oidc-provider-mock``, tests/oidc_helpers).

Bearer access tokens the provider issues are accepted by the API and mapped to roles; tokens
for another audience or issuer, expired, tampered with, unsigned (``alg: none``), HMAC-signed
with the public key, or signed by a key the provider does not publish are refused with 401
``invalid_token``; a key rotation at the provider is followed with one key-set fetch; the
authorization-code flow with state, nonce and PKCE S256 signs a user in, and a replayed,
foreign or denied callback does not.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from api_helpers import ADMIN, bearer, client
from caretwin.audit import AuditLog
from caretwin.errors import ConfigError, NotAuthenticated
from caretwin.services.context import ServiceContext
from caretwin.services.oidc import (
    PendingSignIns,
    authenticate_oidc_token,
    begin_oidc_sign_in,
    finish_oidc_sign_in,
)
from caretwin.services.users import add_user, disable_user
from caretwin.workspace import Workspace
from oidc_helpers import CLIENT_ID, CLIENT_SECRET, USERS, Provider, configure_oidc, running_provider


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider(USERS) as p:
        yield p


@pytest.fixture
def ws(workspace: Workspace, provider: Provider) -> Iterator[Workspace]:
    configured = configure_oidc(workspace, provider)
    yield configured
    configured.close()


def _oidc_events(ws: Workspace) -> list[Any]:
    return AuditLog(ws).list(limit=100, action="auth.oidc")


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"allowed_algs": ["RS256", "HS256"]}, "auth.oidc.allowed_algs"),
        ({"allowed_algs": ["none"]}, "auth.oidc.allowed_algs"),
        ({"role_map": {"g": ["superuser"]}}, "auth.oidc.role_map"),
        ({"issuer": "http://idp.example.org"}, "auth.oidc.issuer"),
        ({"client_secret": "plain"}, "client_secret must not be written"),
        ({"scopes": ["profile"]}, "auth.oidc.scopes"),
        ({"client_secret_env": "X"}, "not both"),
    ],
)
def test_bad_settings_are_refused_at_load_naming_the_field(
    workspace: Workspace, provider: Provider, change: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        configure_oidc(workspace, provider, **change)


def test_the_secret_is_never_in_the_settings(ws: Workspace) -> None:
    text = (ws.root / "caretwin.yaml").read_text()
    assert "client_secret_file: oidc.secret" in text and CLIENT_SECRET not in text
    settings = ws.config.auth.oidc
    assert settings is not None
    assert CLIENT_SECRET not in repr(settings) + settings.model_dump_json()
    assert settings.client_secret(ws.root) == CLIENT_SECRET


# -- bearer tokens on the API ---------------------------------------------------------------


def test_provider_access_token_is_accepted_and_mapped_to_roles(
    ws: Workspace, provider: Provider, report_figure: Any
) -> None:
    c = client(ws)
    alice = provider.access_token("u-alice")
    started = time.perf_counter()
    r = c.get("/api/v1/runs", headers=bearer(alice))
    first = time.perf_counter() - started
    assert r.status_code == 200, r.text
    started = time.perf_counter()
    for _ in range(10):
        assert c.get("/api/v1/runs", headers=bearer(alice)).status_code == 200
    warm = (time.perf_counter() - started) / 10
    # the same route with a CareTwin API token, for comparison
    from api_helpers import token_for

    ct = token_for(ws, "clinician", "ct-user")
    assert c.get("/api/v1/runs", headers=bearer(ct)).status_code == 200
    started = time.perf_counter()
    for _ in range(10):
        assert c.get("/api/v1/runs", headers=bearer(ct)).status_code == 200
    warm_ct = (time.perf_counter() - started) / 10
    # clinician: no audit trail
    r = c.get("/api/v1/audit", headers=bearer(alice))
    assert r.status_code == 403 and r.json()["error"]["code"] == "access_denied"
    # a dotted roles claim: realm_access.roles (Keycloak's shape)
    bob_ws = configure_oidc(ws, provider, roles_claim="realm_access.roles")
    r = client(bob_ws).get("/api/v1/audit", headers=bearer(provider.access_token("u-bob")))
    assert r.status_code == 200, r.text
    events = _oidc_events(bob_ws)
    ok = [(e.actor, e.outcome, e.details["sub"], e.details["roles"]) for e in events]
    assert ("alice", "ok", "u-alice", ["clinician"]) in ok
    assert ("bob", "ok", "u-bob", ["auditor"]) in ok
    assert sum(1 for e in events if e.actor == "alice") == 1  # once per token, not per request
    requests = AuditLog(bob_ws).list(limit=100, action="api.request")
    assert any(e.actor == "alice" and e.outcome == "denied" for e in requests)
    dumped = json.dumps([e.to_dict() for e in AuditLog(bob_ws).list(limit=500)])
    assert alice not in dumped and alice.split(".")[2] not in dumped
    bob_ws.close()
    report_figure(
        f"OIDC bearer: first request {first * 1000:.0f} ms (discovery + key set), "
        f"then {warm * 1000:.1f} ms per request (cached keys; a ct_ API token: "
        f"{warm_ct * 1000:.1f} ms)"
    )


def _foreign_key_token(claims: dict[str, Any], kid: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _refused_tokens(provider: Provider) -> dict[str, tuple[str, str]]:
    """Tokens that must be refused, by name: (token, the refusal's reason)."""
    good = provider.access_token("u-alice")
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    now = int(time.time())
    escalated = _b64({**claims, "groups": ["ct-auditor"]})
    public_pem = (
        provider.http.get(f"{provider.issuer}/jwks").json()["keys"][0]  # the provider's key
    )
    pem = (
        jwt.PyJWK(public_pem)
        .key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )
    hs256 = _b64({"alg": "HS256", "typ": "JWT", "kid": public_pem["kid"]}) + "." + payload
    import hashlib
    import hmac

    mac = hmac.new(pem.encode(), hs256.encode(), hashlib.sha256).digest()
    hs256 += "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    return {
        "wrong audience": (
            provider.tokens("u-alice", client_id="other-app")["access_token"],
            "wrong audience",
        ),
        "wrong issuer": (
            provider.access_token("u-alice", iss="https://evil.example"),
            "wrong issuer",
        ),
        "expired": (provider.access_token("u-alice", exp=now - 3600, iat=now - 7200), "expired"),
        "tampered": (f"{header}.{escalated}.{signature}", "bad signature"),
        "alg none": (
            _b64({"alg": "none", "typ": "JWT"}) + "." + payload + ".",
            "algorithm not allowed",
        ),
        "HS256 with the public key": (hs256, "algorithm not allowed"),
        "unknown key": (_foreign_key_token(claims, "not-the-providers"), "unknown key"),
        "not a JWT": ("just-some-opaque-token", "malformed"),
    }


def test_bad_tokens_are_refused_401_invalid_token_and_audited(
    ws: Workspace, provider: Provider, report_figure: Any
) -> None:
    c = client(ws)
    cases = _refused_tokens(provider)
    for name, (token, reason) in cases.items():
        r = c.get("/api/v1/runs", headers=bearer(token))
        assert r.status_code == 401, (name, r.text)
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"', name
        body = r.json()["error"]
        assert body["code"] == "invalid_token" and body["details"]["reason"] == reason, name
    denied = [e for e in _oidc_events(ws) if e.outcome == "denied"]
    assert sorted(e.details["reason"] for e in denied) == sorted(r for _, r in cases.values())
    dumped = json.dumps([e.to_dict() for e in AuditLog(ws).list(limit=500)])
    assert all(token not in dumped for token, _ in cases.values())
    report_figure(f"OIDC: {len(cases)} kinds of bad token refused with 401 invalid_token")


def test_key_rotation_is_followed_with_one_fetch_and_unknown_keys_rate_limited(
    workspace: Workspace, provider: Provider
) -> None:
    ws = configure_oidc(workspace, provider, jwks_refetch_seconds=300)
    c = client(ws)
    before = provider.access_token("u-alice")
    assert c.get("/api/v1/runs", headers=bearer(before)).status_code == 200
    fetches = provider.gate.paths.count("/jwks")
    provider.rotate_key()
    try:
        after = provider.access_token("u-alice")
        assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
        assert c.get("/api/v1/runs", headers=bearer(after)).status_code == 200
        assert provider.gate.paths.count("/jwks") == fetches + 1  # the new key: fetched once
        # the old key is gone from the provider: refused; and made-up key ids within the
        # refetch interval do not make CareTwin fetch the key set again
        for token in (before, _foreign_key_token({"sub": "x"}, "k1"), _foreign_key_token({}, "k2")):
            r = c.get("/api/v1/runs", headers=bearer(token))
            assert r.status_code == 401 and r.json()["error"]["details"]["reason"] == "unknown key"
        assert provider.gate.paths.count("/jwks") == fetches + 1
    finally:
        ws.close()


def test_provision_modes_and_disabled_users(workspace: Workspace, provider: Provider) -> None:
    ws = configure_oidc(workspace, provider, provision="require_user")
    alice = provider.access_token("u-alice")
    with pytest.raises(NotAuthenticated, match="not a user of this workspace"):
        authenticate_oidc_token(ws, alice)
    ctx = ServiceContext(ws, ADMIN)
    add_user(ctx, "alice", "Alice Example", ["auditor"])
    actor = authenticate_oidc_token(ws, alice)
    # require_user: the table's roles, not the provider's groups
    assert (actor.name, actor.roles, actor.kind) == ("alice", frozenset({"auditor"}), "oidc")
    disable_user(ctx, "alice")
    r = client(ws).get("/api/v1/runs", headers=bearer(alice))
    assert r.status_code == 401 and "disabled" in r.json()["error"]["message"]
    # map mode: a disabled row of the same name still refuses; no mapped role is a 403
    mapped = configure_oidc(ws, provider)
    assert client(mapped).get("/api/v1/runs", headers=bearer(alice)).status_code == 401
    r = client(mapped).get("/api/v1/runs", headers=bearer(provider.access_token("u-carol")))
    assert r.status_code == 403 and "holds no CareTwin role" in r.json()["error"]["message"]
    reasons = [e.details["reason"] for e in _oidc_events(mapped) if e.outcome == "denied"]
    assert reasons.count("user disabled") == 2 and "unknown user" in reasons
    assert "no role" in reasons
    mapped.close()


def test_ct_api_tokens_still_work_beside_oidc(ws: Workspace) -> None:
    from api_helpers import token_for

    token = token_for(ws, "viewer")
    assert client(ws).get("/api/v1/runs", headers=bearer(token)).status_code == 200
    r = client(ws).get("/api/v1/runs", headers=bearer("ct_forged"))
    assert r.status_code == 401 and r.json()["error"]["details"]["reason"] == "unknown token"


# -- the authorization-code flow --------------------------------------------------------------


def _callback(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_code_flow_with_state_nonce_and_pkce(ws: Workspace, provider: Provider) -> None:
    pending = PendingSignIns()
    redirect_uri = "http://127.0.0.1:9/signin/oidc/callback"
    start = begin_oidc_sign_in(ws, pending, redirect_uri, "/runs")
    query = _callback(start.url)
    assert query["code_challenge_method"] == "S256" and "code_verifier" not in query
    assert {"state", "nonce", "code_challenge"} <= set(query) and query["client_id"] == CLIENT_ID
    back = _callback(provider.authorize(start.url, "u-alice"))
    assert back["state"] == query["state"]
    signed_in = finish_oidc_sign_in(
        ws, pending, state=back["state"], code=back["code"], binding=start.binding
    )
    assert signed_in.actor.name == "alice" and signed_in.actor.roles == {"clinician"}
    assert signed_in.full_name == "Alice Example" and signed_in.next_path == "/runs"
    # the code was redeemed with PKCE (the gate in front of the provider checks the verifier)
    # and client_secret_basic with the secret form-encoded (RFC 6749 §2.3.1)
    assert provider.gate.basic_auth[-1] == (CLIENT_ID, quote_plus(CLIENT_SECRET))
    # replay: the same callback again finds no flow
    with pytest.raises(NotAuthenticated, match="already used"):
        finish_oidc_sign_in(
            ws, pending, state=back["state"], code=back["code"], binding=start.binding
        )


def test_foreign_denied_and_forged_callbacks_are_refused(ws: Workspace, provider: Provider) -> None:
    pending = PendingSignIns()
    uri = "http://127.0.0.1:9/cb"
    # another browser's callback (login CSRF): the binding cookie does not match
    start = begin_oidc_sign_in(ws, pending, uri)
    back = _callback(provider.authorize(start.url, "u-alice"))
    with pytest.raises(NotAuthenticated, match="another browser"):
        finish_oidc_sign_in(ws, pending, state=back["state"], code=back["code"], binding="forged")
    # a state nobody started
    with pytest.raises(NotAuthenticated):
        finish_oidc_sign_in(ws, pending, state="made-up", code="x", binding=start.binding)
    # the user denies consent at the provider
    start = begin_oidc_sign_in(ws, pending, uri)
    back = _callback(provider.deny(start.url))
    with pytest.raises(NotAuthenticated, match="access_denied"):
        finish_oidc_sign_in(
            ws,
            pending,
            state=back.get("state"),
            code=None,
            binding=start.binding,
            error=back["error"],
        )
    # an open redirect in next is dropped
    start = begin_oidc_sign_in(ws, pending, uri, "//evil.example/x")
    back = _callback(provider.authorize(start.url, "u-alice"))
    done = finish_oidc_sign_in(
        ws, pending, state=back["state"], code=back["code"], binding=start.binding
    )
    assert done.next_path == "/"
    reasons = [e.details["reason"] for e in _oidc_events(ws) if e.outcome == "denied"]
    assert reasons.count("state mismatch") == 2 and "provider: access_denied" in reasons


def test_pkce_gate_refuses_a_wrong_verifier(provider: Provider) -> None:
    """The successful flows above prove CareTwin's verifier, only if the gate can say no."""
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": "http://127.0.0.1:9/cb",
        "scope": "openid",
        "state": "s",
        "nonce": "n",
        "code_challenge": "A" * 43,
        "code_challenge_method": "S256",
    }
    import httpx

    location = provider.authorize(
        f"{provider.issuer}/oauth2/authorize?{httpx.QueryParams(params)}", "u-alice"
    )
    form = {
        "grant_type": "authorization_code",
        "code": _callback(location)["code"],
        "redirect_uri": "http://127.0.0.1:9/cb",
        "code_verifier": "wrong" * 10,
    }
    r = provider.http.post(f"{provider.issuer}/oauth2/token", data=form, auth=(CLIENT_ID, "x"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


# -- caretwin auth oidc-check ----------------------------------------------------------------


def test_oidc_check_command(ws: Workspace, provider: Provider, tmp_path: Path) -> None:
    from caretwin.cli.app import app

    token_file = tmp_path / "token.txt"
    token_file.write_text(provider.access_token("u-alice") + "\n")
    runner = CliRunner()
    args = ["auth", "oidc-check", "--workspace", str(ws.root), "--token-file", str(token_file)]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert CLIENT_SECRET not in result.output
    data = json.loads(result.stdout)
    assert data["issuer"] == provider.issuer and data["key_ids"]
    assert data["client_secret"] == "file oidc.secret"
    assert (data["user"], data["roles"], data["token_kind"]) == ("alice", ["clinician"], "access")
    assert "sim.run" in data["permissions"] and "audit.read" not in data["permissions"]
    text = runner.invoke(app, args)
    assert text.exit_code == 0 and "alice" in text.output and CLIENT_SECRET not in text.output
    # an expired token: refused, exit 8, the reason printed
    token_file.write_text(provider.access_token("u-alice", exp=int(time.time()) - 3600))
    refused = runner.invoke(app, args)
    assert refused.exit_code == 8 and "expired" in refused.output


def test_the_documented_example_is_valid() -> None:
    import re

    from caretwin.workspace.auth import AuthSettings

    text = (Path(__file__).parents[1] / "docs" / "security.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(auth:\n.*?)```", text, re.S)
    assert block is not None
    settings = AuthSettings.model_validate(yaml.safe_load(block.group(1))["auth"])
    assert settings.oidc is not None and settings.oidc.role_map["it-admins"] == ["admin"]


def test_an_unreachable_provider_is_502_and_does_not_pile_up(
    workspace: Workspace, provider: Provider
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    ws = configure_oidc(workspace, provider, issuer=f"http://127.0.0.1:{port}")
    c = client(ws)
    token = provider.access_token("u-alice")
    started = time.perf_counter()
    answers = [c.get("/api/v1/runs", headers=bearer(token)) for _ in range(5)]
    assert time.perf_counter() - started < 5
    assert {r.status_code for r in answers} == {502}
    assert answers[0].json()["error"]["code"] == "identity_provider_error"
    ws.close()


def test_discovery_must_name_the_configured_issuer() -> None:
    import httpx

    from caretwin.errors import IdentityProviderError
    from caretwin.oidc.discovery import fetch_metadata

    doc = {
        "issuer": "https://evil.example",
        "authorization_endpoint": "https://idp.example/auth",
        "token_endpoint": "https://idp.example/token",
        "jwks_uri": "https://idp.example/jwks",
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=doc))
    with httpx.Client(transport=transport) as http:
        with pytest.raises(IdentityProviderError, match="names the issuer"):
            fetch_metadata(http, "https://idp.example")
        doc["issuer"] = "https://idp.example"
        doc["token_endpoint"] = "http://idp.example/token"  # not https
        with pytest.raises(IdentityProviderError, match="not an https"):
            fetch_metadata(http, "https://idp.example")
        doc["token_endpoint"] = "https://idp.example/token"
        assert fetch_metadata(http, "https://idp.example/").issuer == "https://idp.example"
