"""Views as audited services: list, show, run over the workspace lake, conformance test.

Running a view is a recorded run (kind ``view``): the manifest pins the view (name, origin,
sha256 of its JSON), the lake's data hash, the engine and the limit, and its outputs hold the
row count, columns and the sha256 of the rows written, so the same view on the same lake can be
checked to give the same table. Audit details carry names, hashes and counts — never rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
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
from caretwin.views.catalog import ViewEntry, all_views, get_view
from caretwin.views.conformance import SuiteResult, run_suite, suite_files
from caretwin.views.runner import Engine, LakeSource, ViewResult, run_view, try_compile

__all__ = ["ViewRun", "list_views", "run_workspace_view", "show_view", "test_views"]

FORMATS = ("table", "json", "parquet")


@dataclass
class ViewRun:
    entry: ViewEntry
    result: ViewResult
    run_id: str
    out: Path | None

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "origin": self.entry.origin,
            "sha256": self.entry.sha256,
            "out": str(self.out) if self.out else None,
            **self.result.summary(),
        }


def list_views(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Shipped views and the workspace's own, overrides marked."""
    with ctx.operation("views.list", Permission.MODEL_READ, target="views") as op:
        views = [e.to_dict() for e in all_views(ctx.workspace.root).values()]
        op.details.update(
            {"views": len(views), "overrides": [v["name"] for v in views if v["override"]]}
        )
    return views


def show_view(ctx: ServiceContext, name: str) -> dict[str, Any]:
    """A view's JSON and the SQL it compiles to (or why it runs interpreted)."""
    with ctx.operation("views.show", Permission.MODEL_READ, target=name) as op:
        entry = get_view(ctx.workspace.root, name)
        compiled, reason = try_compile(entry.view)
        op.details.update({"sha256": entry.sha256, "origin": entry.origin})
        return {
            **entry.to_dict(),
            "definition": entry.view.raw,
            "engine": "compiled" if compiled else "interpreted",
            "sql": compiled.sql if compiled else None,
            "not_compiled_because": reason,
        }


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
        raise ConfigError("--format parquet needs --out FILE")
    if limit is not None and limit < 0:
        raise ConfigError("--limit must be zero or more")
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
            digest = _write(result, fmt, out)
            outputs = {**result.summary(), "columns": result.table.column_names,
                       "rows_sha256": digest}  # fmt: skip
            rec.finish(outputs)
        op.details.update({"run_id": rec.run_id, "engine": result.engine,
                           "rows": result.table.num_rows, "rows_sha256": digest})  # fmt: skip
    return ViewRun(entry, result, rec.run_id, out)


def _write(result: ViewResult, fmt: str, out: Path | None) -> str:
    """Write the rows where asked; the sha256 of their canonical JSON either way."""
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
    return hashlib.sha256(data).hexdigest()


def test_views(ctx: ServiceContext, path: Path | None, suite: Path | None = None) -> SuiteResult:
    """Run a conformance-format file or folder (default: the official suite at ``suite``)."""
    target = path or suite
    if target is None:
        raise ConfigError("give a conformance file or folder (the official suite was not found)")
    if not target.exists():
        raise ConfigError(f"{target} does not exist")
    with ctx.operation("views.test", Permission.MODEL_READ, target=str(target)) as op:
        result = run_suite(suite_files(target))
        op.details.update(result.summary())
    return result
