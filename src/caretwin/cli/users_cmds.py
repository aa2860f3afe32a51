"""``caretwin users`` and ``caretwin tokens``: identities, roles and API tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from caretwin.cli.common import (
    AS_USER_OPTION,
    FORMAT_OPTION,
    PASSWORD_FILE_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
)
from caretwin.cli.tables import Column, print_table

if TYPE_CHECKING:
    from caretwin.services.context import ServiceContext
    from caretwin.services.users import UserInfo

users_app = typer.Typer(
    help="Users of the workspace: full names, roles, passwords, break-glass.",
    no_args_is_help=True,
)
tokens_app = typer.Typer(
    help="API tokens: create (shown once), list, revoke.\n\nSent as Authorization: Bearer.",
    no_args_is_help=True,
)

ROLE_OPTION: Any = typer.Option(..., "--role", help="A role (repeat for several).")
NAME_ARGUMENT: Any = typer.Argument(..., help="User name (the OS login on a shared workspace).")


def _ctx(workspace: Path | None, as_user: str | None, password_file: Path | None) -> ServiceContext:
    from caretwin.services.context import ServiceContext

    return ServiceContext.for_cli(workspace, as_user, password_file)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _print_users(users: list[UserInfo], fmt: OutputFormat) -> None:
    if fmt == OutputFormat.json:
        print_json([u.to_dict() for u in users])
        return
    columns = [
        Column("name"),
        Column("full name", fit="end"),
        Column("roles", fit="end"),
        Column("status"),
        Column("password", drop=2),
        Column("last sign-in", drop=1),
    ]
    rows: list[list[Any]] = [
        [
            u.name,
            u.full_name,
            ", ".join(u.roles),
            "disabled" if u.disabled else ("locked" if u.locked_until else "enabled"),
            "set" if u.has_password else "-",
            _when(u.last_login_at),
        ]
        for u in users
    ]
    print_table(columns, rows, title="users")


def _change_user(
    fmt: OutputFormat,
    workspace: Path | None,
    as_user: str | None,
    password_file: Path | None,
    change: Callable[[ServiceContext], UserInfo],
) -> None:
    """The body every user-changing command shares: sign in, change, print the user after."""
    with cli_errors(fmt):
        _print_users([change(_ctx(workspace, as_user, password_file))], fmt)


def _password(path: Path | None) -> str | None:
    from caretwin.services.identity import read_password_file

    return None if path is None else read_password_file(path)


@users_app.command("add")
def users_add(
    name: str = NAME_ARGUMENT,
    full_name: str = typer.Option(..., "--full-name", help="Printed name signatures carry."),
    role: list[str] = ROLE_OPTION,
    password_file: Path | None = typer.Option(
        None, "--password-file", help="File whose first line is the new user's password."
    ),
    as_user: str | None = AS_USER_OPTION,
    as_password_file: Path | None = typer.Option(
        None, "--as-password-file", help="Password file of the --as user."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Add a user with a full name and one or more roles."""
    from caretwin.services.users import add_user

    _change_user(
        fmt,
        workspace,
        as_user,
        as_password_file,
        lambda ctx: add_user(ctx, name, full_name, role, _password(password_file)),
    )


