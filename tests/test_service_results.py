"""Every service returns a typed result a front end can only render, and no service or
configuration error names a command-line flag.

The first test walks the public functions (``__all__``) of every ``caretwin.services`` module and
checks each return annotation: a pydantic model, a dataclass with ``to_dict()``, a list or
iterator of those, or ``None`` — never ``dict``, ``Any`` or a bare value a front end would have
to wrap. Public helpers that are not operations (argument resolution, ids, registries) are named
in ``HELPERS``, so a new one is a decision, not an accident. The second reads the source of
every package but the CLI and finds string literals in ``raise`` statements that name a
``--flag``.
"""

from __future__ import annotations

import ast
import collections.abc
import dataclasses
import importlib
import inspect
import pkgutil
import re
import types
import typing
from pathlib import Path
from typing import Any

import orjson
import pydantic
import pytest
from typer.testing import CliRunner

import caretwin
import caretwin.services
from caretwin.access import Actor
from caretwin.cli.app import app
from caretwin.connectors import SourceConfig
from caretwin.errors import ConfigError
from caretwin.hl7v2.listener import ListenerStats
from caretwin.services import sources
from caretwin.services.context import ServiceContext
from caretwin.services.hl7 import ListenerSession
from caretwin.services.results import ServiceResult
from caretwin.workspace import Workspace

# Service operations outside caretwin.services (none since the layers: runs, audit and workspace
# operations moved in).
OUTSIDE: list[str] = []

PACKAGE = Path(caretwin.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z]")


def _service_modules() -> list[types.ModuleType]:
    names = [
        f"caretwin.services.{m.name}" for m in pkgutil.iter_modules(caretwin.services.__path__)
    ]
    return [importlib.import_module(n) for n in [*names, *OUTSIDE]]


# Public functions of the service modules that are not operations a front end renders.
HELPERS = {
    "caretwin.services.context.take_cli_workspace",  # the CLI's "workspace: PATH" line
    "caretwin.services.experiment.resolve_experiment_model",  # argument resolution
    "caretwin.services.identity.hash_password",  # a hash
    "caretwin.services.identity.hash_token",  # a hash
    "caretwin.services.identity.new_token",  # a random token
    "caretwin.services.identity.read_password_file",  # argument resolution
    "caretwin.services.identity.session_expired",  # the server's idle-logoff decision
    "caretwin.services.ingestion.ingest_outcome_error",  # a command's exit decision
    "caretwin.services.ingestion.quarantine_id",  # an id
    "caretwin.services.ingestion.quarantine_key",  # a page cursor's key
    "caretwin.services.models.load_named_model",  # argument resolution
    "caretwin.services.models.resolve_model_path",  # argument resolution
    "caretwin.services.scenarios.with_saved_scenarios",  # a run's scenarios, resolved
    "caretwin.services.reproduce.compare_outputs",  # reproduction's comparison
    "caretwin.services.reproduce.registered_kinds",  # the reproducer registry
    "caretwin.services.sources.source_warnings",  # part of SourceSettings
    "caretwin.services.tokens.parse_expiry",  # argument resolution
    "caretwin.services.job_params.check_example",  # parameter validation
    "caretwin.services.job_queue.channel",  # the NOTIFY channel's name
    "caretwin.services.job_queue.claim",  # the queue's claim: a row for the worker
    "caretwin.services.job_queue.finish",  # the worker's conditional final update
    "caretwin.services.job_queue.job_kind",  # the kind registry's lookup
    "caretwin.services.job_queue.rows_updated",  # an update's row count
    "caretwin.services.job_runners.upload_dir",  # a folder
    "caretwin.services.job_worker.worker_name",  # a name
    "caretwin.services.schedules.next_due",  # cron arithmetic
    "caretwin.services.uploads.safe_name",  # file-name sanitising
}


def _service_functions() -> list[tuple[str, Any]]:
    found = []
    for module in _service_modules():
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                found.append((f"{module.__name__}.{name}", obj))
    return found


