"""FHIR references to bare ids, as the lake's reference columns hold them.

``Patient/123``, ``http://server/fhir/Patient/123`` and ``Patient/123/_history/2`` become
``123``; a ``urn:uuid:`` (or any ``fullUrl``) reference becomes the id of the bundle entry it
names. Conditional references such as Synthea's ``Location?identifier=system|value`` keep their
text here; :class:`LocationIndex` resolves the Location ones later against every Location the
lake holds, since the Location may arrive in a later file or a later ingest. A logical reference
(``identifier`` only) is written in the same conditional form so it can be resolved the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


class LocationIndex:
    """Location identifiers (``system|value`` and bare ``value``) to Location ids."""

    def __init__(self) -> None:
        self._by_key: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def add(self, resource: Mapping[str, Any]) -> None:
        rid = resource.get("id")
        idents = resource.get("identifier")
        if not isinstance(rid, str) or not isinstance(idents, list):
            return
        for ident in idents:
            if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                value = ident["value"]
                self._by_key[value] = rid
                if isinstance(ident.get("system"), str):
                    self._by_key[f"{ident['system']}|{value}"] = rid

    def add_all(self, resources: Iterable[Mapping[str, Any]]) -> None:
        for resource in resources:
            self.add(resource)

    def lookup(self, value: str | None) -> str | None:
        """The Location id for a ``Location?identifier=...`` text, else the value unchanged."""
        if value is None or not value.startswith(LOCATION_QUERY):
            return value
        return self._by_key.get(value[len(LOCATION_QUERY) :], value)
