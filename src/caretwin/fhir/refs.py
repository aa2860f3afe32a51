"""FHIR references to bare ids, as the lake's reference columns hold them.

``Patient/123``, ``http://server/fhir/Patient/123`` and ``Patient/123/_history/2`` become
``123``; a ``urn:uuid:`` (or any ``fullUrl``) reference becomes the id of the bundle entry it
names. Conditional references such as Synthea's ``Location?identifier=system|value`` keep their
text here; ingestion resolves the Location ones later against every Location the lake holds
(:mod:`caretwin.ingest.tables`), since the Location may arrive in a later file or ingest. A
logical reference (``identifier`` only) is written in the same conditional form so it can be
resolved the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LOCATION_QUERY = "Location?identifier="


def resolve(ref: Any, refs: Mapping[str, str]) -> str | None:
    """The bare id a Reference points at; its text when it cannot be resolved; else None."""
    if not isinstance(ref, dict):
        return None
    text = ref.get("reference")
    if not isinstance(text, str) or not text:
        ident = ref.get("identifier")
        rtype = ref.get("type")
        if isinstance(ident, dict) and isinstance(rtype, str) and ident.get("value"):
            system = ident.get("system")
            value = f"{system}|{ident['value']}" if system else str(ident["value"])
            return f"{rtype}?identifier={value}"
        return None
    if text in refs:
        return refs[text]
    if text.startswith(("urn:", "#")) or "?" in text:
        return text
    parts = text.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return parts[-1] if len(parts) >= 2 else text


def first_ref(refs_list: Any, refs: Mapping[str, str], prefer: str | None = None) -> str | None:
    """The first resolvable reference of a list, preferring ones that name type ``prefer``."""
    if not isinstance(refs_list, list):
        return None
    if prefer is not None:
        for ref in refs_list:
            if isinstance(ref, dict) and (
                str(ref.get("reference", "")).startswith(f"{prefer}/") or ref.get("type") == prefer
            ):
                return resolve(ref, refs)
    for ref in refs_list:
        found = resolve(ref, refs)
        if found is not None:
            return found
    return None