def _problem(tp: Any) -> str | None:
    """Why ``tp`` is not a typed result, or None when it is."""
    if tp is type(None):
        return None
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return next((p for p in map(_problem, typing.get_args(tp)) if p), None)
    if origin in (list, collections.abc.Iterator, collections.abc.Sequence):
        return _problem(typing.get_args(tp)[0])
    if origin is not None or tp is Any:
        return f"{tp} is not a result type"
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if tp is ServiceContext or hasattr(tp, "to_dict"):
            return None
        return f"dataclass {tp.__name__} has no to_dict()"
    return f"{tp!r} is not a pydantic model or a dataclass with to_dict()"


def test_every_public_service_function_returns_a_typed_result() -> None:
    functions = dict(_service_functions())
    assert len(functions) >= 40, sorted(functions)  # the walk found the services
    assert set(functions) >= HELPERS, HELPERS - set(functions)  # no stale exemption
    problems = {}
    for name, fn in functions.items():
        if name in HELPERS:
            continue
        hints = typing.get_type_hints(fn, localns={"ServiceContext": ServiceContext})
        if "return" not in hints:
            problems[name] = "no return annotation"
        elif (why := _problem(hints["return"])) is not None:
            problems[name] = why
    assert not problems, problems


def test_service_results_serialize_to_their_json_shape() -> None:
    from caretwin.services.simulation import KpiEstimate

    est = KpiEstimate(mean=1.5, ci95=0.25, sd=0.5, n=4, label="wait", unit="h")
    assert est.to_dict() == {
        "mean": 1.5, "ci95": 0.25, "sd": 0.5, "n": 4, "label": "wait", "unit": "h",
        # filled in under parameter uncertainty (docs/validity.md)
        "interval90": None, "variance_share": None,
    }  # fmt: skip
    assert ServiceResult.model_config.get("frozen") is True


def _flags_in_raises(path: Path, root: Path = PACKAGE) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        for sub in ast.walk(node.exc):
            if (
                isinstance(sub, ast.Constant)
                and isinstance(sub.value, str)
                and FLAG.search(sub.value)
            ):
                found.append(f"{path.relative_to(root)}:{sub.lineno}: {sub.value!r}")
    return found


def test_no_service_or_configuration_error_names_a_cli_flag() -> None:
    sources = [p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts]
    assert len(sources) > 100
    found = [hit for p in sorted(sources) for hit in _flags_in_raises(p)]
    assert not found, "\n".join(found)


def test_the_flag_scan_sees_f_strings_and_plain_strings(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(n):\n"
        "    raise ValueError(f'give {n} with --limit')\n"
        "def g():\n"
        "    raise ValueError('a file (--out) is needed', {'x': '--y'})\n"
        "def h():\n"
        "    raise ValueError('a negative number -1, or a dash -- like this')\n",
        encoding="utf-8",
    )
    hits = _flags_in_raises(sample, tmp_path)
    assert len(hits) == 3 and all("sample.py:" in h for h in hits)


def test_listener_session_mirrors_the_listener_counters() -> None:
    counters = {f.name for f in dataclasses.fields(ListenerStats)}
    assert set(ListenerSession.model_fields) == counters


def test_a_pull_error_is_worded_by_the_service_and_flagged_by_the_command(
    tmp_path: Path,
) -> None:
    with Workspace.init(tmp_path / "ws") as ws:
        ctx = ServiceContext(ws, Actor("root", frozenset({"admin"})))
        sources.add_source(ctx, SourceConfig(name="ehr", base_url="http://127.0.0.1:9/fhir"))
        with pytest.raises(ConfigError) as raised:
            sources.pull(ctx, "ehr", group="g1")
        assert "Bulk Data exports only" in raised.value.message
        with pytest.raises(ConfigError) as raised:
            sources.pull(ctx, "ehr", resume=True)
        assert "--" not in raised.value.message and raised.value.details["resumable"] is False
    runner = CliRunner()
    ws_arg = ["-w", str(tmp_path / "ws")]
    out = runner.invoke(app, ["pull", "ehr", "--group", "g1", "--format", "json", *ws_arg])
    assert out.exit_code == 2
    assert orjson.loads(out.stdout)["error"]["message"] == (
        "--group, --patient and --restart go with --bulk"
    )
    out = runner.invoke(app, ["pull", "ehr", "--resume", "--format", "json", *ws_arg])
    assert orjson.loads(out.stdout)["error"]["message"].endswith("(caretwin pull ehr --bulk)")
