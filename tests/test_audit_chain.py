"""The tamper-evident audit chain: each kind of direct database tampering is caught and named,
on SQLite and PostgreSQL; appends from several processes never fork the chain."""

from __future__ import annotations

import multiprocessing
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from caretwin.access import Actor
from caretwin.audit import AuditLog
from caretwin.audit.checkpoints import CHECKPOINT_DIR, CHECKPOINT_FILE
from caretwin.audit.settings import AuditSettings
from caretwin.cli.app import app
from caretwin.errors import AuditTampered, ConfigError
from caretwin.services.audit import verify_audit
from caretwin.services.context import ServiceContext
from caretwin.store.models import AuditEvent, utcnow
from caretwin.workspace import Workspace

ADMIN = Actor("ada", frozenset({"admin"}))


def _fill(ws: Workspace, n: int = 8) -> AuditLog:
    log = AuditLog(ws)
    for i in range(n):
        log.record(ADMIN, "sim.run", f"model-{i}", "ok", {"run_id": f"sim-{i}"})
    return log


def _sql(ws: Workspace, sql: str, **params: Any) -> list[Any]:
    with ws.engine.begin() as conn:
        result = conn.execute(text(sql), params)
        return list(result) if result.returns_rows else []


def _id_of(ws: Workspace, seq: int) -> int:
    return int(_sql(ws, "SELECT id FROM audit_events WHERE seq = :s", s=seq)[0][0])


def _problem(ws: Workspace) -> dict[str, Any]:
    with pytest.raises(AuditTampered) as caught:
        verify_audit(ServiceContext(ws, ADMIN))
    problem = caught.value.details["problem"]
    assert problem["message"] in caught.value.message
    return dict(problem)


