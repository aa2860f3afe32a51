"""Views as audited services: list, show, run over the workspace lake, conformance test.

Running a view is a recorded run (kind ``view``): the manifest pins the view (name, origin,
sha256 of its JSON), the lake's data hash, the engine and the limit, and its outputs hold the
row count, columns and the sha256 of the rows written, so the same view on the same lake can be
checked to give the same table. Audit details carry names, hashes and counts — never rows.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from caretwin.access import Permission
from caretwin.errors import ConfigError, DataError
from caretwin.lake import Lake
from caretwin.runs import RunRecorder
from caretwin.services.context import ServiceContext
from caretwin.services.results import ServiceResult
from caretwin.views.catalog import ViewEntry, all_views, get_view
from caretwin.views.conformance import run_suite, suite_files
from caretwin.views.runner import Engine, LakeSource, ViewResult, run_view, try_compile

__all__ = [
    "ViewCase",
    "ViewDetail",
    "ViewInfo",
    "ViewRun",
    "ViewRunSummary",
    "ViewSuiteSummary",
    "ViewTestRun",
    "list_views",
    "run_workspace_view",
    "show_view",
    "test_views",
]

FORMATS = ("table", "json", "parquet")


class ViewInfo(ServiceResult):
    """A view as listed: ``override`` marks a workspace view replacing a shipped one."""

    name: str
    resource: str
    origin: str
    override: bool
    columns: list[str]
    path: str
    sha256: str
    title: str | None

    @classmethod
    def of(cls, entry: ViewEntry) -> ViewInfo:
        return cls(
            name=entry.name,
            resource=entry.view.resource,
            origin=entry.origin,
            override=entry.overrides_shipped,
            columns=entry.view.column_names(),
            path=entry.path,
            sha256=entry.sha256,
            title=entry.view.title,
        )


class ViewDetail(ViewInfo):
    """A view's ViewDefinition JSON and the DuckDB SQL it compiles to (or why it does not)."""

    definition: dict[str, Any]
    engine: str
    sql: str | None
    not_compiled_because: str | None


class ViewRunSummary(ServiceResult):
    run_id: str
    origin: str
    sha256: str
    out: Path | None
    view: str
    engine: str
    rows: int
    resources: int
    seconds: float
    resources_per_second: float | None
    fallback_reason: str | None


class ViewRun(ServiceResult):
    """A recorded view run: its summary, the columns and the rows as JSON values (the rows are
    the recorded ``rows_sha256``'s canonical JSON, whether or not they were also written)."""

    summary: ViewRunSummary
    resource: str
    columns: list[str]
    rows: list[dict[str, Any]]


def list_views(ctx: ServiceContext) -> list[ViewInfo]:
    """Shipped views and the workspace's own, overrides marked."""
    with ctx.operation("views.list", Permission.MODEL_READ, target="views") as op:
        views = [ViewInfo.of(e) for e in all_views(ctx.workspace.root).values()]
        op.details.update({"views": len(views), "overrides": [v.name for v in views if v.override]})
    return views


def show_view(ctx: ServiceContext, name: str) -> ViewDetail:
    """A view's JSON and the SQL it compiles to (or why it runs interpreted)."""
    with ctx.operation("views.show", Permission.MODEL_READ, target=name) as op:
        entry = get_view(ctx.workspace.root, name)
        compiled, reason = try_compile(entry.view)
        op.details.update({"sha256": entry.sha256, "origin": entry.origin})
        return ViewDetail(
            **ViewInfo.of(entry).model_dump(),
            definition=entry.view.raw,
            engine="compiled" if compiled else "interpreted",
            sql=compiled.sql if compiled else None,
            not_compiled_because=reason,
        )


