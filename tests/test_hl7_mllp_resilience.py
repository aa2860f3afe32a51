"""The MLLP listener when things go wrong: a commit that raises on one message of a batch, an ACK
builder that raises, idle connections, more connections than allowed, and TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.mllp_helpers import (
    TIMEOUT,
    AckReader,
    closed_by_peer,
    msa,
    send_accepted,
    service_commit,
    start_listener,
    stay_messages,
)

from caretwin.errors import ConfigError
from caretwin.hl7v2 import ListenerConfig, RawMessage, batching, frame
from caretwin.hl7v2.batching import fallback_ack
from caretwin.hl7v2.feed import Outcome
from caretwin.hl7v2.listener import EVICT_IDLE, check_config
from caretwin.lake import Lake
from caretwin.workspace import Workspace


def _stored_ids(ws: Workspace) -> set[str]:
    rows = Lake(ws.lake_dir).query("SELECT resource_id FROM resources").to_pylist()
    return {str(r["resource_id"]).rsplit(":", 1)[-1] for r in rows}


@pytest.mark.slow
def test_one_message_that_makes_the_commit_raise_is_refused_alone(workspace: Workspace) -> None:
    real = service_commit(workspace)
    calls: list[int] = []

    def commit(messages: Sequence[RawMessage]) -> list[Outcome]:
        calls.append(len(messages))
        if any("POISON" in m.text for m in messages):
            raise RuntimeError("the feed failed on one message")
        return real(messages)

    stay = stay_messages()
    poison = stay[2].replace("RS-2003", "POISON-1")
    batch = [stay[0], poison, stay[1]]
    run = start_listener(commit, batch_size=3, batch_seconds=5.0)
    with socket.create_connection(("127.0.0.1", run.port), timeout=TIMEOUT) as sock:
        acks = AckReader(sock)
        for attempt in range(2):  # the sender resends the whole batch: same answers
            sock.sendall(b"".join(frame(t.encode()) for t in batch))
            got = [msa(acks.next()) for _ in batch]
            assert got == [("AA", "RS-2001"), ("AE", "POISON-1"), ("AA", "RS-2002")], attempt
    stats = run.stop()
    assert calls[:4] == [3, 1, 1, 1]  # the batch, then each message alone
    assert (stats.accepted, stats.duplicates, stats.commit_errors) == (2, 2, 2)
    ids = _stored_ids(workspace)
    assert {"RS-2001", "RS-2002"} <= ids and not any("POISON" in i for i in ids)


def test_a_failing_ack_builder_still_gets_an_answer_and_shutdown_completes(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_build = batching.build_ack

    def build_ack(text: str, code: str = "AA", **kw: str) -> str:
        if "RS-2002" in text:
            raise TypeError("'str' object is not callable")
        return real_build(text, code, **kw)

    monkeypatch.setattr(batching, "build_ack", build_ack)
    stay = stay_messages()
    run = start_listener(service_commit(workspace), batch_size=2, batch_seconds=0.05)
    with socket.create_connection(("127.0.0.1", run.port), timeout=TIMEOUT) as sock:
        acks = AckReader(sock)
        sock.sendall(frame(stay[0].encode()) + frame(stay[1].encode()) + frame(stay[2].encode()))
        got = [msa(acks.next()) for _ in range(3)]
    assert got == [("AA", "RS-2001"), ("AA", "RS-2002"), ("AA", "RS-2003")]
    stats = run.stop()
    assert (stats.accepted, stats.ack_fallbacks) == (3, 1)


def test_fallback_ack_is_well_formed_and_quotes_no_field_but_the_control_id() -> None:
    text = "MSH|^~\\&|A|B|C|D|20250101||ADT|CTL^1|P|2.5\rPID|||MRN123^^^H^MR||Doe^Jane"
    ack = fallback_ack(text, "AR", "MSH-9 is not | an ADT message", "200")
    segments = ack.split("\r")
    assert [s[:3] for s in segments] == ["MSH", "MSA", "ERR"]
    assert segments[1].startswith("MSA|AR|CTL1|MSH-9 is not \\F\\ an ADT message")
    assert "MRN123" not in ack and "Doe" not in ack and "200^" in segments[2]
    assert fallback_ack("not hl7", "XX").endswith("MSA|AE|")


def test_idle_connections_are_closed(workspace: Workspace) -> None:
    run = start_listener(service_commit(workspace), idle_timeout=0.3)
    with socket.create_connection(("127.0.0.1", run.port), timeout=TIMEOUT) as sock:
        assert closed_by_peer(sock, within=10)
    assert run.stop().connections_idle_closed == 1


@pytest.mark.slow
def test_connections_beyond_the_limit_are_refused_and_idle_ones_make_room(
    workspace: Workspace,
) -> None:
    stay = stay_messages()
    run = start_listener(service_commit(workspace), max_connections=2, batch_seconds=0.05)
    idle = [socket.create_connection(("127.0.0.1", run.port), timeout=TIMEOUT) for _ in range(2)]
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", run.port), timeout=TIMEOUT) as third:
            assert closed_by_peer(third, within=10)  # both others are busy-young: refused
        time.sleep(EVICT_IDLE + 0.2)
        send_accepted(run.port, stay[:2])
        assert closed_by_peer(idle[0], within=10)  # the longest idle made room
    finally:
        for sock in idle:
            sock.close()
    stats = run.stop()
    assert (stats.connections_refused, stats.connections_evicted, stats.accepted) == (1, 1, 2)


def test_limits_and_tls_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="both"):
        check_config(ListenerConfig(tls_cert=Path("cert.pem")))
    with pytest.raises(ConfigError, match="max connections"):
        check_config(ListenerConfig(max_connections=0))


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "caretwin-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_listener_acks_over_tls_and_drops_plain_tcp(
    workspace: Workspace, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    stay = stay_messages()
    run = start_listener(service_commit(workspace), tls_cert=cert, tls_key=key, batch_seconds=0.05)
    assert run.listener.tls
    client = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(("127.0.0.1", run.port), timeout=TIMEOUT) as raw:
        with client.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            acks = AckReader(sock)
            sock.sendall(frame(stay[0].encode()))
            assert msa(acks.next()) == ("AA", "RS-2001")
    with socket.create_connection(("127.0.0.1", run.port), timeout=TIMEOUT) as plain:
        plain.sendall(frame(stay[1].encode()))  # not a TLS hello: no answer, connection closed
        assert closed_by_peer(plain, within=10)
    stats = run.stop()
    assert (stats.accepted, stats.messages, stats.tls_errors) == (1, 1, 1)
    assert _stored_ids(workspace) >= {"RS-2001"}


def test_unreadable_tls_files_are_a_config_error(workspace: Workspace, tmp_path: Path) -> None:
    from caretwin.hl7v2.server import tls_context

    (tmp_path / "cert.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="cannot load TLS"):
        tls_context(tmp_path / "cert.pem", tmp_path / "missing.pem")
