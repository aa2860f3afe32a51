"""Where views come from: the ones CareTwin ships, and a workspace's overrides.

CareTwin ships one ViewDefinition per canonical table (``definitions/<name>.json``). A file
``<workspace>/views/<name>.json`` whose ``name`` is the same replaces the shipped view for that
workspace — a site keeping MRNs under another identifier system, or locations under another
coding, adapts normalization without code changes. A workspace may also add views of its own.
Every definition is validated when loaded; a broken override is reported with its file and the
JSON paths of its problems, never silently ignored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from caretwin.errors import DefinitionError
from caretwin.views.definition import View, parse_view

OVERRIDE_DIR = "views"


@dataclass(frozen=True)
class ViewEntry:
    name: str
    view: View
    origin: str  # "shipped" or "workspace"
    path: str
    sha256: str
    overrides_shipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "resource": self.view.resource,
            "origin": self.origin,
            "override": self.overrides_shipped,
            "columns": self.view.column_names(),
            "path": self.path,
            "sha256": self.sha256,
            "title": self.view.title,
        }


def _load(data: bytes, path: str, origin: str) -> ViewEntry:
    try:
        raw: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DefinitionError(f"{path} is not valid JSON: {exc}") from None
    view = parse_view(raw, source=path)
    stem = Path(path).stem
    if view.name is None:
        raise DefinitionError(f"invalid ViewDefinition ({path})", problems=[("name", "required")])
    if view.name != stem:
        raise DefinitionError(
            f"invalid ViewDefinition ({path})",
            problems=[("name", f"{view.name!r} must match the file name {stem!r}")],
        )
    return ViewEntry(view.name, view, origin, path, hashlib.sha256(data).hexdigest())


def shipped_views() -> dict[str, ViewEntry]:
    folder = resources.files("caretwin.views") / "definitions"
    out: dict[str, ViewEntry] = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json"):
            entry = _load(item.read_bytes(), f"caretwin:views/definitions/{item.name}", "shipped")
            out[entry.name] = entry
    return out


def workspace_views(root: Path) -> dict[str, ViewEntry]:
    folder = root / OVERRIDE_DIR
    out: dict[str, ViewEntry] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            entry = _load(path.read_bytes(), str(path), "workspace")
            out[entry.name] = entry
    return out


def all_views(root: Path | None) -> dict[str, ViewEntry]:
    """Shipped views with the workspace's files layered on top (same name replaces)."""
    views = shipped_views()
    if root is not None:
        for name, entry in workspace_views(root).items():
            views[name] = ViewEntry(
                entry.name, entry.view, entry.origin, entry.path, entry.sha256, name in views
            )
    return dict(sorted(views.items()))


def get_view(root: Path | None, name: str) -> ViewEntry:
    views = all_views(root)
    if name not in views:
        raise DefinitionError(
            f"no view named {name!r}", problems=[("name", f"known: {', '.join(views)}")]
        )
    return views[name]