def test_clean_chain_verifies_and_writes_a_checkpoint(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    result = verify_audit(ServiceContext(any_workspace, ADMIN))
    assert result.ok and result.chained == 9 and result.head_seq == 9  # genesis + 8
    seqs = [r[0] for r in _sql(any_workspace, "SELECT seq FROM audit_events ORDER BY id")]
    assert seqs == list(range(1, 11))  # and the verify itself
    (path,) = result.written
    line = orjson.loads(Path(path).read_bytes().splitlines()[-1])
    assert (line["head_seq"], line["head_hash"]) == (9, result.head_hash)
    again = verify_audit(ServiceContext(any_workspace, ADMIN))  # its own event is chained too
    # the chain's first checkpoint came with its first event; the verify wrote the second
    assert again.ok and again.head_seq == 10 and again.checkpoints == 2


def test_edited_event_is_named(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    victim = _id_of(any_workspace, 4)
    _sql(any_workspace, "UPDATE audit_events SET outcome = 'denied' WHERE id = :i", i=victim)
    problem = _problem(any_workspace)
    assert (problem["kind"], problem["event_id"], problem["seq"]) == ("edited", victim, 4)


def test_edited_details_and_hash_rewritten_without_the_key(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    victim = _id_of(any_workspace, 6)
    _sql(any_workspace, "UPDATE audit_events SET hash = :h WHERE id = :i", h="f" * 64, i=victim)
    problem = _problem(any_workspace)
    assert (problem["kind"], problem["event_id"]) == ("edited", victim)


def test_deleted_event_is_named(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    _sql(any_workspace, "DELETE FROM audit_events WHERE seq = 5")
    problem = _problem(any_workspace)
    assert (problem["kind"], problem["seq"], problem["event_id"]) == ("deleted", 5, None)
    assert "seq 5 missing after event" in problem["message"]


def test_deleted_and_renumbered_is_still_caught(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    _sql(any_workspace, "DELETE FROM audit_events WHERE seq = 5")
    for seq in range(6, 10):  # close the gap
        _sql(any_workspace, "UPDATE audit_events SET seq = :n WHERE seq = :s", n=seq - 1, s=seq)
    problem = _problem(any_workspace)
    assert (problem["kind"], problem["seq"]) == ("deleted", 4)


def _insert(ws: Workspace, seq: int | None, prev: str | None, hash_: str | None) -> int:
    with ws.session() as s:
        row = AuditEvent(
            at=utcnow(), actor="mallory", roles=["admin"], action="sim.run", target="x",
            outcome="ok", details={}, seq=seq, prev_hash=prev, hash=hash_, key_id=None,
        )  # fmt: skip
        s.add(row)
        s.flush()
        return row.id


def test_inserted_row_outside_the_chain(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    new = _insert(any_workspace, None, None, None)
    problem = _problem(any_workspace)
    assert (problem["kind"], problem["event_id"]) == ("inserted", new)


def test_inserted_row_in_the_middle_with_renumbering(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    for seq in range(9, 4, -1):  # make room at seq 5
        _sql(any_workspace, "UPDATE audit_events SET seq = :n WHERE seq = :s", n=seq + 1, s=seq)
    prev = _sql(any_workspace, "SELECT hash FROM audit_events WHERE seq = 4")[0][0]
    new = _insert(any_workspace, 5, prev, "a" * 64)
    problem = _problem(any_workspace)
    assert (problem["kind"], problem["event_id"], problem["seq"]) == ("inserted", new, 5)


def test_inserted_duplicate_of_a_sequence_number(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    prev, hash_ = _sql(any_workspace, "SELECT prev_hash, hash FROM audit_events WHERE seq = 3")[0]
    _sql(any_workspace, "DROP INDEX ux_audit_events_seq")  # an attacker with DDL rights
    new = _insert(any_workspace, 3, prev, hash_)
    problem = _problem(any_workspace)
    assert (problem["kind"], problem["event_id"], problem["seq"]) == ("inserted", new, 3)


def test_reordered_sequence_numbers(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    a, b = _id_of(any_workspace, 4), _id_of(any_workspace, 5)
    _sql(any_workspace, "UPDATE audit_events SET seq = -1 WHERE id = :i", i=a)
    _sql(any_workspace, "UPDATE audit_events SET seq = 4 WHERE id = :i", i=b)
    _sql(any_workspace, "UPDATE audit_events SET seq = 5 WHERE id = :i", i=a)
    problem = _problem(any_workspace)
    assert (problem["kind"], problem["event_id"], problem["seq"]) == ("reordered", b, 4)


def test_reordered_rows_swapped_under_their_ids(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    a, b = _id_of(any_workspace, 4), _id_of(any_workspace, 5)
    cols = "at, actor, roles, action, target, outcome, details, seq, prev_hash, hash, key_id"
    rows = {
        r[0]: r[1:] for r in _sql(any_workspace, f"SELECT id, {cols} FROM audit_events")
    }  # fmt: skip
    names = [c.strip() for c in cols.split(",")]
    _sql(any_workspace, "UPDATE audit_events SET seq = NULL WHERE id IN (:a, :b)", a=a, b=b)
    for target, source in ((a, b), (b, a)):
        values = dict(zip(names, rows[source], strict=True))
        for name in ("roles", "details"):
            values[name] = orjson.dumps(
                orjson.loads(values[name]) if isinstance(values[name], str) else values[name]
            ).decode()
        sets = ", ".join(f"{n} = :{n}" for n in names)
        _sql(any_workspace, f"UPDATE audit_events SET {sets} WHERE id = :id", id=target, **values)
    problem = _problem(any_workspace)
    assert problem["kind"] == "reordered" and problem["event_id"] in (a, b)


def test_content_swapped_between_two_events(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    a, b = _id_of(any_workspace, 4), _id_of(any_workspace, 5)
    ta = _sql(any_workspace, "SELECT target FROM audit_events WHERE id = :i", i=a)[0][0]
    tb = _sql(any_workspace, "SELECT target FROM audit_events WHERE id = :i", i=b)[0][0]
    _sql(any_workspace, "UPDATE audit_events SET target = :t WHERE id = :i", t=tb, i=a)
    _sql(any_workspace, "UPDATE audit_events SET target = :t WHERE id = :i", t=ta, i=b)
    problem = _problem(any_workspace)
    assert problem["event_id"] == a and problem["kind"] in ("edited", "reordered")


def test_deleting_the_newest_rows_is_caught_by_the_checkpoint(any_workspace: Workspace) -> None:
    _fill(any_workspace)
    assert verify_audit(ServiceContext(any_workspace, ADMIN)).ok  # checkpoint at seq 9
    _sql(any_workspace, "DELETE FROM audit_events WHERE seq >= 8")
    problem = _problem(any_workspace)
    assert (problem["kind"], problem["seq"]) == ("truncated", 8)
    assert "seq 8-9 deleted" in problem["message"]


def test_a_forged_checkpoint_is_caught(workspace: Workspace) -> None:
    _fill(workspace)
    assert verify_audit(ServiceContext(workspace, ADMIN)).ok
    path = workspace.root / CHECKPOINT_DIR / CHECKPOINT_FILE
    line = orjson.loads(path.read_bytes().splitlines()[-1])
    line["head_seq"] = 3
    path.write_bytes(path.read_bytes() + orjson.dumps(line) + b"\n")
    assert _problem(workspace)["kind"] == "checkpoint"


def test_events_before_the_chain_are_sealed_by_the_genesis(workspace: Workspace) -> None:
    _sql(workspace, "DELETE FROM audit_events")
    for i in range(3):  # written by a CareTwin without the chain
        _insert(workspace, None, None, None)
        _sql(workspace, "UPDATE audit_events SET target = :t WHERE seq IS NULL AND target = 'x'",
             t=f"old-{i}")  # fmt: skip
    log = _fill(workspace, 2)
    genesis = log.list(action="audit.genesis")[0]
    assert genesis.seq == 1 and genesis.details["sealed_events"] == 3
    assert log.verify().ok
    _sql(workspace, "UPDATE audit_events SET target = 'forged' WHERE target = 'old-1'")
    problem = _problem(workspace)
    assert problem["kind"] == "edited" and "3 events sealed by the genesis" in problem["message"]


def test_key_is_owner_only_and_outside_the_database(workspace: Workspace) -> None:
    _fill(workspace, 1)
    key = workspace.root / "keys" / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    secret = key.read_text().strip()
    assert secret.encode() not in (workspace.root / "caretwin.db").read_bytes()


def test_missing_key_is_an_error_not_a_new_key(workspace: Workspace) -> None:
    _fill(workspace, 1)
    (workspace.root / "keys" / "audit.key").unlink()
    with pytest.raises(ConfigError, match="no audit key"):
        AuditLog(workspace).verify()


def test_configured_secret_wins(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARETWIN_AUDIT_KEY", "ab" * 32)
    _fill(workspace, 2)
    assert AuditLog(workspace).verify().ok
    monkeypatch.setenv("CARETWIN_AUDIT_KEY", "cd" * 32)  # someone else's key: nothing checks
    assert AuditLog(workspace).verify().problem is not None


def test_cli_verify_exits_9_naming_the_event(workspace: Workspace) -> None:
    _fill(workspace)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "-w", str(workspace.root)])
    assert ok.exit_code == 0, ok.output
    assert "audit chain ok" in ok.output
    victim = _id_of(workspace, 3)
    _sql(workspace, "UPDATE audit_events SET actor = 'eve' WHERE id = :i", i=victim)
    bad = runner.invoke(app, ["audit", "verify", "-w", str(workspace.root), "--format", "json"])
    assert bad.exit_code == 9
    envelope = orjson.loads(bad.stdout)
    assert envelope["error"]["code"] == "audit_tampered"
    assert envelope["error"]["details"]["problem"]["event_id"] == victim


def _append_many(root: str, url: str | None, who: int, n: int) -> None:
    ws = Workspace.open(Path(root))
    log = AuditLog(ws)
    for i in range(n):
        log.record(Actor(f"p{who}", frozenset({"admin"})), "sim.run", f"t{i}", "ok", {"i": i})
    ws.close()


@pytest.mark.slow
def test_concurrent_appends_from_processes_never_fork(any_workspace: Workspace) -> None:
    ws = any_workspace
    AuditLog(ws).record(ADMIN, "workspace.init", "x", "ok")  # genesis exists before the race
    mp = multiprocessing.get_context("spawn")
    env_path = os.environ.get("PYTHONPATH")
    assert env_path is None or "src" in env_path
    procs = [mp.Process(target=_append_many, args=(str(ws.root), None, w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    seqs = [r[0] for r in _sql(ws, "SELECT seq FROM audit_events ORDER BY seq")]
    assert seqs == list(range(1, 103))  # genesis + 1 + 4 x 25, contiguous
    assert AuditLog(ws).verify().ok


def test_checkpoints_by_count_and_by_age(workspace: Workspace) -> None:
    path = workspace.root / CHECKPOINT_DIR / CHECKPOINT_FILE
    workspace.config = workspace.config.model_copy(
        update={"audit": AuditSettings(checkpoint_every=5, checkpoint_minutes=30)}
    )

    def heads() -> list[int]:
        return [orjson.loads(line)["head_seq"] for line in path.read_bytes().splitlines()]

    _fill(workspace, 6)  # genesis + 6 events: seq 2 (the first) and seq 5 (every 5th)
    assert heads() == [2, 5]
    old = path.stat().st_mtime - 31 * 60
    os.utime(path, (old, old))  # a quiet half hour later the next event checkpoints
    AuditLog(workspace).record(ADMIN, "sim.run", "later", "ok")
    assert heads() == [2, 5, 8]


def test_upgrading_a_workspace_seals_its_older_events(any_workspace: Workspace) -> None:
    """A workspace from before the chain (schema one revision back, events without chain
    columns) is upgraded on open; its first new event seals the old ones under the genesis."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from caretwin.store.migrate import alembic_config

    ws = any_workspace
    cfg = alembic_config()
    chain = ScriptDirectory.from_config(cfg).get_revision("0004_audit_chain")
    assert chain is not None and isinstance(chain.down_revision, str)
    with ws.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, chain.down_revision)  # the schema an older CareTwin left
    for i in range(3):
        _sql(ws, "INSERT INTO audit_events (at, actor, roles, action, target, outcome, details) "
                 "VALUES (:at, 'old', '[]', 'sim.run', :t, 'ok', '{}')",
             at=utcnow().replace(tzinfo=None), t=f"old-{i}")  # fmt: skip
    ws.close()
    with Workspace.open(ws.root) as upgraded:
        log = _fill(upgraded, 2)
        (genesis,) = log.list(action="audit.genesis")
        assert genesis.details["sealed_events"] == 3 and genesis.seq == 1
        assert [e.seq for e in log.list()][-3:] == [None, None, None]
        assert log.verify().ok
        _sql(upgraded, "DELETE FROM audit_events WHERE target = 'old-0'")
        problem = _problem(upgraded)
        assert problem["kind"] == "deleted" and "3 events sealed" in problem["message"]


def test_a_checkpoint_written_during_verify_is_not_a_truncation(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process appends and checkpoints while verify runs: verify reads the
    checkpoints before the rows, so the newer checkpoint is never ahead of what it checks."""
    import caretwin.audit.verify as verify_mod
    from caretwin.audit.checkpoints import write_checkpoint
    from caretwin.audit.keys import load_key

    _fill(workspace, 3)
    real_session = workspace.session

    appended: list[int] = []

    @contextmanager
    def session_with_a_concurrent_append() -> Iterator[Any]:
        with real_session() as session:
            yield session
        if not appended:  # right after verify read the rows, another writer gets in
            appended.append(1)
            AuditLog(workspace).record(ADMIN, "sim.run", "meanwhile", "ok")
            seq, hash_ = _sql(
                workspace, "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
            )[0]
            write_checkpoint(workspace, load_key(workspace), seq, seq, hash_)

    monkeypatch.setattr(workspace, "session", session_with_a_concurrent_append)
    report = verify_mod.verify_chain(workspace, load_key(workspace))
    assert report.ok, report.problem


def test_a_shared_workspace_gives_the_key_to_its_service_group(tmp_path: Path) -> None:
    import grp
    import pwd

    from caretwin.services.workspace import init_workspace

    group = grp.getgrgid(pwd.getpwuid(os.getuid()).pw_gid).gr_name
    ws = init_workspace(tmp_path / "shared", Actor.os_user(), shared_group=group).workspace
    AuditLog(ws).verify()
    key = ws.root / "keys" / "audit.key"
    checkpoints = ws.root / CHECKPOINT_DIR / CHECKPOINT_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o640
    assert stat.S_IMODE(checkpoints.stat().st_mode) == 0o640
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o2750
    ws.close()
