"""``caretwin listen mllp`` as a real process and ``caretwin hl7 parse``: no PHI in the output."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import hl7
import pytest
from tests.hl7_helpers import DATA
from typer.testing import CliRunner

from caretwin.cli.app import app
from caretwin.hl7v2 import frame, split_messages
from caretwin.workspace import Workspace


@pytest.mark.slow
def test_listen_mllp_process_acks_then_exits_with_a_summary(workspace: Workspace) -> None:
    text = split_messages((DATA / "adt-out-of-order.hl7").read_text(), "")[1].text
    env = {**os.environ, "CARETWIN_WORKSPACE": str(workspace.root)}
    args = ["listen", "mllp", "--port", "0", "--max-messages", "1", "--batch-seconds", "0.1"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from caretwin.cli.app import main; main()",
            *args,
            "--format",
            "json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    port = int(re.search(r":(\d+) \(MLLP\)", line).group(1))
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(frame(text.encode()))
        data = b""
        while not data.endswith(b"\x1c\r"):
            data += sock.recv(4096)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert str(hl7.parse(data[1:-2].decode()).segment("MSA")(1)) == "AA"
    summary = json.loads(out)
    assert (summary["messages"], summary["accepted"]) == (1, 1)


def test_hl7_parse_shows_mapping_without_phi(workspace: Workspace) -> None:
    result = CliRunner().invoke(
        app,
        ["hl7", "parse", str(DATA / "adt-invalid.hl7"), "--format", "json"],
        env={"CARETWIN_WORKSPACE": str(workspace.root)},
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    # A04, A01, A03 and A12 parse; their conflicts with the lake's state show only at ingest.
    assert [r["valid"] for r in rows].count(True) == 4
    assert rows[2]["reason"] == "PID-3 patient identifier is required"
    for phi in ("MRN50", "Testpatient", "19700412", "2025-02-0"):
        assert phi not in result.output
