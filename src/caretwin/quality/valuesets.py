"""The value sets the code checks compare against: small JSON files shipped in ``quality/data``.

Why data files and not Python constants: a data team reviewing (or extending) what counts as a
valid code reads and edits one small JSON per value set, with its code system URL and the FHIR R4
binding it comes from, without touching code. Each file holds ``id``, ``title``, ``system``,
``binding`` and ``codes`` (code -> display).
"""

from __future__ import annotations

import functools
from importlib import resources

import orjson
from pydantic import BaseModel, ValidationError

from caretwin.errors import ConfigError

__all__ = ["ValueSet", "load_value_set", "value_set_ids"]

_PACKAGE = "caretwin.quality"
_FOLDER = "data"


class ValueSet(BaseModel):
    """One value set: the codes a column may hold."""

    id: str
    title: str
    system: str
    binding: str
    codes: dict[str, str]

    def contains(self, code: str) -> bool:
        return code in self.codes


def value_set_ids() -> list[str]:
    """The ids of every shipped value set, sorted."""
    folder = resources.files(_PACKAGE).joinpath(_FOLDER)
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


@functools.cache
def load_value_set(vs_id: str) -> ValueSet:
    """The shipped value set ``vs_id`` (raises :class:`ConfigError` if missing or malformed)."""
    path = resources.files(_PACKAGE).joinpath(_FOLDER, f"{vs_id}.json")
    try:
        vs = ValueSet.model_validate(orjson.loads(path.read_bytes()))
    except (OSError, orjson.JSONDecodeError, ValidationError) as exc:
        raise ConfigError(
            f"value set {vs_id!r} is missing or malformed: {exc}", details={"value_set": vs_id}
        ) from exc
    if vs.id != vs_id:
        raise ConfigError(f"value set file {vs_id}.json declares id {vs.id!r}")
    return vs
