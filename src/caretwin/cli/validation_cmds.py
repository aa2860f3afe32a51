"""``caretwin validation``: validation plans and their scorecards, the verification suite,
evidence with sign-off, and stored forecasts against what happened (``docs/validation.md``).
"""

from __future__ import annotations

import enum
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
    from caretwin.services.validation import EvidenceInfo, ValidationRun

validation_app = typer.Typer(
    help="Validation plans and scorecards, the verification suite, evidence with sign-off.",
    no_args_is_help=True,
)
evidence_app = typer.Typer(help="Validation evidence: add, list, sign.", no_args_is_help=True)
validation_app.add_typer(evidence_app, name="evidence")


class EvidenceKindOption(enum.StrEnum):
    face_validity = "face_validity"
    cross_model = "cross_model"
    verification = "verification"


def _mark(passed: bool | None) -> str:
    return "undecided" if passed is None else ("pass" if passed else "FAIL")


def _print_scorecard(run: ValidationRun) -> None:
    sc = run.scorecard
    print_table(
        [Column("criterion"), Column("test"), Column("result"), Column("finding", fit="wrap")],
        [[c.id, c.test, _mark(c.passed), c.summary] for c in sc.criteria],
        title=f"{sc.plan_name} v{sc.plan_version}: {len(sc.folds)} predictions, "
        f"{'PASSED' if sc.passed else 'NOT PASSED'}",
    )
    cov = {r.subject: r for r in sc.coverage_table("per_kpi")}
    rows = []
    for v in sc.verdicts:
        c = cov.get(v.kpi)
        cell = f"{c.hits}/{c.n}" if c else "-"
        verdict = _mark(v.can_predict).replace("pass", "yes").replace("FAIL", "no")
        rows.append([v.kpi, v.unit, cell, verdict, "; ".join(v.reasons)])
    print_table(
        [Column("KPI"), Column("unit"), Column(f"{sc.interval:.0%} covered", justify="right"),
         Column("can predict"), Column("why not", fit="wrap", drop=1)],
        rows,
        title="Per KPI",
    )  # fmt: skip
    for scope, label in (("by_unit", "unit"), ("by_hour", "arrival hour")):
        table = sc.coverage_table(scope)
        if table:
            print_table(
                [Column(label), Column("covered", justify="right"),
                 Column("coverage", justify="right")],
                [[r.subject, f"{r.hits}/{r.n}", f"{r.coverage:.0%}" if r.coverage is not None
                  else "-"] for r in table],
                title=f"Coverage by {label}",
            )  # fmt: skip
    if run.report:
        typer.echo(f"report: {run.report}")


