"""``caretwin sources`` and ``caretwin pull`` end to end against the test FHIR server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fhirserver import Fault, FhirTestServer
from tests.fhirserver.data import encounter, patient
from typer.testing import CliRunner

from caretwin.cli.app import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


@pytest.mark.slow
def test_sources_and_pulls_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = str(tmp_path / "ws")
    assert _run("init", ws)[0] == 0
    token_file = tmp_path / "token"
    token_file.write_text("cli-token\n")
    with FhirTestServer(require_token=True) as srv:
        srv.static_tokens.add("cli-token")
        for i in range(12):
            srv.add(patient(i, minute=i))
            srv.add(encounter(i, minute=i))
        code, out = _run(
            "sources",
            "add",
            "fhir",
            "ehr",
            "--base-url",
            srv.base_url,
            "--auth",
            "bearer",
            "--token-file",
            str(token_file),
            "--page-size",
            "5",
            "--max-retries",
            "1",
            "-w",
            ws,
        )
        assert code == 0, out
        code, out = _run("sources", "list", "--format", "json", "-w", ws)
        assert json.loads(out)[0]["auth"] == "bearer"

        code, out = _run(
            "pull", "ehr", "-t", "Patient", "-t", "Encounter", "--format", "json", "-w", ws
        )
        assert code == 0, out
        report = json.loads(out)
        assert report["fetched"] == {"Patient": 12, "Encounter": 12}
        assert report["stats"]["pages"] == 6

        code, out = _run("pull", "ehr", "--bulk", "--since", "2025-12-31", "-w", ws)
        assert code == 0, out
        assert "status complete" in out

        srv.faults.append(Fault("/fhir/Patient", status=503, times=99))
        code, out = _run("pull", "ehr", "-t", "Patient", "-w", ws)
        assert code == 4  # incomplete: reported, and the exit code says so

        code, out = _run("sources", "show", "ehr", "--format", "json", "-w", ws)
        shown = json.loads(out)
        assert "cli-token" not in out
        assert shown["source"]["auth"]["token_file"] == str(token_file.resolve())
        assert [p["status"] for p in shown["pulls"]] == ["partial", "complete", "complete"]
        assert set(shown["watermarks"]) == {"Patient", "Encounter", "*"}

    code, out = _run("pull", "nope", "--format", "json", "-w", ws)
    assert code == 2 and json.loads(out)["error"]["code"] == "config_error"
    code, out = _run(
        "sources", "add", "fhir", "bad", "--base-url", "x", "--auth", "smart", "-w", ws
    )
    assert code == 2
    code, out = _run("sources", "set-url", "ehr", "http://localhost:9/fhir/", "-w", ws)
    assert code == 0 and "now reads http://localhost:9/fhir" in out
    assert _run("sources", "set-url", "ehr", "localhost:9", "-w", ws)[0] == 2
    code, out = _run(
        "sources", "set-url", "ehr", "http://fhir.example.org/r4", "--format", "json", "-w", ws
    )
    assert code == 0 and "unencrypted" in json.loads(out)["warnings"][0]  # bearer over http
    _run("sources", "set-url", "ehr", "http://localhost:9/fhir", "-w", ws)
    shown = json.loads(_run("sources", "show", "ehr", "--format", "json", "-w", ws)[1])
    assert shown["source"]["base_url"] == "http://localhost:9/fhir"
    assert set(shown["watermarks"]) == {"Patient", "Encounter", "*"}  # kept
    assert _run("sources", "remove", "ehr", "-w", ws)[0] == 0
    assert json.loads(_run("sources", "list", "--format", "json", "-w", ws)[1]) == []
