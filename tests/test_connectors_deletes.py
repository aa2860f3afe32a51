"""Resources deleted on the server leave the current tables after the next pull (issue item 12).

REST through the type's ``_history`` where the server declares it, else through the id
reconciliation pass on request; Bulk through the manifest's ``deleted`` files. The raw layer keeps
every version and the tombstone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from tests.fhirserver import FhirTestServer
from tests.fhirserver.data import current_ids, lake_ids, patient, stamp
from tests.fhirserver.fixtures import hospital_server, source_ctx
from tests.fhirserver.server import now_instant

from caretwin.connectors import SourceConfig
from caretwin.lake import Lake
from caretwin.services import sources as svc
from caretwin.services.context import ServiceContext
from caretwin.services.ingestion import ingest
from caretwin.workspace import Workspace

pytestmark = pytest.mark.slow

N = 8


@pytest.fixture
def server() -> Iterator[FhirTestServer]:
    with hospital_server(N) as srv:
        srv.export_file_size = 5
        yield srv


def _ctx(workspace: Workspace, server: FhirTestServer, **options: object) -> ServiceContext:
    config = SourceConfig.model_validate(
        {"name": "ehr", "base_url": server.base_url, "page_size": 3, "poll_interval": 0.01}
        | options
    )
    return source_ctx(workspace, config)


def _patients_table(ws: Workspace) -> set[str]:
    rows = Lake(ws.lake_dir).query("SELECT patient_id FROM patients")
    return set(rows["patient_id"].to_pylist())


def _delete_over_http(server: FhirTestServer, ref: str) -> None:
    resp = httpx.delete(f"{server.base_url}/{ref}")
    assert resp.status_code == 204


def test_rest_pull_applies_deletes_from_the_type_history(
    workspace: Workspace, server: FhirTestServer
) -> None:
    ctx = _ctx(workspace, server)
    first = svc.pull(ctx, "ehr", types=["Patient", "Encounter"])
    assert first.delete_checks["Patient"] == "history: first pull, nothing to compare"
    _delete_over_http(server, "Patient/p3")
    _delete_over_http(server, "Encounter/e5")
    # p6 is deleted and then created again: it must stay, with its new version
    server.delete("Patient", "p6", at=stamp(800))
    server.add(patient(6, minute=900))
    report = svc.pull(ctx, "ehr", types=["Patient", "Encounter"])
    assert report.status == "complete"
    assert report.deleted == {"Patient": 2, "Encounter": 1}  # p6's delete is on record too
    assert report.delete_checks["Patient"] == "history: 2 delete(s) found"
    assert any("/fhir/Patient/_history?_since=" in p for _, p in server.requests)
    assert current_ids(workspace, "Patient") == {f"p{i}" for i in range(N)} - {"p3"}
    assert "p3" not in _patients_table(workspace) and "p6" in _patients_table(workspace)
    assert current_ids(workspace, "Encounter") == {f"e{i}" for i in range(N)} - {"e5"}
    assert "p3" in lake_ids(workspace, "Patient")  # the raw layer keeps its history
    tomb = Lake(workspace.lake_dir).query(
        "SELECT count(*) AS n FROM resources WHERE resource_id = 'p3' AND deleted"
    )
    assert tomb["n"][0].as_py() == 1
    # the next pull reads the same history again: nothing changes
    again = svc.pull(ctx, "ehr", types=["Patient", "Encounter"])
    assert again.deleted == {} and again.snapshot_id is None


def test_server_without_history_reconciles_ids_on_request_within_the_source_scope(
    workspace: Workspace, server: FhirTestServer, tmp_path: Path
) -> None:
    server.supports_history = False
    ctx = _ctx(workspace, server)
    # a patient brought by hand, not by this source: reconciliation must leave it alone
    by_hand = tmp_path / "Patient.hand.ndjson"
    by_hand.write_bytes(orjson.dumps(patient(500)) + b"\n")
    ingest(ctx, [by_hand])
    svc.pull(ctx, "ehr", types=["Patient"])
    server.delete("Patient", "p2")
    plain = svc.pull(ctx, "ehr", types=["Patient"])
    assert plain.deleted == {} and "p2" in current_ids(workspace, "Patient")
    assert plain.delete_checks["Patient"].startswith("not checked")
    assert not any("_history" in p for _, p in server.requests)
    report = svc.pull(ctx, "ehr", types=["Patient"], reconcile=True)
    assert report.status == "complete"
    assert report.deleted == {"Patient": 1}
    assert report.delete_checks["Patient"] == "reconciled: 1 delete(s) found"
    assert any("_elements=id" in p for _, p in server.requests)
    assert current_ids(workspace, "Patient") == ({f"p{i}" for i in range(N)} - {"p2"}) | {"p500"}
    assert "p2" not in _patients_table(workspace)
    # p2 comes back, is pulled, and is deleted a second time: the second delete applies too
    server.add(patient(2), last_updated="2026-06-01T00:00:00Z")
    svc.pull(ctx, "ehr", types=["Patient"])
    assert "p2" in current_ids(workspace, "Patient")
    server.delete("Patient", "p2")
    assert svc.pull(ctx, "ehr", types=["Patient"], reconcile=True).deleted == {"Patient": 1}
    assert "p2" not in current_ids(workspace, "Patient")


def test_source_option_reconciles_and_an_inconsistent_listing_deletes_nothing(
    workspace: Workspace, server: FhirTestServer
) -> None:
    server.supports_history = False
    ctx = _ctx(workspace, server, reconcile_deletes=True)
    svc.pull(ctx, "ehr", types=["Patient"])
    server.delete("Patient", "p1")
    # The server's total disagrees with the ids its pages gave (as when records move between
    # pages while they are read): nothing may be deleted on that basis, and the pull says so.
    server.total_bias = 3
    report = svc.pull(ctx, "ehr", types=["Patient"])
    assert report.status == "partial" and report.deleted == {}
    assert "nothing deleted" in report.incomplete["Patient"]
    assert current_ids(workspace, "Patient") == {f"p{i}" for i in range(N)}
    server.total_bias = 0
    assert svc.pull(ctx, "ehr", types=["Patient"]).deleted == {"Patient": 1}


def test_bulk_export_applies_the_manifest_deleted_files(
    workspace: Workspace, server: FhirTestServer
) -> None:
    ctx = _ctx(workspace, server)
    svc.pull(ctx, "ehr", bulk=True, types=["Patient", "Encounter"])
    server.delete("Patient", "p4")
    server.delete("Encounter", "e4")
    server.delete("Encounter", "e7")
    report = svc.pull(ctx, "ehr", bulk=True, types=["Patient", "Encounter"])
    assert report.status == "complete"
    assert report.deleted == {"Patient": 1, "Encounter": 2}
    assert report.delete_checks["*"] == "bulk: 1 deleted file(s) in the manifest"
    assert (Path(report.staging_dir) / "0-deleted.000.ndjson").exists()
    assert (Path(report.staging_dir) / ".deleted" / "0-deleted.000.ndjson").exists()
    assert current_ids(workspace, "Patient") == {f"p{i}" for i in range(N)} - {"p4"}
    assert current_ids(workspace, "Encounter") == {f"e{i}" for i in range(N)} - {"e4", "e7"}
    assert "p4" not in _patients_table(workspace)
    # p4 comes back and is exported, then is deleted a second time: that delete applies too,
    # though the manifest's entry for it reads exactly like the first one
    server.add(patient(4), last_updated=now_instant())
    assert svc.pull(ctx, "ehr", bulk=True, types=["Patient"]).fetched == {"Patient": 1}
    assert "p4" in current_ids(workspace, "Patient")
    server.delete("Patient", "p4")
    again = svc.pull(ctx, "ehr", bulk=True, types=["Patient"])
    assert again.deleted == {"Patient": 1}
    assert "p4" not in current_ids(workspace, "Patient")
