"""``caretwin scenarios``: saved scenarios (parameter changes on a model) and what may change."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from caretwin.cli.common import (
    FORMAT_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
)
from caretwin.cli.tables import Column, print_table

if TYPE_CHECKING:
    from caretwin.services.scenarios import SavedScenarioInfo

scenarios_app = typer.Typer(
    help="Saved scenarios: parameter changes on a model, kept as versions (run with --saved).",
    no_args_is_help=True,
)

NAME_ARGUMENT: Any = typer.Argument(..., help="The saved scenario's name.")


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.4g}"


def _print_scenarios(found: list[SavedScenarioInfo], fmt: OutputFormat) -> None:
    if fmt == OutputFormat.json:
        print_json([s.to_dict() for s in found])
        return
    rows: list[list[Any]] = [
        [
            s.name,
            f"v{s.version}",
            s.model,
            "archived" if s.archived else "active",
            ", ".join(f"{k}={v}" for k, v in s.overrides.items()),
            s.author,
            s.created_at.strftime("%Y-%m-%d %H:%M"),
            s.note,
        ]
        for s in found
    ]
    columns = [
        Column("name"),
        Column("version"),
        Column("model", fit="end"),
        Column("status", drop=3),
        Column("changes", fit="wrap"),
        Column("author", drop=2),
        Column("saved (UTC)", drop=1),
        Column("note", fit="wrap", drop=4),
    ]
    print_table(columns, rows, title="saved scenarios")


def _parse_set(items: list[str]) -> dict[str, Any]:
    import yaml

    overrides: dict[str, Any] = {}
    for item in items:
        path, sep, raw = item.partition("=")
        if not sep or not path.strip():
            raise typer.BadParameter(f"{item!r}: expected PATH=VALUE", param_hint="--set")
        overrides[path.strip()] = yaml.safe_load(raw)  # 20 -> int, 1.5 -> float, [..] -> list
    return overrides


@scenarios_app.command("list")
def scenarios_list(
    model: str | None = typer.Option(None, "--model", "-m", help="Only this model's."),
    archived: bool = typer.Option(False, "--archived", help="Include archived scenarios."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """List saved scenarios (their latest versions)."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.scenarios import list_saved_scenarios

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        _print_scenarios(list_saved_scenarios(ctx, model, include_archived=archived), fmt)


@scenarios_app.command("show")
def scenarios_show(
    name: str = NAME_ARGUMENT,
    version: int | None = typer.Option(None, "--version", min=1, help="This version."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Show a saved scenario: its latest version or --version."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.scenarios import show_saved_scenario

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        _print_scenarios([show_saved_scenario(ctx, name, version)], fmt)


@scenarios_app.command("params")
def scenarios_params(
    model: str = typer.Argument(..., help="An example's name or a workspace model (models/)."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """List the parameters of MODEL a scenario may change: path, value, unit, bounds."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.scenarios import model_parameters

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        found = model_parameters(ctx, model)
        if fmt == OutputFormat.json:
            print_json(found.to_dict())
            return
        rows: list[list[Any]] = []
        for p in found.parameters:
            bounds = []
            if p.minimum is not None:
                bounds.append(f"{'>' if p.exclusive_minimum else '>='} {_fmt(p.minimum)}")
            if p.maximum is not None:
                bounds.append(f"<= {_fmt(p.maximum)}")
            rows.append([p.path, _fmt(p.value), p.unit, ", ".join(bounds), p.group, p.label])
        columns = [
            Column("path", fit="start"),
            Column("value", justify="right"),
            Column("unit"),
            Column("bounds", drop=2),
            Column("group", drop=3),
            Column("label", fit="wrap", drop=1),
        ]
        print_table(columns, rows, title=f"{found.model}: parameters a scenario may change")


@scenarios_app.command("save")
def scenarios_save(
    name: str = NAME_ARGUMENT,
    model: str = typer.Option(..., "--model", "-m", help="The model the changes apply to."),
    set_: list[str] = typer.Option(
        ..., "--set", help="PATH=VALUE, e.g. resources.icu_bed.capacity=20 (repeatable)."
    ),
    description: str = typer.Option("", "--description", help="What the scenario asks."),
    note: str = typer.Option("", "--note", help="Why this version."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Save a new version of a scenario after checking it makes a valid model."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.scenarios import save_scenario

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        saved = save_scenario(
            ctx, name, model, _parse_set(set_), description=description, note=note
        )
        _print_scenarios([saved], fmt)


@scenarios_app.command("delete")
def scenarios_delete(
    name: str = NAME_ARGUMENT,
    note: str = typer.Option("", "--note", help="Why it is archived."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Archive a saved scenario (its versions stay readable; runs that used them still trace)."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.scenarios import archive_scenario

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        _print_scenarios([archive_scenario(ctx, name, note)], fmt)


@scenarios_app.command("compare")
def scenarios_compare(
    run_id: str = typer.Argument(..., help="A simulation run with a baseline."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Compare each scenario of a run with its baseline: paired differences with 95% CIs."""
    from caretwin.services.comparison import run_comparison
    from caretwin.services.context import ServiceContext

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        found = run_comparison(ctx, run_id)
        if fmt == OutputFormat.json:
            print_json(found.to_dict())
            return
        for sc in found.scenarios:
            rows: list[list[Any]] = [
                [
                    k.kpi,
                    f"{_fmt(k.baseline_mean)} ± {_fmt(k.baseline_ci95)}",
                    f"{_fmt(k.scenario_mean)} ± {_fmt(k.scenario_ci95)}",
                    f"{_fmt(k.difference)} ± {_fmt(k.difference_ci95)}",
                    "yes" if k.excludes_zero else "no",
                    k.unit,
                ]
                for k in sc.kpis
            ]
            columns = [
                Column("KPI", fit="wrap"),
                Column("baseline", justify="right"),
                Column(sc.scenario, justify="right"),
                Column("difference (95% CI)", justify="right"),
                Column("CI excludes 0"),
                Column("unit", drop=1),
            ]
            title = f"{found.model}: {sc.scenario} vs baseline, {found.replications} replications"
            print_table(columns, rows, title=title)


def register(app: typer.Typer) -> None:
    app.add_typer(scenarios_app, name="scenarios")
