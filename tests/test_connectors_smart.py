"""SMART Backend Services against a real token endpoint that verifies the signed assertion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tests.fhirserver import FhirTestServer
from tests.fhirserver.data import lake_ids, patient

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.connectors import SourceConfig
from caretwin.errors import ConfigError
from caretwin.services import sources as svc
from caretwin.services.context import ServiceContext
from caretwin.workspace import Workspace


def _keypair(alg: str, folder: Path) -> tuple[Path, object]:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg == "RS384"
        else ec.generate_private_key(ec.SECP384R1())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = folder / f"{alg}.pem"
    path.write_bytes(pem)
    return path, key.public_key()


@pytest.fixture
def server() -> Iterator[FhirTestServer]:
    with FhirTestServer(require_token=True) as srv:
        for i in range(7):
            srv.add(patient(i, minute=i))
        yield srv


def _ctx(workspace: Workspace, server: FhirTestServer, key_file: Path, alg: str) -> ServiceContext:
    ctx = ServiceContext(workspace=workspace, actor=Actor("tester", frozenset({"admin"})))
    auth = {"mode": "smart", "client_id": "caretwin", "private_key_file": str(key_file), "alg": alg}
    cfg = SourceConfig.model_validate(
        {"name": "smart", "base_url": server.base_url, "auth": auth, "backoff_base": 0.01}
    )
    svc.add_source(ctx, cfg)
    return ctx


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
@pytest.mark.slow
def test_signed_assertion_gets_a_cached_token(
    workspace: Workspace, server: FhirTestServer, tmp_path: Path, alg: str
) -> None:
    key_file, public = _keypair(alg, tmp_path)
    server.client_keys["caretwin"] = public
    ctx = _ctx(workspace, server, key_file, alg)
    assert svc.pull(ctx, "smart", types=["Patient"]).status == "complete"
    svc.pull(ctx, "smart", types=["Patient"], bulk=True)
    assert server.token_requests == 1  # one token for both pulls (REST pages, export, files)
    assert server.count("/.well-known/smart-configuration") == 1
    assert lake_ids(workspace, "Patient") == {f"p{i}" for i in range(7)}
    text = str(svc.show_source(ctx, "smart")) + str(AuditLog(workspace).list())
    assert "PRIVATE KEY" not in text and str(key_file) in text  # the path, never the key


@pytest.mark.slow
def test_revoked_token_is_replaced_once(
    workspace: Workspace, server: FhirTestServer, tmp_path: Path
) -> None:
    key_file, public = _keypair("RS384", tmp_path)
    server.client_keys["caretwin"] = public
    ctx = _ctx(workspace, server, key_file, "RS384")
    svc.pull(ctx, "smart", types=["Patient"])
    server.tokens.clear()  # the server forgets every token
    assert svc.pull(ctx, "smart", types=["Patient"]).status == "complete"
    assert server.token_requests == 2


def test_wrong_key_is_refused(workspace: Workspace, server: FhirTestServer, tmp_path: Path) -> None:
    key_file, _ = _keypair("RS384", tmp_path)
    _, other_public = _keypair("ES384", tmp_path)
    server.client_keys["caretwin"] = other_public
    ctx = _ctx(workspace, server, key_file, "RS384")
    report = svc.pull(ctx, "smart", types=["Patient"])
    assert report.status == "partial" and "HTTP 401" in report.incomplete["Patient"]
    assert server.token_requests == 0


def test_smart_needs_client_id_and_key(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="client id"):
        SourceConfig.model_validate(
            {"name": "s", "base_url": "http://127.0.0.1:9", "auth": {"mode": "smart"}}
        )
    ctx = ServiceContext(workspace=workspace, actor=Actor("tester", frozenset({"admin"})))
    auth = {
        "mode": "smart",
        "client_id": "c",
        "private_key_file": "/nonexistent/key.pem",
        "token_url": "http://127.0.0.1:9/token",
    }
    svc.add_source(
        ctx,
        SourceConfig.model_validate({"name": "s", "base_url": "http://127.0.0.1:9", "auth": auth}),
    )
    with pytest.raises(ConfigError, match=r"cannot read /nonexistent/key\.pem"):
        svc.pull(ctx, "s", types=["Patient"])
