"""FHIRPath evaluation for the interpreter: ``fhirpathpy`` plus the SQL on FHIR functions.

``fhirpathpy`` implements FHIRPath N1 with the R4 model (choice types such as ``value.ofType
(Quantity)``). SQL on FHIR adds ``getResourceKey()`` and ``getReferenceKey([type])``, registered
through fhirpathpy's ``userInvocationTable`` hook. The key of a resource is its ``id``; the key
of a Reference is the id it points at, with the same rules as ingestion
(:func:`caretwin.fhir.refs.resolve`): ``Type/id``, absolute URLs and ``_history`` suffixes
give the bare id; ``urn:``, ``#`` and conditional (``Type?query``) references keep their text.
The SQL compiler mirrors these rules in :mod:`caretwin.views.sqlfuncs`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fhirpathpy.engine import do_eval
from fhirpathpy.engine.invocations.constants import constants
from fhirpathpy.engine.nodes import FP_Type
from fhirpathpy.engine.util import arraify, get_data, process_user_invocation_table
from fhirpathpy.models import models

from caretwin.fhir.refs import resolve
from caretwin.views.paths import ParsedPath

MODEL: Any = models["r4"]


def reference_type(ref: dict[str, Any]) -> str | None:
    """The resource type a Reference names (its ``type``, else parsed from the text)."""
    rtype = ref.get("type")
    if isinstance(rtype, str) and rtype:
        return rtype
    text = ref.get("reference")
    if not isinstance(text, str) or text.startswith(("urn:", "#")):
        return None
    if "?" in text:
        return text.split("?", 1)[0] or None
    parts = text.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return parts[-2] if len(parts) >= 2 else None


def reference_key(ref: Any, want: str | None = None) -> str | None:
    """The key a Reference points at; None if it has none or names a type other than ``want``.

    A reference whose type cannot be told (``urn:uuid:``) is not filtered by ``want``.
    """
    if not isinstance(ref, dict):
        return None
    if want is not None:
        rtype = reference_type(ref)
        if rtype is not None and rtype != want:
            return None
    return resolve(ref, {})


def _resource_key(inputs: list[Any]) -> list[Any]:
    return [r["id"] for r in inputs if isinstance(r, dict) and isinstance(r.get("id"), str)]


def _reference_key(inputs: list[Any], type_info: Any = None) -> list[Any]:
    want = getattr(type_info, "name", None) if type_info is not None else None
    keys = (reference_key(r, want) for r in inputs)
    return [k for k in keys if k is not None]


def _join(inputs: list[Any], separator: str = "") -> list[Any]:
    """``join`` with SQL on FHIR's result on an empty input: the empty string, not empty."""
    return [separator.join(str(v) for v in inputs)]


USER_FUNCTIONS: dict[str, Any] = process_user_invocation_table(
    {
        "join": {"fn": _join, "arity": {0: [], 1: ["String"]}},
        "getResourceKey": {"fn": _resource_key, "arity": {0: []}},
        "getReferenceKey": {"fn": _reference_key, "arity": {0: [], 1: ["TypeSpecifier"]}},
    }
)


class FhirPathError(Exception):
    """An expression failed on a resource (fhirpathpy raises bare exceptions)."""


def evaluate_nodes(path: ParsedPath, node: Any, variables: dict[str, Any]) -> list[Any]:
    """The collection ``path`` yields on ``node``, as fhirpathpy nodes (typed for ``ofType``).

    This is fhirpathpy's ``apply_parsed_path`` with two differences: ``$this`` is bound to the
    input (the spec allows ``$this`` at the top of a column path, e.g. under ``forEach``), and
    the raw nodes are returned so a ``forEach`` element keeps its FHIR type for nested paths.
    """
    constants.reset()
    root = arraify(node)
    ctx: dict[str, Any] = {
        "dataRoot": root,
        "$this": root,
        "vars": {"ucum": "http://unitsofmeasure.org", **variables},
        "model": MODEL,
        "userInvocationTable": USER_FUNCTIONS,
    }
    try:
        result = do_eval(ctx, root, path.root)
    except Exception as exc:  # fhirpathpy signals errors with bare Exception
        raise FhirPathError(f"{path.text!r}: {exc}") from exc
    return result if isinstance(result, list) else [result]


def plain(item: Any) -> Any:
    """A node as plain JSON-like Python data (what a column holds)."""
    data = get_data(item)
    if isinstance(data, list):
        return [plain(i) for i in data]
    if isinstance(data, dict) and not isinstance(data, FP_Type):
        return {k: plain(v) for k, v in data.items()}
    if isinstance(data, FP_Type):
        return str(data)
    if isinstance(data, Decimal):  # FHIRPath decimals: JSON numbers in a row
        return (
            int(data) if data == data.to_integral_value() and "." not in str(data) else float(data)
        )
    return data


def evaluate(path: ParsedPath, node: Any, variables: dict[str, Any]) -> list[Any]:
    """The collection ``path`` yields on ``node``, as plain Python values."""
    values = (plain(i) for i in evaluate_nodes(path, node, variables))
    # fhirpathpy represents a primitive's ``_x`` extension without a value as its own node
    return [v for v in values if not (isinstance(v, dict) and list(v) == ["extension"])]
