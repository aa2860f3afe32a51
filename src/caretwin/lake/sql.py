"""Writing values into DuckDB SQL text.

Most lake SQL passes values as DuckDB parameters (``?``); this is for the places that cannot:
SQL built once and reused (compiled views, ``CREATE VIEW``), file lists inside ``read_parquet``
and ``IN (...)`` lists. It is CareTwin's one quoting helper, so escaping is decided once.
"""

from __future__ import annotations

__all__ = ["sql_str"]


def sql_str(value: str) -> str:
    """``value`` as a SQL string literal: in single quotes, each quote doubled."""
    return "'" + value.replace("'", "''") + "'"
