"""The MLLP listener over real loopback sockets: ACK after commit, NAKs, split frames,
concurrent clients, the ``hl7`` library's own client, and graceful shutdown."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hl7
import pytest
from hl7.client import MLLPClient
from tests.hl7_helpers import DATA, lake_rows

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.hl7v2 import ListenerConfig, ListenerStats, MllpListener, frame, split_messages
from caretwin.lake import Lake
from caretwin.services.context import ServiceContext
from caretwin.services.hl7 import listen_mllp
from caretwin.workspace import Workspace

TIMEOUT = 20.0


@dataclass
class Running:
    port: int
    listener: MllpListener
    thread: threading.Thread
    result: list[ListenerStats] = field(default_factory=list)

    def stop(self) -> ListenerStats:
        self.listener.stop()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()
        return self.result[0]


def _start(ws: Workspace, **kw: object) -> Running:
    ctx = ServiceContext(workspace=ws, actor=Actor("feed", frozenset({"analyst"}), "service"))
    config = ListenerConfig(host="127.0.0.1", port=0, **kw)
    bound = threading.Event()
    holder: list[MllpListener] = []
    result: list[ListenerStats] = []

    def ready(listener: MllpListener) -> None:
        holder.append(listener)
        bound.set()

    thread = threading.Thread(
        target=lambda: result.append(listen_mllp(ctx, config, ready=ready)), daemon=True
    )
    thread.start()
    assert bound.wait(TIMEOUT)
    return Running(holder[0].stats.port, holder[0], thread, result)


@pytest.fixture
def stay() -> list[str]:
    return [m.text for m in split_messages((DATA / "adt-stay-mllp.hl7").read_bytes().decode(), "")]


_BUFFERS: dict[int, bytes] = {}


def _recv_ack(sock: socket.socket) -> hl7.Message:
    """The next ACK frame on ``sock`` (ACKs of pipelined messages may share one recv)."""
    data = _BUFFERS.pop(sock.fileno(), b"")
    while b"\x1c\r" not in data:
        chunk = sock.recv(4096)
        assert chunk, "connection closed before the ACK"
        data += chunk
    block, rest = data.split(b"\x1c\r", 1)
    if rest:
        _BUFFERS[sock.fileno()] = rest
    assert block.startswith(b"\x0b")
    return hl7.parse(block[1:].decode())


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return sock


@pytest.fixture
def running(workspace: Workspace) -> Iterator[Running]:
    _BUFFERS.clear()
    run = _start(workspace, batch_size=3, batch_seconds=0.05)
    yield run
    if run.thread.is_alive():
        run.stop()


@pytest.mark.slow
def test_ack_after_commit_and_lake_matches_the_file_ingest(
    running: Running, workspace: Workspace, stay: list[str]
) -> None:
    with _connect(running.port) as sock:
        for text in stay:
            sock.sendall(frame(text.encode()))
            ack = _recv_ack(sock)
            assert str(ack.segment("MSA")(1)) == "AA"
            assert str(ack.segment("MSA")(2)) == str(hl7.parse(text).segment("MSH")(10))
            # Durable before the ACK: the message is already in the lake's raw table.
            found = Lake(workspace.lake_dir).query("SELECT count(*) AS n FROM resources")
            assert found["n"][0].as_py() >= 1
    stats = running.stop()
    assert (stats.messages, stats.accepted, stats.refused) == (6, 6, 0)
    expected = lake_rows_of_file(workspace.root.parent / "file-lake", DATA / "adt-stay-mllp.hl7")
    got = lake_rows(workspace.lake_dir)
    for table in ("patients", "encounters", "movements", "locations"):
        assert got[table] == expected[table]
    events = [e for e in AuditLog(workspace).list() if e.action == "data.ingest_hl7"]
    assert events and all(e.outcome == "ok" for e in events)
    assert sum(e.details["applied"] for e in events) == 6
    assert not any("MRN2002" in str(e.details) for e in events)


def lake_rows_of_file(lake_dir: Path, path: Path) -> dict[str, list[dict[str, object]]]:
    from caretwin.ingest import ingest_paths

    ingest_paths(lake_dir, [path])
    return lake_rows(lake_dir)


@pytest.mark.slow
def test_invalid_messages_get_nak_with_err_and_are_quarantined(
    running: Running, workspace: Workspace
) -> None:
    messages = [m.text for m in split_messages((DATA / "adt-invalid.hl7").read_text(), "")]
    codes = []
    with _connect(running.port) as sock:
        for text in messages:
            sock.sendall(frame(text.encode()))
            ack = _recv_ack(sock)
            codes.append(str(ack.segment("MSA")(1)))
            if codes[-1] != "AA":
                err = ack.segment("ERR")
                assert str(err(3)(1)(1)) in {"100", "101", "102", "103", "200", "201", "204", "207"}
                assert "MRN" not in str(ack)
    running.stop()
    # orphan PID (AR), no PV1, no PID-3, bad EVN-2, A31 (AR), ORU (AR), PV1-45<44, class X,
    # valid A04, valid A01, A03 before admission, A12 with nothing to cancel
    assert codes == ["AR", "AE", "AE", "AE", "AR", "AR", "AE", "AE", "AA", "AA", "AE", "AE"]
    rows = Lake(workspace.lake_dir).read_table("quarantine").to_pylist()
    assert len(rows) == 9  # the orphan frame is refused at the frame level, not quarantined
    assert all(r["source_file"].startswith("mllp://127.0.0.1:") for r in rows)


def test_split_frames_pipelining_and_junk_between_frames(
    running: Running, workspace: Workspace, stay: list[str]
) -> None:
    data = b"\n".join(frame(t.encode()) for t in stay[:3])  # a stray newline between frames
    with _connect(running.port) as sock:
        for i in range(0, len(data), 7):  # 7-byte TCP writes: every frame split many times
            sock.sendall(data[i : i + 7])
        acks = [_recv_ack(sock) for _ in range(3)]
    assert [str(a.segment("MSA")(2)) for a in acks] == ["RS-2001", "RS-2002", "RS-2003"]
    assert all(str(a.segment("MSA")(1)) == "AA" for a in acks)
    running.stop()
    assert lake_rows(workspace.lake_dir)["encounters"][0]["class_code"] == "IMP"


@pytest.mark.slow
def test_two_concurrent_clients_and_the_hl7_library_client(
    running: Running, workspace: Workspace, stay: list[str]
) -> None:
    others = [
        m.text
        for m in split_messages((DATA / "adt-a12-cancel-transfer.hl7").read_bytes().decode(), "")
    ]
    results: dict[str, list[str]] = {}

    def send_all(name: str, texts: list[str]) -> None:
        with MLLPClient("127.0.0.1", running.port) as client:
            results[name] = []
            for text in texts:
                reply = client.send_message(text)
                results[name].append(
                    str(hl7.parse(reply.strip(b"\x0b\x1c\r").decode()).segment("MSA")(1))
                )

    threads = [
        threading.Thread(target=send_all, args=("stay", stay)),
        threading.Thread(target=send_all, args=("a12", others)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert results == {"stay": ["AA"] * 6, "a12": ["AA"] * 3}
    stats = running.stop()
    assert stats.connections == 2
    assert len(lake_rows(workspace.lake_dir)["encounters"]) == 2


def test_resent_message_is_acknowledged_once_stored(running: Running, stay: list[str]) -> None:
    with _connect(running.port) as sock:
        for _ in range(2):
            sock.sendall(frame(stay[0].encode()))
            assert str(_recv_ack(sock).segment("MSA")(1)) == "AA"
    stats = running.stop()
    assert (stats.accepted, stats.duplicates) == (1, 1)


def test_max_messages_stops_the_listener_after_answering(
    workspace: Workspace, stay: list[str]
) -> None:
    run = _start(workspace, batch_size=100, batch_seconds=30.0, max_messages=2)
    with _connect(run.port) as sock:
        sock.sendall(frame(stay[0].encode()) + frame(stay[1].encode()))
        # The batch is neither full nor old: shutdown commits it, then answers.
        acks = [_recv_ack(sock) for _ in range(2)]
    run.thread.join(TIMEOUT)
    assert not run.thread.is_alive()
    assert [str(a.segment("MSA")(1)) for a in acks] == ["AA", "AA"]
    assert run.result[0].batches == 1
    assert Lake(workspace.lake_dir).counts()["encounters"] == 1
