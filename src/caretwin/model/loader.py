"""Loading twin definitions from YAML, with every problem named by its field path.

Errors never surface as tracebacks: YAML syntax errors, pydantic field errors and cross-field
problems are all turned into one :class:`~caretwin.errors.DefinitionError` listing
``(path, message)`` pairs, e.g. ``pathways.ed.steps[treatment].next: routing probabilities sum
to 0.9, not 1``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from caretwin.errors import DefinitionError, ScenarioNotFound
from caretwin.model.definition import TwinDefinition
from caretwin.model.extensions import DISCRIMINATOR_TAGS
from caretwin.model.validation import check_definition


def _loc_to_path(data: Any, loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location, naming list items by their ``id`` where they have one."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = str(item)
            if isinstance(node, list) and 0 <= item < len(node):
                elem = node[item]
                if isinstance(elem, dict) and "id" in elem:
                    label = str(elem["id"])
                node = elem
            else:
                node = None
            parts.append(f"[{label}]")
        else:
            # discriminated-union tags (e.g. 'lognormal') are not real fields
            if item in DISCRIMINATOR_TAGS and not (isinstance(node, dict) and item in node):
                continue
            if isinstance(node, dict) and item in node:
                node = node[item]
                parts.append(f".{item}" if parts else item)
            elif (isinstance(node, dict) and node.get("dist") == item) or (
                isinstance(node, dict) and node.get("type") == item
            ):
                continue
            else:
                node = None
                parts.append(f".{item}" if parts else item)
    return "".join(parts) or "(root)"


def _message(error: Any) -> str:
    # pydantic's wording for a misspelt key ("Extra inputs are not permitted") hides the cause
    return "unknown field" if error["type"] == "extra_forbidden" else str(error["msg"])


def definition_from_data(data: Any, *, source: str = "definition") -> TwinDefinition:
    if not isinstance(data, dict):
        raise DefinitionError(f"{source}: a twin definition must be a mapping")
    try:
        d = TwinDefinition.model_validate(data)
    except ValidationError as exc:
        problems = [(_loc_to_path(data, e["loc"]), _message(e)) for e in exc.errors()]
        raise DefinitionError(
            f"{source} is not a valid twin definition", problems=problems
        ) from None
    problems = check_definition(d)
    if problems:
        raise DefinitionError(f"{source} is not a valid twin definition", problems=problems)
    return d


def read_text_file(path: Path | str, what: str) -> str:
    """A definition-like file's text; a missing or unreadable file is a DefinitionError."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DefinitionError(f"no such {what} file: {p}") from None
    except OSError as exc:
        raise DefinitionError(f"cannot read {what} file {p}: {exc.strerror}") from None


def parse_yaml(text: str, source: str) -> Any:
    """YAML to plain data; a syntax error names its line and column, never a traceback."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DefinitionError(f"{source}: YAML syntax error{where}") from None


def load_definition(path: Path | str) -> TwinDefinition:
    """Load and fully validate a twin definition file."""
    return parse_definition(read_text_file(path, "model"), source=str(path))


def parse_definition(text: str, *, source: str = "definition") -> TwinDefinition:
    return definition_from_data(parse_yaml(text, source), source=source)


def dump_definition(d: TwinDefinition) -> str:
    return yaml.safe_dump(d.to_data(), sort_keys=False, allow_unicode=True, width=100)


def _set_path(data: dict[str, Any], dotted: str, value: Any, scenario: str) -> None:
    keys = dotted.split(".")
    node: Any = data
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        where = ".".join(keys[: i + 1])
        if isinstance(node, dict):
            if last:
                node[key] = value
                return
            if key not in node:
                raise DefinitionError(
                    f"scenario '{scenario}' overrides an unknown field",
                    problems=[(f"scenarios.{scenario}.set.{dotted}", f"unknown field '{where}'")],
                )
            node = node[key]
        elif isinstance(node, list):
            idx = next(
                (j for j, el in enumerate(node) if isinstance(el, dict) and el.get("id") == key),
                None,
            )
            if idx is None and key.isdigit() and int(key) < len(node):
                idx = int(key)
            if idx is None:
                raise DefinitionError(
                    f"scenario '{scenario}' overrides an unknown list item",
                    problems=[(f"scenarios.{scenario}.set.{dotted}", f"no item '{where}'")],
                )
            if last:
                node[idx] = value
                return
            node = node[idx]
        else:
            raise DefinitionError(
                f"scenario '{scenario}' overrides inside a plain value",
                problems=[(f"scenarios.{scenario}.set.{dotted}", f"'{where}' is not a mapping")],
            )


def apply_scenario(d: TwinDefinition, scenario: str | None) -> TwinDefinition:
    """The definition with a named scenario's overrides applied (``baseline``/None: unchanged)."""
    if scenario in (None, "baseline") and (scenario is None or "baseline" not in d.scenarios):
        return d
    assert scenario is not None
    if scenario not in d.scenarios:
        known = ", ".join(["baseline", *sorted(d.scenarios)])
        raise ScenarioNotFound(f"unknown scenario '{scenario}' (known: {known})")
    data = copy.deepcopy(d.to_data())
    overrides = d.scenarios[scenario].set
    for dotted, value in overrides.items():
        _set_path(data, dotted, value, scenario)
    try:
        return definition_from_data(data, source=f"scenario '{scenario}'")
    except DefinitionError as exc:
        problems = [_in_scenario(scenario, overrides, p, m) for p, m in exc.problems]
        raise DefinitionError(exc.message, problems=problems) from None


def _in_scenario(
    scenario: str, overrides: dict[str, Any], path: str, message: str
) -> tuple[str, str]:
    """A problem of the overridden definition, named where the author wrote the cause.

    ``resources.icu.bedz`` set by scenario ``s`` becomes ``scenarios.s.set.resources.icu.bedz``;
    a problem no override path covers (a cross-field check the new values break) keeps its path
    in the message under ``scenarios.s``.
    """
    dotted_path = re.sub(r"\[([^\]]*)\]", r".\1", path)
    for dotted in sorted(overrides, key=len, reverse=True):
        if dotted_path == dotted or dotted_path.startswith(dotted + "."):
            return f"scenarios.{scenario}.set.{dotted}{dotted_path[len(dotted) :]}", message
    return f"scenarios.{scenario}", f"{path}: {message}"


def scenario_problems(d: TwinDefinition) -> list[tuple[str, str]]:
    """Every problem simulating any of ``d``'s scenarios would raise, with its field path."""
    problems: list[tuple[str, str]] = []
    for name in d.scenarios:
        try:
            apply_scenario(d, name)
        except DefinitionError as exc:
            problems += exc.problems or [(f"scenarios.{name}", exc.message)]
    return problems


def scenario_names(d: TwinDefinition) -> list[str]:
    return ["baseline", *[s for s in d.scenarios if s != "baseline"]]
