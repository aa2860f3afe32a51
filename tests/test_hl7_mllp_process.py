"""``caretwin listen mllp`` as a real process: clean shutdown on SIGTERM/SIGINT with the session
audited, and the open-file limit (300 idle connections; descriptors exhausted) without a flood
of log lines or a starved sender."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
from tests.mllp_helpers import (
    TIMEOUT,
    AckReader,
    msa,
    send_accepted,
    start_process,
    stay_messages,
)

from caretwin.audit import AuditLog
from caretwin.hl7v2 import frame
from caretwin.hl7v2.listener import EVICT_IDLE
from caretwin.lake import Lake
from caretwin.workspace import Workspace

# Refused as a message type; the ACK builder of the time raised on it (TypeError).
NOT_ADT = "MSH|^~\\&|A|B|C|D|20250101||ADT|X1|P|2.5"


def _stored(ws: Workspace) -> int:
    found = Lake(ws.lake_dir).query("SELECT count(*) AS n FROM resources")
    return int(found["n"][0].as_py())


@pytest.mark.slow
def test_sigterm_shuts_down_cleanly_commits_pending_and_audits_the_session(
    workspace: Workspace,
) -> None:
    stay = stay_messages()
    run = start_process(workspace.root, ["--batch-size", "3", "--batch-seconds", "30"])
    with socket.create_connection(("127.0.0.1", run.port), timeout=TIMEOUT) as sock:
        acks = AckReader(sock)
        sock.sendall(b"".join(frame(t.encode()) for t in (stay[0], NOT_ADT, stay[1])))
        assert [msa(acks.next()) for _ in range(3)] == [
            ("AA", "RS-2001"),
            ("AR", "X1"),
            ("AA", "RS-2002"),
        ]
        sock.sendall(frame(stay[2].encode()))  # waits in a batch that is neither full nor old
        time.sleep(1.5)
        run.proc.send_signal(signal.SIGTERM)
        assert msa(acks.next()) == ("AA", "RS-2003")  # committed and answered at shutdown
    out, _ = run.proc.communicate(timeout=60)
    assert run.proc.returncode == 0, bytes(run.stderr)
    assert "stopped: 4 messages on 1 connections" in out.decode()
    assert b"Traceback" not in run.stderr
    events = AuditLog(workspace).list()
    start = [e for e in events if e.action == "data.listen_mllp" and e.outcome == "started"]
    end = [e for e in events if e.action == "data.listen_mllp" and e.outcome != "started"]
    assert len(start) == 1 and start[0].details["port"] == run.port
    assert len(end) == 1 and end[0].outcome == "ok"
    details = end[0].details
    assert (details["connections"], details["messages"]) == (1, 4)
    assert (details["accepted"], details["refused"], details["commit_errors"]) == (3, 1, 0)
    assert _stored(workspace) == 3


@pytest.mark.slow
def test_300_idle_connections_at_a_low_fd_limit_do_not_starve_a_sender(
    workspace: Workspace,
) -> None:
    stay = stay_messages()
    limit = "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))"
    run = start_process(workspace.root, ["--batch-seconds", "0.05"], prelude=limit)
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", run.port), timeout=TIMEOUT))
        time.sleep(EVICT_IDLE + 0.3)
        send_accepted(run.port, stay[:3])
    finally:
        for s in idle:
            s.close()
    code, out = run.terminate()
    assert code == 0
    assert "3 stored" in out and "connections refused" in out
    assert len(run.stderr) < 2000, bytes(run.stderr)[:2000]
    assert b"Too many open files" not in run.stderr
    assert _stored(workspace) == 3


_HOG = """
import os, pathlib, resource, threading, time
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
def hog(folder=pathlib.Path(os.environ["MLLP_TEST_DIR"])):
    while not (folder / "hog").exists():
        time.sleep(0.02)
    held = []
    try:
        while True:
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    os.close(held.pop())  # touching a file needs a descriptor too
    (folder / "hogged").touch()
    held.append(os.open(os.devnull, os.O_RDONLY))
    while not (folder / "release").exists():
        time.sleep(0.02)
    for fd in held:
        os.close(fd)
threading.Thread(target=hog, daemon=True).start()
"""


@pytest.mark.slow
def test_out_of_descriptors_backs_off_with_one_line_and_recovers(
    workspace: Workspace, tmp_path: Path
) -> None:
    stay = stay_messages()
    run = start_process(
        workspace.root,
        ["--batch-seconds", "0.05"],
        prelude=_HOG,
        extra_env={"MLLP_TEST_DIR": str(tmp_path)},
    )
    (tmp_path / "hog").touch()
    deadline = time.monotonic() + TIMEOUT
    while not (tmp_path / "hogged").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    waiting = [
        socket.create_connection(("127.0.0.1", run.port), timeout=TIMEOUT) for _ in range(50)
    ]
    time.sleep(2.0)  # accept() fails with EMFILE all along
    (tmp_path / "release").touch()
    try:
        with socket.create_connection(("127.0.0.1", run.port), timeout=TIMEOUT) as sock:
            acks = AckReader(sock)
            sock.sendall(frame(stay[0].encode()))
            assert msa(acks.next()) == ("AA", "RS-2001")
    finally:
        for s in waiting:
            s.close()
    code, _out = run.terminate(signal.SIGINT)
    assert code == 0
    lines = bytes(run.stderr).decode().splitlines()
    assert sum("cannot accept connections (Too many open files" in line for line in lines) == 1
    assert len(run.stderr) < 2000, bytes(run.stderr)[:2000]
