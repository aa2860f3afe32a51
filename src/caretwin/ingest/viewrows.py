"""View rows computed in the parse workers, spooled next to the chunk's candidates.

A parse worker holds every accepted resource as a parsed ``dict`` for its checks; the native
engine (:mod:`caretwin.views.native`) runs the canonical ViewDefinitions on that ``dict`` right
away, instead of DuckDB parsing the stored JSON text again at commit. The rows of each table go
to ``<chunk spool>.<table>.parquet`` with the candidate's ``ord``; a resource the view fails on
gets one row holding the error in ``__error``. At commit
(:meth:`caretwin.ingest.tables.TableBuilder.run_views`) only rows of resources that became
current are kept; a current resource with an error row is quarantined and the ingest works
out its versions and views again without it (an error on a superseded version is ignored, as
that version never reaches a table, and as the compiled SQL, which runs on current resources
only, would never see it).

Views the native engine does not cover (``repeat``, FHIRPath outside the compiled subset) are
not sent here; they run in DuckDB at commit as before.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from caretwin.views.native import NativeView, ViewRowError, native_from_json

ERROR_COLUMN = "__error"
#: (table, view, its rows, their candidate rows)
_Target = tuple[str, NativeView, list[tuple[Any, ...]], list[int]]


class ViewRows:
    """The rows of each native view over one chunk's accepted resources."""

    def __init__(self, views: tuple[tuple[str, str], ...]) -> None:
        self.by_type: dict[str, list[_Target]] = {}
        self.rows: dict[str, list[tuple[Any, ...]]] = {}
        self.ords: dict[str, list[int]] = {}
        self.errors: dict[str, dict[int, str]] = {}  # table -> {position in rows: message}
        for table, text in views:
            native = native_from_json(text)
            self.by_type.setdefault(native.view.resource, []).append(
                (table, native, self.rows.setdefault(table, []), self.ords.setdefault(table, []))
            )
            self.errors[table] = {}

    def add(self, rtype: str, resource: dict[str, Any], row: int) -> None:
        """The rows of ``resource`` (the chunk's accepted row ``row``) in every view of its type."""
        for table, native, rows, ords in self.by_type[rtype]:
            try:
                found = native.rows(resource)
            except Exception as exc:  # ViewRowError; anything else is a defect, still one row's
                message = str(exc) if isinstance(exc, ViewRowError) else type(exc).__name__
                self.errors[table][len(rows)] = message
                rows.append((None,) * len(native.columns))
                ords.append(row)
                continue
            if len(found) == 1:
                rows.append(found[0])
                ords.append(row)
            else:
                rows += found
                ords += [row] * len(found)

    def write(self, first: int, spool_path: str) -> dict[str, str]:
        """Write each table's rows beside the chunk's spool file (``first``: the ``ord`` of
        the chunk's row 0); table -> path."""
        written: dict[str, str] = {}
        for table, natives in _tables(self.by_type).items():
            rows = self.rows[table]
            if not rows:
                continue
            schema = natives.schema()
            columns = list(zip(*rows, strict=True))
            arrays = [pa.array(col, f.type) for col, f in zip(columns, schema, strict=True)]
            ords = pa.array(self.ords[table], pa.int64())
            arrays.append(pc.add(ords, pa.scalar(first, pa.int64())))
            errors = self.errors[table]
            arrays.append(
                pa.array([errors.get(i) for i in range(len(rows))], pa.string())
                if errors
                else pa.nulls(len(rows), pa.string())
            )
            names = [*schema.names, "ord", ERROR_COLUMN]
            path = f"{spool_path}.{table}.parquet"
            pq.write_table(pa.Table.from_arrays(arrays, names=names), path, compression="lz4")
            written[table] = path
        return written

    def failed_tables(self) -> set[str]:
        """Tables with an error row in this chunk (commit looks for errors only there)."""
        return {t for t, errors in self.errors.items() if errors}


def _tables(by_type: dict[str, list[_Target]]) -> dict[str, NativeView]:
    return {t[0]: t[1] for group in by_type.values() for t in group}


__all__ = ["ERROR_COLUMN", "ViewRows"]
