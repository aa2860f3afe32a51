"""The ``caretwin`` command: a Typer app assembled from one module per area.

Each area module exposes ``register(app)``; adding a command group never touches another area's
module. Errors from the :mod:`caretwin.errors` tree become a one-line message (or the JSON error
envelope with ``--format json``) and the error's exit code, never a traceback.

Start-up cost: the root group knows every top-level command by name and one-line help
(:data:`COMMANDS`) and imports an area module only when one of its commands is resolved, so
``caretwin --help`` and ``caretwin --version`` load no area at all and ``caretwin runs list`` loads
only ``runs_cmds``. Area modules in turn import services, pandas, DuckDB and the like inside their
command functions, so ``caretwin COMMAND --help`` stays cheap too. ``tests/test_startup.py`` checks
that :data:`COMMANDS` matches what the areas register.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from caretwin.version import __version__

# name -> (area module under caretwin.cli, the help line shown by ``caretwin --help``), in the
# order ``--help`` lists them. A new top-level command needs a line here (the startup test says so).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "workspace_cmds",
        "Create a workspace: caretwin.yaml, metadata database, lake/ and runs/.",
    ),
    "schema": ("model_cmds", "Print the JSON Schema of the twin definition format."),
    "examples": ("model_cmds", "List the example models shipped with CareTwin, or copy one out."),
    "validate": (
        "model_cmds",
        "Check a twin definition; problems are listed with their field paths.",
    ),
    "simulate": (
        "sim_cmds",
        "Simulate a model; KPIs per scenario with mean and 95% CI half-width.",
    ),
    "warmup": (
        "sim_cmds",
        "Compile the fast engine ahead, once after install (simulate otherwise does it first).",
    ),
    "synth": (
        "synth_cmds",
        "Simulate a model as ground truth and write its EHR (FHIR R4 NDJSON) and CMMS data.",
    ),
    "ingest": (
        "ingest_cmds",
        "Load FHIR R4 data and CMMS work orders into the lake as one snapshot.",
    ),
    "calibrate": (
        "calibrate_cmds",
        "Fit arrival rates, durations, routing, capacities and device reliability from the lake.",
    ),
    "reproduce": (
        "runs_cmds",
        "Re-run RUN_ID and check its KPIs are identical (exit 0 if identical, 1 if not).",
    ),
    "demo": (
        "demo_cmds",
        "Run CareTwin end to end on the reference hospital and print the report's path.",
    ),
    "experiment": (
        "experiment_cmds",
        "Run an experiment: scenarios and sweeps vs baseline (paired), advisors, target search.",
    ),
    "forecast": (
        "forecast_cmds",
        "Forecast the census of every pool from a current state (median, 50% and 90% intervals).",
    ),
    "forecast-state": (
        "forecast_cmds",
        "Write the state of a simulated replication at hour ``--at`` (a state to forecast from).",
    ),
    "validation": (
        "validation_cmds",
        "Validation plans and scorecards, the verification suite, evidence with sign-off.",
    ),
    "pull": (
        "sources_cmds",
        "Pull a source into the lake (incremental: only what changed since the last pull).",
    ),
    "backup": (
        "backup_cmds",
        "Archive a live workspace: metadata database, lake, runs, audit checkpoints.",
    ),
    "restore": (
        "backup_cmds",
        "Restore a backup into a fresh folder and verify its audit chain and lake.",
    ),
    "audit": (
        "workspace_cmds",
        "The workspace's audit log: list, verify the hash chain, export as FHIR AuditEvent.",
    ),
    "lake": ("ingest_cmds", "The workspace's data lake."),
    "runs": ("runs_cmds", "Recorded runs and their manifests."),
    "scenarios": (
        "scenario_cmds",
        "Saved scenarios: parameter changes on a model, kept as versions (run with --saved).",
    ),
    "sources": ("sources_cmds", "External data sources (FHIR R4 servers)."),
    "listen": ("hl7_cmds", "Receive data from hospital systems."),
    "hl7": ("hl7_cmds", "HL7 v2 messages."),
    "views": ("views_cmds", "SQL on FHIR v2 views: list, show, run, test."),
    "snapshots": ("snapshots_cmds", "Lake snapshots: what each ingest added, diffs, data quality."),
    "users": ("users_cmds", "Users of the workspace: full names, roles, passwords, break-glass."),
    "tokens": ("users_cmds", "API tokens: create (shown once), list, revoke."),
    "auth": ("auth_cmds", "Sign-in settings: check the OpenID Connect provider and its tokens."),
    "plugins": (
        "plugins_cmds",
        "Plugins: engines, KPIs, feeders, fitters, report sections, commands.",
    ),
    "worker": (
        "jobs_cmds",
        "Run background jobs from the workspace's queue (beside or instead of serve's worker).",
    ),
    "jobs": ("jobs_cmds", "Background jobs: list, show, cancel."),
    "schedules": ("jobs_cmds", "Scheduled jobs: cron expressions per workspace."),
    # The HTTP API is a front end beside the CLI (docs/architecture.md): its command's area is
    # in its own package, loaded by full name, so the CLI never imports it.
    "serve": ("caretwin.api.commands", "Serve the HTTP API and the web app on the workspace."),
}


def area_module(module: str) -> str:
    """The full name of an area module of :data:`COMMANDS` (bare names are under caretwin.cli)."""
    return module if "." in module else f"caretwin.cli.{module}"


AREAS = [area_module(m) for m in dict.fromkeys(module for module, _ in COMMANDS.values())]


class _Placeholder(TyperCommand):
    """What ``caretwin --help`` lists for a command whose area is not loaded yet."""


def area_group(module: str) -> TyperGroup:
    """The click group of everything the area module ``module`` registers."""
    sub = typer.Typer()
    importlib.import_module(module).register(sub)
    return typer.main.get_group(sub)


class LazyGroup(TyperGroup):
    """A root group that imports an area module only when one of its commands is resolved."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        for name, (_, help_line) in COMMANDS.items():
            self.commands.setdefault(name, _Placeholder(name=name, help=help_line))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS and not self._listing:
            self._add_plugin_command(cmd_name)
        cmd = self.commands.get(cmd_name)
        if isinstance(cmd, _Placeholder) and not self._listing:
            loaded = area_group(area_module(COMMANDS[cmd_name][0])).commands
            for name, real in loaded.items():
                if isinstance(self.commands.get(name), _Placeholder):
                    self.commands[name] = real
            cmd = self.commands[cmd_name]
        return cmd

    @contextmanager
    def _names_only(self) -> Iterator[None]:
        # Listing commands needs only their names and help lines, which the placeholders hold.
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

    # Plugin command groups (caretwin.cli.plugin): looked up only for a name that is not one of
    # CareTwin's and when --help lists commands, so built-in commands load no plugin.
    def _add_plugin_command(self, name: str) -> None:
        if name in self.commands and not isinstance(self.commands[name], _Placeholder):
            return
        from caretwin.cli.plugin_scan import third_party_installed

        if not third_party_installed():
            return
        from caretwin.cli.plugin import plugin_commands, to_click

        group = plugin_commands().get(name)
        if group is not None:
            self.commands[name] = to_click(group)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from caretwin.cli.plugin_scan import third_party_installed

        if third_party_installed():
            from caretwin.cli.plugin import plugin_commands

            for name, group in plugin_commands().items():
                self.commands.setdefault(name, _Placeholder(name=name, help=group.help))
        with self._names_only():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> Any:
        with self._names_only():
            return super().shell_complete(ctx, incomplete)


app = typer.Typer(
    name="caretwin",
    cls=LazyGroup,
    help="CareTwin: governed digital twins of hospital operations.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"caretwin {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """CareTwin: governed digital twins of hospital operations."""


def main() -> None:
    app()
