"""Identity: users, argon2id passwords, lockout, API tokens, the OS user from the uid, shared
workspaces, break-glass. Real SQLite workspaces and real subprocesses; no mocks."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from caretwin.access import Actor, Permission, os_login
from caretwin.cli.app import app
from caretwin.errors import AccessDenied, ConfigError, NotAuthenticated
from caretwin.services import identity, tokens, users
from caretwin.services.context import ServiceContext
from caretwin.store.identity import ApiToken, User
from caretwin.store.models import utcnow
from caretwin.workspace import Workspace

ADMIN = Actor("root", frozenset({"admin"}))
PASSWORD = "correct horse battery staple"


def _ctx(ws: Workspace) -> ServiceContext:
    return ServiceContext(ws, ADMIN)


def test_os_identity_comes_from_the_uid_not_the_environment(tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    Workspace.init(ws_dir).close()
    env = {**os.environ, "USER": "mallory", "LOGNAME": "mallory", "PYTHONPATH": _src()}
    run = subprocess.run(
        [sys.executable, "-c", "from caretwin.cli.app import main; main()",
         "audit", "list", "--format", "json", "-w", str(ws_dir)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    me = pwd.getpwuid(os.getuid()).pw_name
    assert me != "mallory" and os_login() == me
    with Workspace.open(ws_dir) as ws:
        actors = {e.actor for e in ServiceContext(ws, ADMIN).audit.list()}
    assert "mallory" not in actors and me in actors  # the audit.list event names the uid's user


def _src() -> str:
    return str(Path(__file__).resolve().parents[1] / "src")


def test_password_is_stored_as_an_argon2id_hash_and_never_audited(workspace: Workspace) -> None:
    users.add_user(_ctx(workspace), "alice", "Alice A. Smith", ["clinician"], PASSWORD)
    with workspace.session() as session:
        row = session.get(User, "alice")
        assert row is not None and row.password_hash is not None
        stored = row.password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    trail = orjson.dumps([e.to_dict() for e in _ctx(workspace).audit.list()]).decode()
    assert PASSWORD not in trail and "argon2" not in trail
    actor = identity.authenticate_password(workspace, "alice", PASSWORD)
    assert actor.name == "alice" and actor.roles == {"clinician"}


def test_lockout_after_repeated_failures_is_audited_and_refuses_the_right_password(
    workspace: Workspace,
) -> None:
    users.add_user(_ctx(workspace), "bob", "Bob Jones", ["viewer"], PASSWORD)
    limit = workspace.config.security.lockout_after
    for _ in range(limit):
        with pytest.raises(NotAuthenticated, match="invalid user name or password"):
            identity.authenticate_password(workspace, "bob", "wrong")
    with pytest.raises(NotAuthenticated, match="locked"):
        identity.authenticate_password(workspace, "bob", PASSWORD)
    log = _ctx(workspace).audit
    assert len(log.list(action="auth.lockout")) == 1
    failures = log.list(action="auth.password")
    assert len(failures) == limit + 1 and {e.outcome for e in failures} == {"denied"}
    # an admin's password reset lifts the lock
    users.reset_password(_ctx(workspace), "bob", PASSWORD + "!")
    assert identity.authenticate_password(workspace, "bob", PASSWORD + "!").name == "bob"


def test_unknown_user_and_disabled_user_are_refused(workspace: Workspace) -> None:
    with pytest.raises(NotAuthenticated, match="invalid user name or password"):
        identity.authenticate_password(workspace, "nobody-here", PASSWORD)
    users.add_user(_ctx(workspace), "carol", "Carol King", ["viewer"], PASSWORD)
    users.disable_user(_ctx(workspace), "carol")
    with pytest.raises(NotAuthenticated, match="disabled"):
        identity.authenticate_password(workspace, "carol", PASSWORD)
    users.enable_user(_ctx(workspace), "carol")
    assert identity.authenticate_password(workspace, "carol", PASSWORD).name == "carol"


def test_role_change_is_audited_with_before_and_after(any_workspace: Workspace) -> None:
    workspace = any_workspace
    users.add_user(_ctx(workspace), "dave", "Dave Brown", ["clinician"])
    users.set_roles(_ctx(workspace), "dave", ["auditor", "quality"])
    (event,) = _ctx(workspace).audit.list(action="users.set_roles")
    assert event.outcome == "ok" and event.target == "dave"
    assert event.details == {"before": ["clinician"], "after": ["auditor", "quality"]}
    with pytest.raises(ConfigError, match="unknown role"):
        users.set_roles(_ctx(workspace), "dave", ["superuser"])
    clinician = ServiceContext(workspace, Actor("eve", frozenset({"clinician"})))
    with pytest.raises(AccessDenied):
        users.set_roles(clinician, "dave", ["admin"])
    denied = _ctx(workspace).audit.list(action="users.set_roles")[0]
    assert denied.outcome == "denied" and denied.actor == "eve"


def test_token_create_prints_only_the_token_and_stores_its_hash(workspace: Workspace) -> None:
    users.add_user(_ctx(workspace), "alice", "Alice A. Smith", ["clinician"])
    runner = CliRunner()
    ws_arg = ["-w", str(workspace.root)]
    out = runner.invoke(app, ["tokens", "create", "--user", "alice", *ws_arg])
    assert out.exit_code == 0, out.output
    token = out.stdout.strip()
    assert out.stdout == token + "\n" and token.startswith("ct_") and len(token) > 40
    out = runner.invoke(app, ["tokens", "create", "--user", "alice", "--expires", "2h",
                              "--format", "json", *ws_arg])  # fmt: skip
    made = orjson.loads(out.stdout)
    assert set(made) == {"token", "id", "expires"}
    with workspace.session() as session:
        rows = session.scalars(select(ApiToken)).all()
        stored = " ".join(f"{r.token_hash} {r.prefix}" for r in rows)
    assert token not in stored and made["token"] not in stored
    assert identity.hash_token(token) in stored
    actor = identity.authenticate_token(workspace, made["token"])
    assert actor.name == "alice" and actor.kind == "token"
    trail = orjson.dumps([e.to_dict() for e in _ctx(workspace).audit.list()]).decode()
    assert token not in trail and made["token"] not in trail and made["id"] in trail


def test_revoked_expired_and_unknown_tokens_are_refused(any_workspace: Workspace) -> None:
    workspace = any_workspace
    users.add_user(_ctx(workspace), "alice", "Alice A. Smith", ["clinician"])
    live = tokens.create_token(_ctx(workspace), "alice")
    revoked = tokens.create_token(_ctx(workspace), "alice")
    tokens.revoke_token(_ctx(workspace), revoked.id)
    expired = tokens.create_token(_ctx(workspace), "alice", timedelta(minutes=5))
    with workspace.session() as session:
        row = session.get(ApiToken, expired.id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert identity.authenticate_token(workspace, live.token).name == "alice"
    for token, reason in ((revoked.token, "revoked"), (expired.token, "expired"),
                          ("ct_" + "x" * 43, "unknown token")):  # fmt: skip
        with pytest.raises(NotAuthenticated, match=reason):
            identity.authenticate_token(workspace, token)
    refusals = _ctx(workspace).audit.list(action="auth.token")
    assert [e.details["reason"] for e in refusals] == ["unknown token", "expired", "revoked"]
    listed = {t.id: t for t in tokens.list_tokens(_ctx(workspace), "alice")}
    assert listed[revoked.id].revoked_at is not None and listed[live.id].last_used_at


def test_a_scoped_token_holds_only_its_scopes(workspace: Workspace) -> None:
    users.add_user(_ctx(workspace), "ana", "Ana Lima", ["analyst"])
    made = tokens.create_token(_ctx(workspace), "ana", scopes=["runs.read"])
    actor = identity.authenticate_token(workspace, made.token)
    assert actor.permissions == {Permission.RUNS_READ}
    with pytest.raises(ConfigError, match="unknown scope"):
        tokens.create_token(_ctx(workspace), "ana", scopes=["everything"])
    assert tokens.parse_expiry("30d") == timedelta(days=30)
    with pytest.raises(ConfigError):
        tokens.parse_expiry("400d")


def test_session_idle_logoff_policy(workspace: Workspace) -> None:
    policy = workspace.config.security
    now = utcnow()
    assert not identity.session_expired(policy, now - timedelta(minutes=1), now)
    idle = timedelta(minutes=policy.session_idle_minutes)
    assert identity.session_expired(policy, now - idle, now)


def test_shared_workspace_maps_os_users_and_refuses_unknown_ones(tmp_path: Path) -> None:
    """The OS user who inits a shared workspace is its first admin; once that row is gone (or
    for any OS user without one) the CLI refuses, audited."""
    me = os_login()
    ws = _shared(tmp_path)
    ctx = ServiceContext.for_cli(ws.root)
    assert ctx.actor.name == me and ctx.actor.roles == {"admin"}
    users.add_user(ctx, "zed", "Zed Zero", ["admin"])
    users.set_roles(ctx, me, ["viewer"])
    viewer = ServiceContext.for_cli(ws.root)
    assert viewer.actor.roles == {"viewer"}
    with pytest.raises(AccessDenied):
        users.list_users(viewer)
    with ws.session() as session:  # an OS user with no row
        row = session.get(User, me)
        assert row is not None
        session.delete(row)
    with pytest.raises(NotAuthenticated, match="not an enabled user"):
        ServiceContext.for_cli(ws.root)
    (event,) = ServiceContext(ws, ADMIN).audit.list(action="auth.os_user")
    assert event.outcome == "denied" and event.actor == me
    for command in (["runs", "list"], ["demo", "--reps", "4"]):
        out = CliRunner().invoke(app, [*command, "-w", str(ws.root)])
        assert out.exit_code == 8 and "not an enabled user" in out.output, command
    ws.close()


def _shared(tmp_path: Path) -> Workspace:
    from caretwin.services.workspace import init_workspace

    group = pwd.getpwuid(os.getuid()).pw_gid
    return init_workspace(tmp_path / "shared", Actor.os_user(),
                          shared_group=grp.getgrgid(group).gr_name).workspace  # fmt: skip


def test_the_last_admin_of_a_shared_workspace_stays(tmp_path: Path) -> None:
    ws = _shared(tmp_path)
    ctx = ServiceContext.for_cli(ws.root)
    with pytest.raises(AccessDenied, match="last enabled admin"):
        users.set_roles(ctx, os_login(), ["viewer"])
    with pytest.raises(AccessDenied, match="last enabled admin"):
        users.disable_user(ctx, os_login())
    ws.close()


def test_break_glass_grants_admin_loudly_and_expires(tmp_path: Path) -> None:
    ws = _shared(tmp_path)
    me = os_login()
    with ws.session() as session:  # the only admin is gone: the emergency break-glass is for
        row = session.get(User, me)
        assert row is not None
        row.disabled = True
    with pytest.raises(NotAuthenticated):
        ServiceContext.for_cli(ws.root)
    runner = CliRunner()
    out = runner.invoke(app, ["users", "break-glass", "--reason", "INC-42: admin on leave",
                              "--minutes", "5", "-w", str(ws.root)])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "BREAK-GLASS" in out.stderr
    ctx = ServiceContext.for_cli(ws.root)
    assert ctx.actor.kind == identity.BREAK_GLASS and "admin" in ctx.actor.roles
    users.set_roles(ctx, me, ["admin"])  # the fix, audited under the grant
    (event,) = ctx.audit.list(action="security.break_glass")
    assert event.outcome == "ok" and event.details["reason"] == "INC-42: admin on leave"
    with pytest.raises(ConfigError, match="1 to 240 minutes"):
        users.break_glass(ws, "too long", 10_000)
    from caretwin.store.identity import BreakGlassGrant

    with ws.session() as session:  # the grant expires
        for grant in session.scalars(select(BreakGlassGrant)):
            grant.expires_at = utcnow() - timedelta(seconds=1)
        row = session.get(User, me)
        assert row is not None
        row.disabled = True
    with pytest.raises(NotAuthenticated):
        ServiceContext.for_cli(ws.root)
    ws.close()


def test_break_glass_is_refused_on_a_workspace_the_os_user_made(workspace: Workspace) -> None:
    with pytest.raises(ConfigError, match="shared workspaces"):
        users.break_glass(workspace, "why", 5)


def test_as_user_with_a_password_file_acts_as_that_user(workspace: Workspace) -> None:
    users.add_user(_ctx(workspace), "gov", "Grace Overseer", ["governance"], PASSWORD)
    pw = workspace.root.parent / "gov.pw"
    pw.write_text(PASSWORD + "\n")
    ctx = ServiceContext.for_cli(workspace.root, as_user="gov", password_file=pw)
    assert ctx.actor.name == "gov" and ctx.actor.roles == {"governance"}
    pw.write_text("nope\n")
    out = CliRunner().invoke(app, ["users", "list", "--as", "gov", "--password-file", str(pw),
                                   "-w", str(workspace.root)])  # fmt: skip
    assert out.exit_code == 8 and "invalid user name or password" in out.output
    with pytest.raises(ConfigError, match="password file"):
        ServiceContext.for_cli(workspace.root, as_user="gov")


@pytest.fixture
def service_group() -> Iterator[str]:
    """A real group made for the test with groupadd (root only), removed afterwards."""
    if os.getuid() != 0 or shutil.which("groupadd") is None:
        pytest.skip("creating a service group needs root and groupadd")
    name = f"ctt{os.getpid()}"
    subprocess.run(["groupadd", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["groupdel", name], check=False)


def test_shared_init_makes_files_group_readable_by_the_service_group(
    tmp_path: Path, service_group: str
) -> None:
    out = CliRunner().invoke(
        app, ["init", str(tmp_path / "ws"), "--shared", "--group", service_group]
    )
    assert out.exit_code == 0, out.output
    root = tmp_path / "ws"
    gid = grp.getgrnam(service_group).gr_gid
    for path, mode in (
        (root, 0o2750),
        (root / "lake", 0o2750),
        (root / "runs", 0o2750),
        (root / "caretwin.db", 0o640),
        (root / "caretwin.yaml", 0o640),
    ):
        st = path.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_gid) == (mode, gid), path
    with Workspace.open(root) as ws:
        assert ws.shared and ws.config.group == service_group
        ctx = ServiceContext.for_cli(root)
        with ctx.operation("test.write", Permission.RUNS_READ, "runs"):
            made = ws.runs_dir / "r1" / "manifest.json"
            made.parent.mkdir()
            made.write_text("{}")
        # made inside the operation: the group inherited (setgid), group-readable, not other
        assert made.stat().st_gid == gid and stat.S_IMODE(made.stat().st_mode) == 0o640
        assert stat.S_IMODE(made.parent.stat().st_mode) == 0o2750
        assert [u.name for u in users.list_users(ctx)] == [os_login()]  # its first admin
        fixed = users.set_full_name(ctx, os_login(), "Service Account")
        assert fixed.full_name == "Service Account"
    plain = CliRunner().invoke(app, ["init", str(tmp_path / "plain")])
    assert plain.exit_code == 0
    assert stat.S_IMODE((tmp_path / "plain" / "lake").stat().st_mode) == 0o700


def test_shared_init_refuses_an_unknown_group(tmp_path: Path) -> None:
    out = CliRunner().invoke(
        app, ["init", str(tmp_path / "ws"), "--shared", "--group", "no-such-group-x"]
    )
    assert out.exit_code == 2 and "no group 'no-such-group-x'" in out.output
    assert not (tmp_path / "ws" / "caretwin.yaml").exists()


def test_a_plain_workspace_loads_no_password_hashing(workspace: Workspace) -> None:
    """The CLI's context on a workspace the OS user made skips the user table and argon2
    (35 ms of import on every command otherwise)."""
    code = (
        "import sys; from pathlib import Path\n"
        "from caretwin.services.context import ServiceContext\n"
        f"ctx = ServiceContext.for_cli(Path({str(workspace.root)!r}))\n"
        "assert ctx.actor.roles == {'admin'}\n"
        "print('argon2' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": _src()},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert run.stdout.strip() == "False"


def test_break_glass_by_another_os_user_is_refused_and_audited(tmp_path: Path) -> None:
    """A forked child drops to uid/gid 65534 (not root, not the owner) and tries; the
    workspace is made writable to it so that its denied event can be written."""
    if os.getuid() != 0:
        pytest.skip("dropping to another uid needs root")
    import caretwin.workspace.recover  # noqa: F401 - the child may not read root's site-packages

    base = Path(tempfile.mkdtemp(prefix="ct-bg-", dir="/tmp"))
    try:
        os.chmod(base, 0o777)
        ws = _shared(base)
        ws.close()
        for path in [ws.root, *ws.root.rglob("*")]:
            os.chmod(path, 0o777 if path.is_dir() else 0o666)
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                with Workspace.open(ws.root) as mine:
                    users.break_glass(mine, "not mine to break", 5)
            except AccessDenied:
                code = 0
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        with Workspace.open(ws.root) as opened:
            (event,) = ServiceContext(opened, ADMIN).audit.list(action=users.BREAK_GLASS_ACTION)
        assert event.outcome == "denied" and event.actor == pwd.getpwuid(65534).pw_name
    finally:
        shutil.rmtree(base, ignore_errors=True)