def run_workspace_view(
    ctx: ServiceContext,
    name: str,
    *,
    limit: int | None = None,
    engine: Engine = "auto",
    fmt: str = "table",
    out: Path | None = None,
) -> ViewRun:
    """Run view ``name`` over the workspace lake; write ``out`` as JSON or Parquet if given."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if fmt == "parquet" and out is None:
        raise ConfigError(
            "writing rows as Parquet needs a file to write them to",
            details={"format": fmt, "out": None},
        )
    if limit is not None and limit < 0:
        raise ConfigError(
            f"the row limit must be zero or more (got {limit})", details={"limit": limit}
        )
    with ctx.operation("views.run", Permission.DATA_READ, target=name) as op:
        entry = get_view(ctx.workspace.root, name)
        lake = Lake(ctx.workspace.lake_dir)
        params = {"view": name, "origin": entry.origin, "view_sha256": entry.sha256,
                  "engine": engine, "limit": limit, "format": fmt}  # fmt: skip
        op.details.update(params)
        with RunRecorder.start(
            ctx, "view", parameters=params, data_snapshot_hash=lake.data_hash()
        ) as rec:
            source = LakeSource(lake)
            try:
                with rec.timer("view"):
                    result = run_view(entry.view, source, engine, limit)
            finally:
                source.close()
            digest, rows = _write(result, fmt, out)
            outputs = {**result.summary(), "columns": result.table.column_names,
                       "rows_sha256": digest}  # fmt: skip
            rec.finish(outputs)
        op.details.update({"run_id": rec.run_id, "engine": result.engine,
                           "rows": result.table.num_rows, "rows_sha256": digest})  # fmt: skip
    summary = ViewRunSummary(
        run_id=rec.run_id, origin=entry.origin, sha256=entry.sha256, out=out, **result.summary()
    )
    return ViewRun(
        summary=summary,
        resource=entry.view.resource,
        columns=result.table.column_names,
        rows=rows,
    )


def _write(result: ViewResult, fmt: str, out: Path | None) -> tuple[str, list[dict[str, Any]]]:
    """Write the rows where asked; the sha256 of their canonical JSON and that JSON's rows."""
    rows = result.rows()
    data = orjson.dumps(rows, default=str)
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "parquet":
                pq.write_table(result.table, out, compression="zstd")
            else:
                out.write_bytes(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2))
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot write {out}: {exc}") from exc
    return hashlib.sha256(data).hexdigest(), orjson.loads(data)


class ViewCase(ServiceResult):
    """One conformance test; ``engine`` is compiled, interpreted or None (failed validation)."""

    file: str
    title: str
    passed: bool
    experimental: bool
    engine: str | None
    message: str | None
    native: bool


class ViewSuiteSummary(ServiceResult):
    required: int
    passed: int
    compiled: int
    interpreted: int
    native_checked: int
    rejected_at_validation: int
    experimental: int
    experimental_passed: int


class ViewTestRun(ServiceResult):
    """A conformance run: ``passed`` when every non-experimental test passed; ``report`` is the
    suite's test_report.json form."""

    passed: bool
    headline: str
    summary: ViewSuiteSummary
    cases: list[ViewCase]
    report: dict[str, Any]

    @property
    def failures(self) -> list[ViewCase]:
        return [c for c in self.cases if not c.passed and not c.experimental]


def test_views(ctx: ServiceContext, path: Path | None, suite: Path | None = None) -> ViewTestRun:
    """Run a conformance-format file or folder (default: the official suite at ``suite``)."""
    target = path or suite
    if target is None:
        raise ConfigError("give a conformance file or folder (the official suite was not found)")
    if not target.exists():
        raise ConfigError(f"{target} does not exist")
    with ctx.operation("views.test", Permission.MODEL_READ, target=str(target)) as op:
        result = run_suite(suite_files(target))
        op.details.update(result.summary())
    return ViewTestRun(
        passed=not result.failures(),
        headline=result.headline(),
        summary=ViewSuiteSummary(**result.summary()),
        cases=[ViewCase.model_validate(c, from_attributes=True) for c in result.cases],
        report=result.report_json(),
    )
