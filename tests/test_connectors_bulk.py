"""Bulk Data $export against a real HTTP server: polling, streaming, errors, resume, cleanup."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fhirserver import Fault, FhirTestServer
from tests.fhirserver.data import lake_ids, patient, quarantine
from tests.fhirserver.fixtures import hospital_server, source_ctx

from caretwin.connectors import SourceConfig
from caretwin.connectors.bulk import STATE_FILE, BulkState
from caretwin.connectors.http import ConnectorError
from caretwin.connectors.records import watermarks
from caretwin.errors import ConfigError
from caretwin.services import sources as svc
from caretwin.services.context import ServiceContext
from caretwin.workspace import Workspace

N = 25


@pytest.fixture
def server() -> Iterator[FhirTestServer]:
    with hospital_server(N) as srv:
        srv.export_file_size = 10  # three files per type
        srv.polls_before_ready = 2
        yield srv


def _ctx(workspace: Workspace, server: FhirTestServer, retries: int = 2) -> ServiceContext:
    config = SourceConfig(
        name="ehr",
        base_url=server.base_url,
        timeout=2.0,
        max_retries=retries,
        backoff_base=0.01,
        backoff_cap=0.05,
        poll_interval=0.01,
    )
    return source_ctx(workspace, config)


def _all_in_lake(ws: Workspace) -> None:
    assert lake_ids(ws, "Patient") == {f"p{i}" for i in range(N)}
    assert lake_ids(ws, "Encounter") == {f"e{i}" for i in range(N)}


def test_system_export_polls_downloads_ingests_and_deletes(
    workspace: Workspace, server: FhirTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = _ctx(workspace, server)
    with caplog.at_level(logging.INFO, logger="caretwin.connectors.bulk"):
        report = svc.pull(ctx, "ehr", bulk=True, types=["Patient", "Encounter"])
    assert report.status == "complete"
    assert report.fetched == {"Patient": N, "Encounter": N}
    assert server.count("/fhir/_status/") == 3  # two 202s, then the manifest
    assert "export in progress: 50%" in caplog.text
    assert server.count("/fhir/_status/", method="DELETE") == 1
    assert any("_type=Patient%2CEncounter" in p for _, p in server.requests)
    _all_in_lake(workspace)
    job = next(iter(server.jobs.values()))
    assert watermarks(workspace, "ehr") == {
        "Patient": job.manifest["transactionTime"],
        "Encounter": job.manifest["transactionTime"],
    }
    state = BulkState.load(Path(report.staging_dir))
    assert state is not None and state.deleted
    assert all(f["done"] and len(f["sha256"]) == 64 for f in state.files.values())


@pytest.mark.slow
def test_next_export_uses_since_from_watermark(
    workspace: Workspace, server: FhirTestServer
) -> None:
    ctx = _ctx(workspace, server)
    svc.pull(ctx, "ehr", bulk=True)
    server.add(patient(200, minute=24 * 60 * 365 * 2))  # updated after the first export ran
    server.resources["Patient"][-1]["meta"]["lastUpdated"] = "2099-01-01T00:00:00Z"
    report = svc.pull(ctx, "ehr", bulk=True)
    assert any("_since=" in p for _, p in server.requests if "$export" in p)
    assert report.fetched == {"Patient": 1}
    assert "p200" in lake_ids(workspace, "Patient")


@pytest.mark.parametrize("mode", ["encoding", "files"])
def test_gzip_content_encoding_and_gz_files(
    workspace: Workspace, server: FhirTestServer, mode: str
) -> None:
    server.gzip_encoding = mode == "encoding"
    server.gzip_files = mode == "files"
    report = svc.pull(_ctx(workspace, server), "ehr", bulk=True)
    assert report.fetched == {"Patient": N, "Encounter": N}
    names = {p.name for p in Path(report.staging_dir).iterdir()}
    assert ("Patient.000.ndjson.gz" in names) == (mode == "files")
    _all_in_lake(workspace)


@pytest.mark.slow
def test_truncated_line_and_error_file_are_quarantined_with_file_and_line(
    workspace: Workspace, server: FhirTestServer
) -> None:
    server.export_truncate = {"Encounter"}
    server.export_errors = [
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": "error", "code": "processing", "diagnostics": "Observation/o1 failed"},
                {"severity": "error", "code": "exception", "diagnostics": "Observation/o2 failed"},
            ],
        }
    ]
    report = svc.pull(_ctx(workspace, server), "ehr", bulk=True)
    _all_in_lake(workspace)  # nothing valid lost
    rows = sorted(quarantine(workspace), key=lambda r: (r["source_file"], r["reason"]))
    assert len(rows) == 3 and report.quarantined == 3 and report.source_errors == 2
    truncated = [r for r in rows if r["source_file"].endswith("Encounter.002.ndjson")]
    assert truncated[0]["line"] == 6 and "invalid JSON" in truncated[0]["reason"]
    errors = [r for r in rows if ".errors/OperationOutcome.000.ndjson" in r["source_file"]]
    assert [e["line"] for e in errors] == [1, 1]
    assert {e["reason"] for e in errors} == {
        "source reported error (processing): Observation/o1 failed",
        "source reported error (exception): Observation/o2 failed",
    }


def test_dropped_download_resumes_without_refetching_finished_files(
    workspace: Workspace, server: FhirTestServer
) -> None:
    ctx = _ctx(workspace, server, retries=0)
    server.faults.append(Fault("/Patient-1.ndjson", kind="drop"))
    with pytest.raises(ConnectorError, match="RemoteProtocolError"):
        svc.pull(ctx, "ehr", bulk=True)
    assert lake_ids(workspace, "Patient") == set()
    assert watermarks(workspace, "ehr") == {}
    with pytest.raises(ConfigError, match="resume it, or restart"):
        svc.pull(ctx, "ehr", bulk=True)
    report = svc.pull(ctx, "ehr", bulk=True, resume=True)
    assert report.status == "complete"
    assert server.count("$export") == 1  # no second kick-off
    assert server.count("/Patient-0.ndjson") == 1  # finished before the drop: not refetched
    assert server.count("/Patient-1.ndjson") == 2
    assert server.count("/fhir/_status/", method="DELETE") == 1
    _all_in_lake(workspace)


def test_crash_before_ingest_resumes_from_staged_files(
    workspace: Workspace, server: FhirTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _ctx(workspace, server)

    def crash(ctx: ServiceContext, paths: list[Path]) -> None:
        raise RuntimeError("simulated crash after download")

    monkeypatch.setattr(svc, "ingest", crash)
    with pytest.raises(RuntimeError):
        svc.pull(ctx, "ehr", bulk=True)
    monkeypatch.undo()
    downloads = server.count("/files/")
    report = svc.pull(ctx, "ehr", bulk=True, resume=True)
    assert server.count("/files/") == downloads  # every file was already on disk
    assert (Path(report.staging_dir) / STATE_FILE).exists()
    _all_in_lake(workspace)


@pytest.mark.slow
def test_restart_abandons_the_unfinished_export(
    workspace: Workspace, server: FhirTestServer
) -> None:
    ctx = _ctx(workspace, server, retries=0)
    server.faults.append(Fault("/files/", status=500))
    with pytest.raises(ConnectorError):
        svc.pull(ctx, "ehr", bulk=True)
    report = svc.pull(ctx, "ehr", bulk=True, restart=True)
    assert report.status == "complete" and server.count("$export") == 2
    statuses = sorted(p.status for p in svc.show_source(ctx, "ehr").pulls)
    assert statuses == ["abandoned", "complete"]
    with pytest.raises(ConfigError, match="no unfinished"):
        svc.pull(ctx, "ehr", bulk=True, resume=True)


@pytest.mark.parametrize(
    ("kw", "path"),
    [({"patient": True}, "/fhir/Patient/$export"), ({"group": "g1"}, "/fhir/Group/g1/$export")],
)
def test_patient_and_group_level_kickoff(
    workspace: Workspace, server: FhirTestServer, kw: dict[str, object], path: str
) -> None:
    report = svc.pull(_ctx(workspace, server), "ehr", bulk=True, **kw)
    assert server.count(path) == 1
    assert report.status == "complete"
    _all_in_lake(workspace)