@users_app.command("list")
def users_list(
    as_user: str | None = AS_USER_OPTION,
    password_file: Path | None = PASSWORD_FILE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """List users, their roles and status."""
    from caretwin.services.users import list_users

    with cli_errors(fmt):
        _print_users(list_users(_ctx(workspace, as_user, password_file)), fmt)


@users_app.command("disable")
def users_disable(
    name: str = NAME_ARGUMENT,
    as_user: str | None = AS_USER_OPTION,
    password_file: Path | None = PASSWORD_FILE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Disable a user: no sign-in, no token, no OS mapping."""
    from caretwin.services.users import disable_user

    _change_user(fmt, workspace, as_user, password_file, lambda ctx: disable_user(ctx, name))


@users_app.command("enable")
def users_enable(
    name: str = NAME_ARGUMENT,
    as_user: str | None = AS_USER_OPTION,
    password_file: Path | None = PASSWORD_FILE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Enable a disabled user again."""
    from caretwin.services.users import enable_user

    _change_user(fmt, workspace, as_user, password_file, lambda ctx: enable_user(ctx, name))


@users_app.command("set-roles")
def users_set_roles(
    name: str = NAME_ARGUMENT,
    role: list[str] = ROLE_OPTION,
    as_user: str | None = AS_USER_OPTION,
    password_file: Path | None = PASSWORD_FILE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Replace a user's roles (audited with the roles before and after)."""
    from caretwin.services.users import set_roles

    _change_user(fmt, workspace, as_user, password_file, lambda ctx: set_roles(ctx, name, role))


@users_app.command("set-full-name")
def users_set_full_name(
    name: str = NAME_ARGUMENT,
    full_name: str = typer.Argument(..., help="Printed name signatures carry."),
    as_user: str | None = AS_USER_OPTION,
    password_file: Path | None = PASSWORD_FILE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Correct a user's full name (audited with the name before and after)."""
    from caretwin.services.users import set_full_name

    _change_user(
        fmt, workspace, as_user, password_file, lambda ctx: set_full_name(ctx, name, full_name)
    )


@users_app.command("reset-password")
def users_reset_password(
    name: str = NAME_ARGUMENT,
    new_password_file: Path = typer.Option(
        ..., "--new-password-file", help="File whose first line is the new password."
    ),
    as_user: str | None = AS_USER_OPTION,
    password_file: Path | None = PASSWORD_FILE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Set a new password for a user and lift a lockout."""
    from caretwin.services.identity import read_password_file
    from caretwin.services.users import reset_password

    _change_user(
        fmt,
        workspace,
        as_user,
        password_file,
        lambda ctx: reset_password(ctx, name, read_password_file(new_password_file)),
    )


@users_app.command("break-glass")
def users_break_glass(
    reason: str = typer.Option(..., "--reason", help="Why emergency access is needed."),
    minutes: int = typer.Option(60, "--minutes", min=1, help="How long the grant lasts."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Emergency admin rights for this OS user on a shared workspace (loudly audited)."""
    from caretwin.services.context import take_cli_workspace
    from caretwin.services.users import break_glass
    from caretwin.workspace import Workspace

    with cli_errors(fmt):
        ws = Workspace.resolve(workspace)
        take_cli_workspace()
        grant = break_glass(ws, reason, minutes)
        typer.secho(
            f"*** BREAK-GLASS: {grant.os_user} is admin on {ws.root} until "
            f"{grant.expires_at:%Y-%m-%d %H:%M} UTC; this is audited and will be reviewed ***",
            fg=typer.colors.RED,
            bold=True,
            err=True,
        )
        if fmt == OutputFormat.json:
            print_json(grant.to_dict())


@tokens_app.command("create")
def tokens_create(
    user: str = typer.Option(..., "--user", help="The user the token acts as."),
    expires: str = typer.Option("30d", "--expires", help="Lifetime: e.g. 30d, 12h, 90m."),
    scope: list[str] = typer.Option(
        [],
        "--scope",
        help="Limit the token to this permission (repeat); default: all of the user's permissions.",
    ),
    as_user: str | None = AS_USER_OPTION,
    password_file: Path | None = PASSWORD_FILE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Create an API token; prints the token alone (it is shown only this once)."""
    from caretwin.services.tokens import create_token, parse_expiry

    with cli_errors(fmt):
        ctx = _ctx(workspace, as_user, password_file)
        made = create_token(ctx, user, parse_expiry(expires), scope or None)
        if fmt == OutputFormat.json:
            print_json(made.to_dict())
        else:
            typer.echo(made.token)


@tokens_app.command("list")
def tokens_list(
    user: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    as_user: str | None = AS_USER_OPTION,
    password_file: Path | None = PASSWORD_FILE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """List API tokens (never the tokens themselves: ids, owners, expiry, last use)."""
    from caretwin.services.tokens import list_tokens

    with cli_errors(fmt):
        found = list_tokens(_ctx(workspace, as_user, password_file), user)
        if fmt == OutputFormat.json:
            print_json([t.to_dict() for t in found])
            return
        columns = [
            Column("id"),
            Column("user"),
            Column("prefix", drop=2),
            Column("scopes", fit="end", drop=1),
            Column("expires"),
            Column("revoked"),
            Column("last used", drop=1),
        ]
        rows: list[list[Any]] = [
            [
                t.id,
                t.user,
                t.prefix + "...",
                ", ".join(t.scopes) or "all",
                _when(t.expires_at),
                _when(t.revoked_at),
                _when(t.last_used_at),
            ]
            for t in found
        ]
        print_table(columns, rows, title="API tokens")


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: str = typer.Argument(..., help="The token's id (from tokens list)."),
    as_user: str | None = AS_USER_OPTION,
    password_file: Path | None = PASSWORD_FILE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Revoke an API token."""
    from caretwin.services.tokens import revoke_token

    with cli_errors(fmt):
        info = revoke_token(_ctx(workspace, as_user, password_file), token_id)
        if fmt == OutputFormat.json:
            print_json(info.to_dict())
        else:
            typer.echo(f"revoked {info.id} of {info.user}")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
