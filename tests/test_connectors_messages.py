"""Clear messages for a server's surprises (issue item 13): links to another origin, a
synchronous ``$export``, and ``--resume`` with no job on record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fhirserver import FhirTestServer
from tests.fhirserver.data import current_ids, patient
from typer.testing import CliRunner

from caretwin.access import Actor
from caretwin.cli.app import app
from caretwin.connectors import SourceConfig
from caretwin.connectors.http import ConnectorError
from caretwin.errors import ConfigError
from caretwin.services import sources as svc
from caretwin.services.context import ServiceContext
from caretwin.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def server() -> Iterator[FhirTestServer]:
    with FhirTestServer(require_token=True) as srv:
        srv.static_tokens.add("tok")
        for i in range(6):
            srv.add(patient(i, minute=i))
        yield srv


def _ctx(
    workspace: Workspace, server: FhirTestServer, monkeypatch: pytest.MonkeyPatch
) -> ServiceContext:
    monkeypatch.setenv("EHR_TOKEN", "tok")
    ctx = ServiceContext(workspace=workspace, actor=Actor("tester", frozenset({"admin"})))
    config = SourceConfig.model_validate(
        {
            "name": "ehr",
            "base_url": server.base_url,
            "auth": {"mode": "bearer", "token_env": "EHR_TOKEN"},
            "page_size": 4,
            "max_retries": 0,
            "poll_interval": 0.01,
        }
    )
    svc.add_source(ctx, config)
    return ctx


def test_links_to_another_origin_say_the_credentials_were_withheld(
    workspace: Workspace, server: FhirTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _ctx(workspace, server, monkeypatch)
    server.link_host = "localhost"  # the server names itself localhost; the source 127.0.0.1
    report = svc.pull(ctx, "ehr", types=["Patient"])
    assert report.status == "partial"
    message = report.incomplete["Patient"]
    port = server.base_url.rsplit(":", 1)[1].split("/")[0]
    assert f"http://localhost:{port}" in message and f"http://127.0.0.1:{port}" in message
    assert "credentials were withheld for safety" in message
    assert f"caretwin sources set-url ehr http://localhost:{port}/fhir" in message
    assert "tok" not in message
    # the fix the message names works, and keeps the watermarks
    svc.set_base_url(ctx, "ehr", f"http://localhost:{port}/fhir")
    assert svc.pull(ctx, "ehr", types=["Patient"]).status == "complete"
    assert current_ids(workspace, "Patient") == {f"p{i}" for i in range(6)}


def test_bulk_status_url_on_another_origin_names_both_origins(
    workspace: Workspace, server: FhirTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _ctx(workspace, server, monkeypatch)
    server.link_host = "localhost"
    with pytest.raises(ConnectorError, match="credentials were withheld") as info:
        svc.pull(ctx, "ehr", bulk=True)
    assert "http://127.0.0.1:" in info.value.message and "http://localhost:" in info.value.message


def test_synchronous_export_gets_a_clear_message_and_nothing_to_resume(
    workspace: Workspace, server: FhirTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _ctx(workspace, server, monkeypatch)
    server.export_sync = True
    with pytest.raises(ConnectorError) as info:
        svc.pull(ctx, "ehr", bulk=True)
    message = info.value.message
    assert "answered the export kick-off with 200 and a Bundle instead of 202" in message
    assert "does not support asynchronous Bulk Data" in message and "REST search" in message
    # no server job came of it: nothing to resume, and nothing blocks the next attempt
    with pytest.raises(ConfigError, match="nothing to resume"):
        svc.pull(ctx, "ehr", resume=True)
    server.export_sync = False
    assert svc.pull(ctx, "ehr", bulk=True).status == "complete"
    assert [p.status for p in svc.show_source(ctx, "ehr").pulls] == ["complete", "failed"]


def test_resume_on_the_command_line_with_no_job_says_nothing_to_resume(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", ws]).exit_code == 0
    add = ["sources", "add", "fhir", "ehr", "--base-url", "http://127.0.0.1:9/fhir", "-w", ws]
    assert runner.invoke(app, add).exit_code == 0
    result = runner.invoke(app, ["pull", "ehr", "--resume", "--format", "json", "-w", ws])
    assert result.exit_code == ConfigError.exit_code
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "config_error"
    assert error["message"].startswith("nothing to resume: no unfinished bulk export of 'ehr'")
    result = runner.invoke(app, ["pull", "ehr", "--bulk", "--resume", "-w", ws])
    assert result.exit_code == ConfigError.exit_code
    assert "nothing to resume" in result.stdout + result.stderr
