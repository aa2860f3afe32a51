"""FHIR R4 AuditEvent export (validated with fhir.resources) and syslog forwarding on loopback."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

import orjson
import pytest
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.audit.settings import AuditSettings, SyslogSettings
from caretwin.errors import AccessDenied
from caretwin.services.audit import export_audit
from caretwin.services.context import ServiceContext
from caretwin.workspace import Workspace

ADMIN = Actor("ada", frozenset({"admin"}))
VIEWER = Actor("vic", frozenset({"viewer"}))


def _forward_to(workspace: Workspace, port: int, protocol: Literal["udp", "tcp"]) -> None:
    """Point the workspace's audit syslog forwarding at ``127.0.0.1:port``."""
    syslog = SyslogSettings(host="127.0.0.1", port=port, protocol=protocol)
    workspace.config = workspace.config.model_copy(update={"audit": AuditSettings(syslog=syslog)})


def test_fhir_export_is_valid_r4_auditevent_ndjson(workspace: Workspace, tmp_path: Path) -> None:
    log = AuditLog(workspace)
    log.record(ADMIN, "sim.run", "RH1", "ok", {"run_id": "sim-1"})
    log.record(VIEWER, "sim.run", "RH1", "denied", {"permission": "sim.run"})
    log.record(ADMIN, "runs.list", "runs", "error")
    out = tmp_path / "audit.ndjson"
    result = export_audit(ServiceContext(workspace, ADMIN), out)
    lines = out.read_bytes().splitlines()
    assert result.events == len(lines) == 4  # genesis + 3 (the export's own event comes after)
    resources = [FhirAuditEvent.model_validate(orjson.loads(line)) for line in lines]
    genesis, ok, denied, error = resources
    assert genesis.subtype[0].code == "audit.genesis"
    assert (ok.action, ok.outcome, ok.agent[0].who.display) == ("E", "0", "ada")
    assert ok.agent[0].requestor is True and ok.source.observer.display.endswith(
        workspace.config.name
    )
    assert ok.entity[0].what.display == "RH1"
    assert (denied.outcome, denied.agent[0].role[0].text) == ("4", "viewer")
    assert (error.action, error.outcome) == ("R", "8")
    details = {d.type: d.valueString for d in ok.entity[0].detail}
    assert details["seq"] == "2" and len(details["hash"]) == 64
    assert str(ok.recorded).startswith(str(log.list(action="sim.run")[-1].at.date()))


def test_export_needs_audit_read(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(AccessDenied):
        export_audit(ServiceContext(workspace, VIEWER), tmp_path / "a.ndjson")
    assert not (tmp_path / "a.ndjson").exists()


def test_syslog_forwarding_rfc5424_over_udp_without_phi(workspace: Workspace) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        _forward_to(workspace, port, "udp")
        AuditLog(workspace).record(
            ADMIN, "data.ingest", "/data/Jane_Doe_1970.ndjson", "denied", {"mrn": "12345"}
        )
        line = sock.recv(65536).decode()
        AuditLog(workspace).record(ADMIN, "runs.list", "runs", "ok")
        second = sock.recv(65536).decode()
    assert second.startswith("<86>1 ") and 'seq="3"' in second  # authpriv.info
    assert line.startswith("<84>1 ")  # authpriv (10) * 8 + warning (4)
    assert 'action="data.ingest"' in line and 'outcome="denied"' in line and 'seq="2"' in line
    assert "Jane" not in line and "12345" not in line and "ndjson" not in line


def test_syslog_forwarding_over_tcp_one_message_per_line(workspace: Workspace) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(5)
        port = server.getsockname()[1]
        _forward_to(workspace, port, "tcp")
        log = AuditLog(workspace)
        log.record(ADMIN, "sim.run", "RH1", "ok")
        log.record(ADMIN, "sim.run", "RH1", "error")
        conn, _ = server.accept()
        with conn:
            conn.settimeout(5)
            data = b""
            while data.count(b"\n") < 2:
                data += conn.recv(65536)
    first, second = data.decode().splitlines()
    assert first.startswith("<86>1 ") and second.startswith("<83>1 ")  # info, error
    assert 'seq="2"' in first and 'seq="3"' in second


def test_syslog_collector_down_loses_lines_not_operations(workspace: Workspace) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    _forward_to(workspace, port, "tcp")
    log = AuditLog(workspace)
    log.record(ADMIN, "sim.run", "RH1", "ok")
    assert log.list()[0].target == "RH1" and log.verify().ok


def test_reading_patient_level_data_is_audited_as_such(
    workspace: Workspace, tmp_path: Path
) -> None:
    from caretwin.services.ingestion import lake_counts

    ctx = ServiceContext(workspace, ADMIN)
    lake_counts(ctx)  # needs data.read: the lake's patient-level tables
    (event,) = AuditLog(workspace).list(action="data.tables")
    assert event.details["patient_data"] is True
    export_audit(ctx, tmp_path / "a.ndjson")
    lines = (tmp_path / "a.ndjson").read_bytes().splitlines()
    (read,) = [
        FhirAuditEvent.model_validate(orjson.loads(line))
        for line in lines
        if b'"data.tables"' in line
    ]
    roles = [e.role.display for e in read.entity if e.role is not None]  # R4: a Coding
    assert roles == ["Patient"]
    assert "patient_data" not in AuditLog(workspace).list(action="audit.export")[0].details
