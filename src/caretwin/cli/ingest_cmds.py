"""``caretwin ingest`` and ``caretwin lake``: loading data into the lake and looking at it.

Output is counts, ids, hashes, file names and quarantine reasons only; record content (names,
excerpts) is never printed, since the terminal and its scrollback are not a place for PHI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.text import Text

from caretwin.cli.common import (
    FORMAT_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
)
from caretwin.cli.tables import Column, print_table

if TYPE_CHECKING:
    from caretwin.ingest import IngestReport

PATHS_ARGUMENT: Any = typer.Argument(
    ...,
    help="NDJSON (.ndjson, .ndjson.gz), JSON Bundle/resource, work-order CSV files, or folders.",
)

lake_app = typer.Typer(help="The workspace's data lake.", no_args_is_help=True)


def _print_report(report: IngestReport) -> None:
    rows: list[list[str | Text]] = []
    for rtype, c in report.counts.items():
        quarantined = Text(str(c.quarantined), style="red" if c.quarantined else "")
        rows.append([rtype, str(c.added), str(c.unchanged), quarantined])
    numbers = ("added", "unchanged", "quarantined")
    console = Console(soft_wrap=True)
    print_table(
        [Column("resource type"), *(Column(n, justify="right") for n in numbers)],
        rows,
        title="ingest",
        console=console,
    )
    status = "no change" if report.no_change else f"snapshot {report.snapshot_id}"
    console.print(
        f"{status}\ndata hash {report.data_hash}\n"
        f"{report.records} records from {len(report.files)} files in {report.seconds:.2f} s "
        f"({report.resources_per_second:,.0f} records/s); "
        f"{report.quarantined} quarantined ({report.quarantine_rows_added} new quarantine rows)",
        markup=False,
    )
    if report.quarantined:
        from caretwin.ingest.report import QUARANTINE_HINT

        console.print(QUARANTINE_HINT, markup=False)
    if report.skipped:
        console.print(f"skipped {len(report.skipped)} files in the folders given:", markup=False)
        for line in report.skipped:
            console.print(f"  {line}", markup=False, highlight=False)


def ingest_cmd(
    paths: list[Path] = PATHS_ARGUMENT,
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Load FHIR R4 data and CMMS work orders into the lake as one snapshot."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.ingestion import ingest, ingest_outcome_error

    with cli_errors(fmt):
        ctx = ServiceContext.for_cli(workspace)
        report = ingest(ctx, paths)
        error = ingest_outcome_error(paths, report)  # exit 4, the report in its details
        drift = None
        if error is None and not report.no_change:
            from caretwin.services.drift import check_drift

            drift = check_drift(ctx)  # the new data against the newest calibration
        if fmt == OutputFormat.json:
            if error is None:
                out = report.model_dump(mode="json")
                out["drift"] = None if drift is None else drift.to_dict()
                print_json(out)
        elif report.files:
            _print_report(report)
            if drift is not None and drift.calibration_run is not None:
                typer.echo(drift.message, err=drift.alert)
        if error is not None:
            raise error


@lake_app.command("tables")
def tables_cmd(
    fmt: OutputFormat = FORMAT_OPTION, workspace: Path | None = WORKSPACE_OPTION
) -> None:
    """Row count of every lake table, and the lake's data hash."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.ingestion import lake_counts

    with cli_errors(fmt):
        result = lake_counts(ServiceContext.for_cli(workspace))
        if fmt == OutputFormat.json:
            print_json(result.to_dict())
            return
        print_table(
            [Column("table"), Column("rows", justify="right")],
            [[name, str(rows)] for name, rows in result.tables.items()],
            title=f"lake (data hash {result.data_hash[:16]}…)",
        )


@lake_app.command("quarantine")
def quarantine_cmd(
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most N rows."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Quarantined records: file, line, type and reason (never their content)."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.ingestion import quarantine_rows

    with cli_errors(fmt):
        rows = quarantine_rows(ServiceContext.for_cli(workspace), limit=limit)
        if fmt == OutputFormat.json:
            print_json([r.to_dict() for r in rows])
            return
        print_table(
            [
                Column("id"),
                Column("source file", fit="start"),
                Column("line", justify="right"),
                Column("type", fit="end"),
                Column("reason", fit="wrap"),
            ],
            [[r.id, r.source_file, str(r.line), r.resource_type or "", r.reason] for r in rows],
            title="quarantine",
        )
        if rows:
            Console(soft_wrap=True).print(
                "Retry after a fix (file or view): caretwin lake retry --id ID (or --all)",
                markup=False,
            )


@lake_app.command("retry")
def retry_cmd(
    ids: list[str] = typer.Option(
        [], "--id", help="A quarantine row's id (from `caretwin lake quarantine`); repeatable."
    ),
    all_rows: bool = typer.Option(False, "--all", help="Retry every quarantined record."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Run quarantined records through ingestion again (after fixing the file or a view).

    Records are read again from their source files with the current views; those that land
    leave the quarantine, the others stay with their new reason.
    """
    from caretwin.errors import DataError
    from caretwin.services.context import ServiceContext
    from caretwin.services.ingest_retry import retry_quarantine

    with cli_errors(fmt):
        if not ids and not all_rows:
            raise DataError("say which quarantined records to retry: --id ID (repeatable) or --all")
        result = retry_quarantine(ServiceContext.for_cli(workspace), ids, all_rows)
        if fmt == OutputFormat.json:
            print_json(result.to_dict())
            return
        console = Console(soft_wrap=True)
        lines = [
            f"{result.selected} quarantined records retried: {result.cleared} left the "
            f"quarantine, {result.still_quarantined} still there"
        ]
        if result.ingest is not None and not result.ingest.no_change:
            lines.append(f"snapshot {result.ingest.snapshot_id}")
        lines += [f"  source file no longer readable: {p}" for p in result.missing_files]
        if result.unknown_ids:
            lines.append(f"  unknown ids: {', '.join(result.unknown_ids)}")
        if result.still_quarantined:
            from caretwin.ingest.report import QUARANTINE_HINT

            lines.append(QUARANTINE_HINT)
        for line in lines:
            console.print(line, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_cmd)
    app.add_typer(lake_app, name="lake")
