"""``caretwin auth``: single sign-on checks for the IT team that configures the provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from caretwin.cli.common import (
    FORMAT_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
)
from caretwin.cli.tables import Column, print_table

auth_app = typer.Typer(
    help="Sign-in settings: check the OpenID Connect provider and its tokens.",
    no_args_is_help=True,
)


@auth_app.command("oidc-check")
def oidc_check(
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        help="A file holding an access or ID token from the provider: validate it and show "
        "the user and roles CareTwin maps it to.",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Fetch the provider's discovery document and keys, show the settings (never the
    secret) and, with --token-file, the actor a token maps to."""
    with cli_errors(fmt):
        from caretwin.errors import ConfigError
        from caretwin.services.context import ServiceContext
        from caretwin.services.oidc import check_oidc

        token = None
        if token_file is not None:
            try:
                token = token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read {token_file}: {exc.strerror}") from exc
        result = check_oidc(ServiceContext.for_cli(workspace), token)
        if fmt == OutputFormat.json:
            print_json(result.to_dict())
            return
        rows: list[list[Any]] = [
            ["issuer", result.issuer],
            ["authorization endpoint", result.authorization_endpoint],
            ["token endpoint", result.token_endpoint],
            ["key set", result.jwks_uri],
            ["signing keys", ", ".join(result.key_ids) or "(no key ids)"],
            ["algorithms", ", ".join(result.signing_algs)],
            ["client id", result.client_id],
            ["client secret", result.client_secret],
            ["token endpoint auth", result.token_endpoint_auth],
            ["audience", ", ".join(result.audience)],
            ["scopes", " ".join(result.scopes)],
            ["provision", result.provision],
            ["roles claim", result.roles_claim or "-"],
            *[[f"role map: {k}", ", ".join(v)] for k, v in result.role_map.items()],
            ["default roles", ", ".join(result.default_roles) or "-"],
        ]
        if result.token_checked:
            rows += [
                ["token", f"valid {result.token_kind} token"],
                ["subject", result.subject or ""],
                ["user", result.user or ""],
                ["roles", ", ".join(result.roles)],
                ["permissions", ", ".join(result.permissions)],
            ]
        print_table([Column("setting"), Column("value", fit="end")], rows, title="OIDC")


def register(app: typer.Typer) -> None:
    app.add_typer(auth_app, name="auth")
