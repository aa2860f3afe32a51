"""``caretwin snapshots``: list, show and diff lake snapshots, and their data-quality reports.

Output is ids, counts, hashes, file names and quarantine reasons only, never record content.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from caretwin.cli.common import (
    FORMAT_OPTION,
    WORKSPACE_OPTION,
    OutputFormat,
    cli_errors,
    print_json,
)
from caretwin.cli.tables import Column, print_table

app = typer.Typer(
    help="Lake snapshots: what each ingest added, diffs, data quality.", no_args_is_help=True
)

SNAPSHOT_ARG: Any = typer.Argument(..., help="Snapshot id (or a unique prefix of 6+ characters).")


class QualityFormat(enum.StrEnum):
    table = "table"
    json = "json"
    html = "html"


def _short(h: str | None, n: int = 12) -> str:
    return (h or "")[:n]


@app.command("list")
def list_cmd(
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="At most N snapshots."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """Snapshots, newest first: id, time, actor, source, counts, data hash."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.snapshots import snapshot_list

    with cli_errors(fmt):
        items = snapshot_list(ServiceContext.for_cli(workspace), limit=limit)
        if fmt == OutputFormat.json:
            print_json([s.to_dict() for s in items])
            return
        columns = [
            Column("snapshot"),
            Column("time"),
            Column("actor", fit="end"),
            Column("source", fit="start"),
            Column("added", justify="right"),
            Column("quarantined", justify="right"),
            Column("data hash", drop=1),
        ]
        rows = [
            [
                _short(s.snapshot_id),
                s.created_at[:19],
                s.actor or "(not recorded)",
                s.source or "",
                str(s.added),
                str(s.quarantined),
                _short(s.data_hash),
            ]
            for s in items
        ]
        print_table(columns, rows, title="snapshots")


@app.command("show")
def show_cmd(
    snapshot: str = SNAPSHOT_ARG,
    limit: int = typer.Option(100, "--limit", "-n", min=0, help="At most N quarantine rows."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """One snapshot: counts per type and outcome, files, quarantine rows (file, line, reason)."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.snapshots import show_snapshot

    with cli_errors(fmt):
        d = show_snapshot(ServiceContext.for_cli(workspace), snapshot, quarantine_limit=limit)
        if fmt == OutputFormat.json:
            print_json(d.to_dict())
            return
        s = d.snapshot
        typer.echo(
            f"snapshot {s.snapshot_id}\ntime {s.created_at}  actor "
            f"{s.actor or '(not recorded)'}\nsource {s.source or ''}\n"
            f"data hash {s.data_hash}"
        )
        rows = [
            [
                t.resource_type,
                str(t.new),
                str(t.updated),
                str(t.deleted),
                *("" if n is None else str(n) for n in (t.added, t.unchanged, t.quarantined)),
            ]
            for t in d.types
        ]
        numbers = ("new", "updated", "deleted", "added", "unchanged", "quarantined")
        print_table(
            [Column("type"), *(Column(n, justify="right") for n in numbers)],
            rows,
            title="resources by type",
        )
        print_table(
            [
                Column("file", fit="start"),
                Column("records", justify="right"),
                Column("quarantined", justify="right"),
            ],
            [[f.source_file, str(f.records), str(f.quarantined)] for f in d.files],
            title="files",
        )
        if d.quarantine:
            print_table(
                [
                    Column("file", fit="start"),
                    Column("line", justify="right"),
                    Column("type", fit="end"),
                    Column("reason", fit="wrap"),
                ],
                [
                    [r.source_file, str(r.line), r.resource_type or "", r.reason]
                    for r in d.quarantine
                ],
                title=f"quarantine ({len(d.quarantine)} of {d.quarantine_total})",
            )


@app.command("diff")
def diff_cmd(
    a: str = typer.Argument(..., help="The earlier snapshot (id or prefix)."),
    b: str = typer.Argument(..., help="The later snapshot (id or prefix)."),
    fmt: OutputFormat = FORMAT_OPTION,
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """What changed from snapshot A to snapshot B: resources per type, rows per table."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.snapshots import diff_snapshots

    with cli_errors(fmt):
        d = diff_snapshots(ServiceContext.for_cli(workspace), a, b)
        if fmt == OutputFormat.json:
            print_json(d.to_dict())
            return
        note = " (given newest first; shown oldest first)" if d.swapped else ""
        typer.echo(
            f"{_short(d.from_snapshot)} → {_short(d.to_snapshot)}: "
            f"{d.snapshots_between} snapshot(s){note}"
        )
        print_table(
            [Column("type")]
            + [Column(c, justify="right") for c in ("added", "updated", "deleted")],
            [[t.resource_type, str(t.added), str(t.updated), str(t.deleted)] for t in d.types],
            title="resources",
        )
        print_table(
            [Column("table")] + [Column(c, justify="right") for c in ("before", "after", "change")],
            [[r.table, str(r.before), str(r.after), f"{r.change:+d}"] for r in d.tables],
            title="rows per table",
        )


@app.command("quality")
def quality_cmd(
    snapshot: str | None = typer.Argument(None, help="Snapshot id or prefix (default: latest)."),
    fmt: QualityFormat = typer.Option(QualityFormat.table, "--format", help="Output format."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the JSON or HTML here."),
    workspace: Path | None = WORKSPACE_OPTION,
) -> None:
    """The data-quality report of a snapshot (recorded as a run; reproducible)."""
    from caretwin.services.context import ServiceContext
    from caretwin.services.snapshots import snapshot_quality

    err_fmt = OutputFormat.json if fmt == QualityFormat.json else OutputFormat.table
    with cli_errors(err_fmt):
        ctx = ServiceContext.for_cli(workspace)
        html = None
        if fmt == QualityFormat.html:
            html = (
                out or ctx.workspace.runs_dir / f"quality-{_short(snapshot, 12) or 'latest'}.html"
            )
        run = snapshot_quality(ctx, snapshot, html_out=html)
        r = run.report
        if fmt == QualityFormat.json:
            data = run.to_dict()
            if out is not None:
                import orjson

                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
                typer.echo(str(out))
            else:
                print_json(data)
            return
        if fmt == QualityFormat.html:
            typer.echo(str(run.html_path))
            return
        print_table(
            [Column("check", fit="end")]
            + [Column(c, justify="right") for c in ("rows", "in snapshot", "quarantined")]
            + [Column("examples", fit="wrap")],
            [
                [
                    f.check,
                    Text(str(f.count), style="red") if f.count else "0",
                    "" if f.in_snapshot is None else str(f.in_snapshot),
                    str(f.quarantined),
                    ", ".join(f.examples + f.quarantine_examples),
                ]
                for f in r.findings
            ],
            title=f"data quality of {_short(r.snapshot_id)} (run {run.run_id})",
        )
        stale = "" if r.current else " (the lake has changed since this snapshot)"
        typer.echo(f"{r.defects} defect(s){stale}; report {run.json_path}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="snapshots")
