"""``caretwin serve`` as a real process on a free loopback port, used with the CLI's own users
and tokens: health, a simulation run through the API and its report, 403 and 401 audited, and
a job a killed server left running marked failed at the next start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from caretwin.access import Actor
from caretwin.services.context import ServiceContext
from caretwin.services.jobs import submit_simulation
from caretwin.store.jobs import Job
from caretwin.workspace import Workspace

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from caretwin.cli.app import main; main()", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    ws_path = tmp_path / "ws"
    _cli("init", str(ws_path))
    ws = Workspace.open(ws_path)
    # A job a killed server left running: the next start must fail it, saying why.
    stale = submit_simulation(
        ServiceContext(ws, Actor("old", frozenset({"admin"}))), "reference-hospital"
    )
    with ws.session() as session:
        row = session.get(Job, stale.job_id)
        assert row is not None
        row.status = "running"
    ws.close()
    base, proc = _start(ws_path)
    try:
        yield base, ws_path, proc
    finally:
        _stop(proc)


def _start(ws_path: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """``caretwin serve`` on a free port, once its health check answers."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from caretwin.cli.app import main; main()",
            "serve",
            "--port",
            str(port),
            "--workspace",
            str(ws_path),
        ],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return base, proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise AssertionError(proc.stderr.read() if proc.stderr else "no answer in 60 s")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _user(ws: Path, name: str, role: str) -> dict[str, str]:
    _cli("users", "add", name, "--full-name", f"Dr {name}", "--role", role, "--workspace", str(ws))
    token = _cli("tokens", "create", "--user", name, "--workspace", str(ws)).strip()
    assert token.startswith("ct_") and "\n" not in token
    return {"Authorization": f"Bearer {token}"}


def test_serve_end_to_end(server: tuple[str, Path, subprocess.Popen[bytes]]) -> None:
    base, ws_path, _proc = server
    health = httpx.get(f"{base}/api/v1/health")
    assert health.json()["status"] == "ok"
    assert health.headers["x-frame-options"] == "DENY"
    assert "server" not in health.headers  # uvicorn's banner is off

    # no credentials: 401 with the challenge
    r = httpx.get(f"{base}/api/v1/runs")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "not_authenticated"

    analyst = _user(ws_path, "ann", "clinician")
    viewer = _user(ws_path, "vic", "viewer")
    auditor = _user(ws_path, "aud", "auditor")

    body: dict[str, Any] = {
        "model": "reference-hospital",
        "replications": 2,
        "run_days": 3,
        "warmup_days": 1,
        "seed": 7,
    }
    # a viewer may read runs but not simulate: 403 with the envelope
    r = httpx.post(f"{base}/api/v1/simulations", json=body, headers=viewer)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "access_denied"

    r = httpx.post(f"{base}/api/v1/simulations", json=body, headers=analyst)
    assert r.status_code == 202
    job_url = base + r.headers["location"]
    deadline = time.monotonic() + 180
    while (job := httpx.get(job_url, headers=analyst).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    assert job["status"] == "done", job
    report = httpx.get(base + job["report_url"], headers=viewer)
    assert report.status_code == 200 and b"<html" in report.content[:500].lower()
    assert "sandbox" in report.headers["content-security-policy"]

    # the denial and the 401 are in the audit trail, read through the API by an auditor
    events = httpx.get(
        f"{base}/api/v1/audit", params={"action": "api.request", "limit": 200}, headers=auditor
    ).json()["items"]
    seen = {(e["actor"], e["target"], e["outcome"]) for e in events}
    assert ("vic", "POST /api/v1/simulations", "denied") in seen
    assert ("anonymous", "GET /api/v1/runs", "denied") in seen
    assert ("ann", "POST /api/v1/simulations", "ok") in seen
    verify = httpx.get(f"{base}/api/v1/audit/verify", headers=auditor)
    assert verify.status_code == 200 and verify.json()["ok"] is True

    # the job the previous (killed) server left running was failed at start-up, with why
    with Workspace.open(ws_path) as ws, ws.session() as session:
        (stale,) = session.query(Job).filter(Job.actor == "old").all()
        assert stale.status == "failed"
        assert stale.error is not None and "server stopped" in stale.error["message"]


def test_a_job_running_when_the_server_is_killed_is_failed_at_the_next_start(
    tmp_path: Path,
) -> None:
    ws_path = tmp_path / "ws"
    _cli("init", str(ws_path))
    h = _user(ws_path, "ann", "clinician")
    base, proc = _start(ws_path)
    try:
        body = {"model": "reference-hospital", "replications": 50, "seed": 1}
        url = (
            base
            + httpx.post(f"{base}/api/v1/simulations", json=body, headers=h).headers["location"]
        )
        deadline = time.monotonic() + 60
        while httpx.get(url, headers=h).json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.kill()  # SIGKILL: no chance to tidy up
        proc.wait()
    base, proc = _start(ws_path)
    try:
        job = httpx.get(base + url.removeprefix(url.split("/api/")[0]), headers=h).json()
    finally:
        _stop(proc)
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "interrupted"
    assert "server stopped" in job["error"]["message"]
