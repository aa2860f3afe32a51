"""FHIRPath values for the native engine: the macros of :mod:`caretwin.views.sqlfuncs` in Python.

A collection is a Python list of JSON values (arrays flattened one level, JSON nulls dropped),
a boolean is ``True``/``False``/``None`` (``None`` the empty collection, SQL's three-valued
logic), and each DuckDB macro or cast the compiled SQL uses has its function here, with the
same results (text of a JSON number as DuckDB prints it, ``CAST(json AS BIGINT)`` rounding
half to even, ...). :mod:`caretwin.views.pypath` composes them.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from caretwin.views.fhirpath import reference_key


class PathError(Exception):
    """A compiled expression failed on a value (DuckDB would raise a conversion error)."""


class ViewRowError(Exception):
    """A view failed on one resource (the compiled SQL raises the same message)."""


def flat(values: list[Any]) -> list[Any]:
    """``ct_flat``: arrays flattened one level, JSON nulls dropped."""
    out: list[Any] = []
    for v in values:
        if v is None:
            continue
        if type(v) is list:
            out.extend(e for e in v if e is not None)
        else:
            out.append(v)
    return out


def nav(values: list[Any], key: str) -> list[Any]:
    """``ct_nav``: ``key`` of every object, flattened."""
    out: list[Any] = []
    for x in values:
        if type(x) is dict:
            v = x.get(key)
            if v is None:
                continue
            if type(v) is list:
                out.extend(e for e in v if e is not None)
            else:
                out.append(v)
    return out


def choice(values: list[Any], name: str) -> list[Any]:
    """``ct_choice``: every ``name<Upper>...`` key of each object (a ``value[x]`` element)."""
    n = len(name)
    out: list[Any] = []
    for x in values:
        if type(x) is dict:
            for key in sorted(x):  # canonical JSON: the keys in the order DuckDB reads them
                if key == name or (
                    key.startswith(name) and len(key) > n and key[n].upper() == key[n]
                ):
                    out += flat([x[key]])
    return out


def is_num(v: Any) -> bool:
    return type(v) is int or type(v) is float


def text(v: Any) -> str | None:
    """``->> '$'``: a string as itself, anything else as its JSON text."""
    if v is None or type(v) is str:
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()


def to_int(v: Any) -> int:
    """``CAST(json AS BIGINT)``: numbers rounded half to even, booleans 0/1, numeric text."""
    if type(v) is bool:
        return int(v)
    if type(v) is int:
        if not -(2**63) <= v < 2**63:
            raise PathError(f"Failed to cast value to numerical: {v}")
        return v
    if type(v) is float and math.isfinite(v):
        return round(v)
    if type(v) is str:
        try:
            return round(float(v)) if not v.strip().lstrip("+-").isdigit() else int(v)
        except ValueError:
            pass
    raise PathError(f"Failed to cast value to numerical: {text(v)}")


def to_float(v: Any) -> float:
    """``CAST(json AS DOUBLE)``."""
    if type(v) is bool:
        return float(v)
    if type(v) is int or type(v) is float:
        return float(v)
    if type(v) is str:
        try:
            return float(v)
        except ValueError:
            pass
    raise PathError(f"Failed to cast value to numerical: {text(v)}")


def to_bool(v: Any) -> bool:
    """``CAST(json AS BOOLEAN)``."""
    if type(v) is bool:
        return v
    if is_num(v):
        return bool(v)
    if type(v) is str and v.lower() in ("true", "false", "t", "f", "1", "0"):
        return v.lower() in ("true", "t", "1")
    raise PathError(f"Failed to cast value to boolean: {text(v)}")


def of_bool(b: bool | None) -> list[Any]:
    return [] if b is None else [b]


def as_bool(values: list[Any]) -> bool | None:
    """``ct_bool``: the first item; a non-boolean item counts as true (it exists)."""
    if not values:
        return None
    v = values[0]
    return v if type(v) is bool else True


def num(values: list[Any]) -> float | None:
    return None if not values else to_float(values[0])


def scalar_eq(a: Any, b: Any) -> bool:
    if is_num(a) and is_num(b):
        return bool(float(a) == float(b))
    if is_num(a) != is_num(b):
        return False
    return text(a) == text(b)


def eq(a: list[Any], b: list[Any]) -> bool | None:
    if not a or not b:
        return None
    if len(a) != len(b):
        return False
    return all(scalar_eq(x, y) for x, y in zip(a, b, strict=True))


def cmp(a: list[Any], b: list[Any]) -> int | None:
    if not a or not b:
        return None
    x, y = a[0], b[0]
    if is_num(x) and is_num(y):
        d = float(x) - float(y)
        return 0 if d == 0 else (1 if d > 0 else -1)
    tx, ty = text(x), text(y)
    assert tx is not None and ty is not None
    return -1 if tx < ty else (1 if tx > ty else 0)


def ref_keys(values: list[Any], want: str | None) -> list[Any]:
    out = []
    for o in values:
        if type(o) is dict:
            k = reference_key(o, want)
            if k is not None:
                out.append(k)
    return out


def and_(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def or_(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def not_(a: bool | None) -> bool | None:
    return None if a is None else not a


def ne(a: bool | None, b: bool | None) -> bool | None:
    return None if a is None or b is None else a != b


__all__ = [
    "PathError", "ViewRowError", "and_", "as_bool", "choice", "cmp", "eq", "flat", "is_num",
    "nav", "ne", "not_", "num", "of_bool", "or_", "ref_keys", "scalar_eq", "text",
    "to_bool", "to_float", "to_int",
]  # fmt: skip
