"""The interpreter: a ViewDefinition evaluated resource by resource with fhirpathpy.

It implements the SQL on FHIR v2 row-generation algorithm directly and handles everything the
spec defines (``repeat``, any FHIRPath fhirpathpy knows), at Python speed. The SQL compiler is
the fast path; this is the fallback and the reference the conformance test cross-checks the
compiler against.

Semantics worth knowing: ``%rowIndex`` is the 0-based index of the element a ``forEach`` /
``forEachOrNull`` / ``repeat`` is on, and a select without an iterator inherits its parent's;
under the null row of a ``forEachOrNull`` every nested select contributes one all-null row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import product
from typing import Any

from caretwin.errors import DataError
from caretwin.views.definition import Column, Select, View
from caretwin.views.fhirpath import FhirPathError, evaluate, evaluate_nodes

Row = dict[str, Any]


def interpret(view: View, resources: Iterable[dict[str, Any]]) -> Iterator[Row]:
    """Rows of ``view`` over ``resources`` (other resource types are skipped)."""
    names = view.column_names()
    for resource in resources:
        if resource.get("resourceType") != view.resource:
            continue
        try:
            if not _keep(view, resource):
                continue
            for row in _rows(view.select, resource, 0, view.constants):
                yield {n: row.get(n) for n in names}
        except FhirPathError as exc:
            raise DataError(f"view {view.name or view.resource}: {exc}") from None


def _keep(view: View, resource: dict[str, Any]) -> bool:
    for path in view.where:
        result = evaluate(path, resource, view.constants)
        if not result:
            return False
        if len(result) > 1 or not isinstance(result[0], bool):
            raise FhirPathError(f"where {path.text!r} must yield a boolean, got {result[:3]!r}")
        if not result[0]:
            return False
    return True


def _rows(selects: Iterable[Select], node: Any, index: int, env: dict[str, Any]) -> list[Row]:
    """The cross product of the rows of sibling selects over one node."""
    parts = [_select(s, node, index, env) for s in selects]
    return [_merge(combo) for combo in product(*parts)]


def _merge(rows: Iterable[Row]) -> Row:
    out: Row = {}
    for row in rows:
        out.update(row)
    return out


def _select(sel: Select, node: Any, index: int, env: dict[str, Any]) -> list[Row]:
    iterating = sel.for_each or sel.for_each_or_null or sel.repeat
    if node is None:  # under the null row of a forEachOrNull: one row, index 0 if iterating
        items: list[tuple[Any, int]] = [(None, 0 if iterating else index)]
    elif sel.for_each is not None:
        items = _indexed(evaluate_nodes(sel.for_each, node, _env(env, index)))
    elif sel.for_each_or_null is not None:
        found = evaluate_nodes(sel.for_each_or_null, node, _env(env, index))
        items = _indexed(found) or [(None, 0)]
    elif sel.repeat:
        items = _indexed(_repeat(sel, node, env))
    else:
        items = [(node, index)]
    rows: list[Row] = []
    for item, i in items:
        own = {c.name: _value(c, item, _env(env, i)) for c in sel.columns}
        parts = [[own]] + [_select(s, item, i, env) for s in sel.selects]
        if sel.union_all:
            branches = sel.union_all if item is not None else sel.union_all[:1]
            parts.append([r for u in branches for r in _select(u, item, i, env)])
        rows += [_merge(combo) for combo in product(*parts)]
    return rows


def _indexed(items: list[Any]) -> list[tuple[Any, int]]:
    return [(item, i) for i, item in enumerate(items)]


def _env(env: dict[str, Any], index: int) -> dict[str, Any]:
    return {**env, "rowIndex": index}


def _repeat(sel: Select, node: Any, env: dict[str, Any]) -> list[Any]:
    """Depth-first, pre-order: each node found, then what the expressions find under it."""
    out: list[Any] = []
    for path in sel.repeat:
        for child in evaluate_nodes(path, node, _env(env, 0)):
            out.append(child)
            out += _repeat(sel, child, env)
    return out


def _value(col: Column, node: Any, env: dict[str, Any]) -> Any:
    # a null row's element is the empty collection (paths give nothing, %rowIndex still works)
    values = evaluate(col.path, [] if node is None else node, env)
    if col.collection:
        return values
    if len(values) > 1:
        raise FhirPathError(
            f"column {col.name!r} ({col.path.text!r}) yields {len(values)} values;"
            " set collection: true or select one value (e.g. first())"
        )
    return values[0] if values else None
