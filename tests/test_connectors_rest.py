"""REST search pulls against a real HTTP server: paging, watermarks, retries, faults, crash."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fhirserver import Fault, FhirTestServer
from tests.fhirserver.data import lake_ids, patient, quarantine, stamp
from tests.fhirserver.fixtures import hospital_server, source_ctx

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.connectors import SourceConfig
from caretwin.connectors.records import watermarks
from caretwin.errors import AccessDenied
from caretwin.services import sources as svc
from caretwin.services.context import ServiceContext
from caretwin.workspace import Workspace

N = 23


@pytest.fixture
def server() -> Iterator[FhirTestServer]:
    with hospital_server(N) as srv:
        yield srv


@pytest.fixture
def ctx(workspace: Workspace, server: FhirTestServer) -> ServiceContext:
    config = SourceConfig(
        name="ehr",
        base_url=server.base_url,
        page_size=5,
        timeout=0.5,
        max_retries=3,
        backoff_base=0.01,
        backoff_cap=0.05,
    )
    return source_ctx(workspace, config)


def _pull(ctx: ServiceContext, **kw: object) -> svc.PullReport:
    return svc.pull(ctx, "ehr", types=["Patient", "Encounter"], **kw)


def test_pages_follow_next_links_and_land_in_the_lake(
    ctx: ServiceContext, server: FhirTestServer
) -> None:
    report = _pull(ctx)
    assert report.status == "complete"
    assert report.fetched == {"Patient": N, "Encounter": N}
    assert report.stats["pages"] == 10  # ceil(23 / 5) per type
    assert server.count("/fhir/Patient") == 5
    assert lake_ids(ctx.workspace, "Patient") == {f"p{i}" for i in range(N)}
    assert watermarks(ctx.workspace, "ehr") == {"Patient": stamp(N - 1), "Encounter": stamp(N - 1)}
    events = [e for e in AuditLog(ctx.workspace).list(action="data.pull") if e.outcome == "ok"]
    assert events[-1].details["fetched"] == {"Patient": N, "Encounter": N}
    assert events[-1].details["pages"] == 10


@pytest.mark.slow
def test_incremental_pull_asks_only_for_newer_records(
    ctx: ServiceContext, server: FhirTestServer
) -> None:
    _pull(ctx)
    server.add(patient(100, minute=500))
    server.add(patient(3, minute=501))  # an update of an existing patient
    before = len(lake_ids(ctx.workspace, "Patient"))
    report = _pull(ctx)
    # ge<watermark>: the boundary record of each type is read again, then deduplicated
    assert report.fetched == {"Patient": 3, "Encounter": 1}
    assert any(
        f"_lastUpdated=ge{stamp(N - 1)}".replace(":", "%3A") in p for _, p in server.requests
    )
    assert len(lake_ids(ctx.workspace, "Patient")) == before + 1
    assert watermarks(ctx.workspace, "ehr")["Patient"] == stamp(501)
    assert "p100" in lake_ids(ctx.workspace, "Patient")


def test_429_and_5xx_are_retried_honouring_retry_after(
    ctx: ServiceContext, server: FhirTestServer
) -> None:
    server.faults += [
        Fault("/fhir/Patient", status=429, headers={"Retry-After": "1"}),
        Fault("/fhir/Encounter", status=503),
        Fault("/fhir/Encounter", status=500),
    ]
    started = time.monotonic()
    report = _pull(ctx)
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    assert report.status == "complete"
    assert report.stats["retries"] == 3
    assert report.stats["retry_reasons"] == {"HTTP 429": 1, "HTTP 500": 1, "HTTP 503": 1}
    assert lake_ids(ctx.workspace, "Encounter") == {f"e{i}" for i in range(N)}


def test_slow_response_times_out_and_is_retried(
    ctx: ServiceContext, server: FhirTestServer
) -> None:
    server.faults.append(Fault("/fhir/Patient", kind="slow", delay=1.0))
    report = _pull(ctx)
    assert report.stats["retry_reasons"] == {"ReadTimeout": 1}
    assert len(lake_ids(ctx.workspace, "Patient")) == N


def test_malformed_page_once_is_retried(ctx: ServiceContext, server: FhirTestServer) -> None:
    server.faults.append(Fault("/fhir/Patient", kind="malformed"))
    report = _pull(ctx)
    assert report.status == "complete"
    assert report.stats["retry_reasons"] == {"invalid JSON body": 1}
    assert len(lake_ids(ctx.workspace, "Patient")) == N


@pytest.mark.slow
def test_persistently_malformed_page_is_quarantined_and_watermark_held(
    ctx: ServiceContext, server: FhirTestServer
) -> None:
    # Pages 1-2 are fine, the third keeps failing: 10 records arrive, then paging stops.
    server.faults.append(Fault("/fhir/Patient?_count=5&_offset=10", kind="malformed", times=99))
    report = _pull(ctx)
    assert report.status == "partial"
    assert "Patient" in report.incomplete
    assert report.fetched["Patient"] == 10
    assert len(lake_ids(ctx.workspace, "Patient")) == 10  # nothing valid lost
    assert len(lake_ids(ctx.workspace, "Encounter")) == N
    rows = quarantine(ctx.workspace)
    assert len(rows) == 1
    assert rows[0]["source_file"].endswith("Patient.page-0003.json") and rows[0]["line"] == 1
    assert "Patient" not in watermarks(ctx.workspace, "ehr")
    server.faults.clear()
    assert _pull(ctx).status == "complete"
    assert len(lake_ids(ctx.workspace, "Patient")) == N


def test_retry_budget_exhausted_keeps_what_arrived(
    ctx: ServiceContext, server: FhirTestServer
) -> None:
    server.faults.append(Fault("/fhir/Encounter", status=503, times=99))
    report = _pull(ctx)
    assert report.status == "partial"
    assert "giving up after 4 attempts" in report.incomplete["Encounter"]
    assert len(lake_ids(ctx.workspace, "Patient")) == N
    assert set(watermarks(ctx.workspace, "ehr")) == {"Patient"}


def test_crash_between_download_and_ingest_loses_nothing(
    ctx: ServiceContext, server: FhirTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(ctx: ServiceContext, paths: list[Path]) -> None:
        raise RuntimeError("simulated crash after download")

    monkeypatch.setattr(svc, "ingest", crash)
    with pytest.raises(RuntimeError):
        _pull(ctx)
    assert watermarks(ctx.workspace, "ehr") == {}
    assert lake_ids(ctx.workspace, "Patient") == set()
    monkeypatch.undo()
    report = _pull(ctx)
    assert report.fetched == {"Patient": N, "Encounter": N}
    assert len(lake_ids(ctx.workspace, "Patient")) == N
    pulls = svc.show_source(ctx, "ehr").pulls
    assert [p.status for p in pulls] == ["complete", "failed"]


def test_bearer_token_from_env_is_sent_and_not_stored(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = ServiceContext(workspace=workspace, actor=Actor("tester", frozenset({"admin"})))
    with FhirTestServer(require_token=True) as srv:
        srv.static_tokens.add("s3cret-token")
        srv.add(patient(1))
        monkeypatch.setenv("EHR_TOKEN", "s3cret-token")
        cfg = SourceConfig.model_validate(
            {
                "name": "tok",
                "base_url": srv.base_url,
                "auth": {"mode": "bearer", "token_env": "EHR_TOKEN"},
            }
        )
        svc.add_source(ctx, cfg)
        assert svc.pull(ctx, "tok", types=["Patient"]).fetched == {"Patient": 1}
        monkeypatch.setenv("EHR_TOKEN", "wrong")
        refused = svc.pull(ctx, "tok", types=["Patient"])
        assert refused.status == "partial" and "HTTP 401" in refused.incomplete["Patient"]
    shown = svc.show_source(ctx, "tok")
    assert "s3cret" not in str(shown) and "s3cret" not in str(AuditLog(workspace).list())


def test_analyst_may_pull_but_not_add_sources(ctx: ServiceContext) -> None:
    analyst = ServiceContext(workspace=ctx.workspace, actor=Actor("ana", frozenset({"analyst"})))
    with pytest.raises(AccessDenied):
        svc.add_source(analyst, SourceConfig(name="x", base_url="http://127.0.0.1:9"))
    assert svc.pull(analyst, "ehr", types=["Patient"]).status == "complete"