@validation_app.command("run")
def run_cmd(
    plan: str = typer.Argument(..., help="Plan file, or a shipped plan's name (`plans`)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Run a validation plan on the workspace's lake; print and record its scorecard."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.validation import run_validation

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        say = (lambda m: typer.echo(m, err=True)) if fmt == OutputFormat.table else None
        run = run_validation(ctx, plan, workers=workers, on_step=say)
        if fmt == OutputFormat.json:
            print_json(run.to_dict())
        else:
            typer.echo(f"run: {run.run_id}")
            _print_scorecard(run)


@validation_app.command("show")
def show_cmd(
    run_id: str = typer.Argument(..., help="A validation run's id (`caretwin runs list`)."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Print the scorecard of a recorded validation run."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.validation import get_scorecard

    with cli_errors(fmt):
        run = get_scorecard(ServiceContext.for_cli(workspace), run_id)
        if fmt == OutputFormat.json:
            print_json(run.to_dict())
        else:
            _print_scorecard(run)


@validation_app.command("plans")
def plans_cmd() -> None:
    """List the validation plans shipped with CareTwin."""
    from caretwin.validation import plan_names

    for name in plan_names():
        typer.echo(name)


@validation_app.command("schema")
def schema_cmd(
    scorecard: bool = typer.Option(False, "--scorecard", help="The scorecard's schema instead."),
) -> None:
    """Print the JSON Schema of the validation plan format (or of the scorecard)."""
    from caretwin.validation import plan_schema, scorecard_schema

    print_json(scorecard_schema() if scorecard else plan_schema())


@validation_app.command("verify")
def verify_cmd(
    model: str = typer.Argument("reference-hospital", help="Model file or example name."),
    rho: float = typer.Option(0.85, "--rho", help="Test load of each pool (0..1)."),
    reps: int = typer.Option(10, "--reps", "-r", min=2, help="Replications per pool."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """The verification suite: Erlang C and Little's law on every pool of the model."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.validation import verify_model

    with cli_errors(fmt):
        out = verify_model(ServiceContext.for_cli(workspace), model, rho=rho, replications=reps)
        if fmt == OutputFormat.json:
            print_json(out.to_dict())
        else:
            r = out.report
            print_table(
                [Column("pool"), Column("check"), Column("theory", justify="right"),
                 Column("simulated", justify="right"), Column("p", justify="right"),
                 Column("result")],
                [[c.pool, c.check, f"{c.theory:.4g}", f"{c.simulated:.4g}",
                  "-" if c.p_value is None else f"{c.p_value:.3g}", _mark(c.passed)]
                 for c in r.checks],
                title=f"{r.model}: M/M/c at rho {r.rho:g}, {r.replications} replications — "
                f"{'PASSED' if r.passed else 'FAILED'}",
            )  # fmt: skip
        if not out.report.passed:
            raise typer.Exit(1)


def _print_evidence(records: list[EvidenceInfo]) -> None:
    print_table(
        [Column("id"), Column("kind"), Column("model"), Column("title", fit="wrap"),
         Column("signed by", fit="wrap")],
        [[r.id, r.kind, r.model, r.title,
          ", ".join(s.full_name for s in r.signoffs) or "not signed"] for r in records],
    )  # fmt: skip


@evidence_app.command("add")
def evidence_add_cmd(
    kind: EvidenceKindOption = typer.Option(..., "--kind", help="What kind of evidence."),
    title: str = typer.Option(..., "--title", help="One line naming the review or comparison."),
    model: str = typer.Option("reference-hospital", "--model", help="The twin's name."),
    findings: str = typer.Option(..., "--findings", help="What was found (free text)."),
    attach: list[Path] = typer.Option([], "--attach", help="A file to attach (repeatable)."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Record evidence: reviewers' findings, another tool's results (attached), etc."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.validation import add_evidence

    with cli_errors(fmt):
        rec = add_evidence(
            ServiceContext.for_cli(workspace), kind.value, title, model, findings,
            attachments=list(attach),
        )  # fmt: skip
        if fmt == OutputFormat.json:
            print_json(rec.to_dict())
        else:
            typer.echo(rec.id)


@evidence_app.command("list")
def evidence_list_cmd(
    model: str | None = typer.Option(None, "--model", help="Only this twin's evidence."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Evidence records, oldest first, with who signed them."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.validation import list_evidence

    with cli_errors(fmt):
        records = list_evidence(ServiceContext.for_cli(workspace), model)
        if fmt == OutputFormat.json:
            print_json([r.to_dict() for r in records])
        else:
            _print_evidence(records)


@evidence_app.command("sign")
def evidence_sign_cmd(
    evidence_id: str = typer.Argument(..., help="The record's id (ev-...)."),
    statement: str = typer.Option(..., "--statement", help="What you attest by signing."),
    as_user: str | None = AS_USER_OPTION,
    password_file: Path | None = PASSWORD_FILE_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Sign a record as a named user (`--as USER --password-file F`); the full name is kept."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.validation import sign_evidence

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace, as_user, password_file)
        rec = sign_evidence(ctx, evidence_id, statement)
        if fmt == OutputFormat.json:
            print_json(rec.to_dict())
        else:
            _print_evidence([rec])


@validation_app.command("forecasts")
def forecasts_cmd(
    fmt: OutputFormat = FORMAT_OPTION, workspace: Path | None = WORKSPACE_OPTION
) -> None:
    """Stored forecasts against what happened: coverage of their 90% bands over time."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.validation import forecast_validation

    with cli_errors(fmt):
        found = forecast_validation(ServiceContext.for_cli(workspace)).result
        if fmt == OutputFormat.json:
            data: Any = None if found is None else found.model_dump(mode="json")
            print_json(data)
            return
        if found is None:
            typer.echo("no forecast recorded in this workspace")
            return
        print_table(
            [Column("forecast run"), Column("as of"), Column("hours", justify="right"),
             Column("coverage", justify="right")],
            [[f.run_id, f.as_of, str(f.hours_observed),
              "-" if f.coverage is None else f"{f.coverage:.0%}"] for f in found.forecasts],
            title=f"{found.hits}/{found.n} hour marks inside the 90% bands",
        )  # fmt: skip
        for s in found.skipped:
            typer.echo(f"skipped {s}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(validation_app, name="validation")
