"""What a plugin registers: one typed spec per engine, KPI kind, feeder, fitter, report section
and command group. The contracts each spec carries are stated in ``docs/plugins.md``.

This module imports nothing heavy (types only), so a plugin module that builds its specs at
import time stays cheap to load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import typer
    from pydantic import BaseModel

    from caretwin.access import Permission
    from caretwin.ingest.batch import AfterStage, IngestBatch
    from caretwin.model.definition import TwinDefinition
    from caretwin.model.distributions import Distribution
    from caretwin.reports.report import ReportInput
    from caretwin.sim.compiled import CKpi, CompiledModel, KpiCompile
    from caretwin.sim.kpis import Collected
    from caretwin.sim.result import ReplicationResult

__all__ = [
    "CommandGroup",
    "EngineSpec",
    "FeederSpec",
    "FittedFamily",
    "FitterSpec",
    "JobKindSpec",
    "JobOutput",
    "JobProgress",
    "KpiInput",
    "KpiSpec",
    "NativeKpi",
    "NavLink",
    "PageSpec",
    "ReportSection",
    "ResourceRecord",
    "SectionHtml",
]


@dataclass(frozen=True)
class EngineSpec:
    """A simulation engine.

    ``run(model, seed_seq)`` runs one replication: ``seed_seq`` is that replication's
    ``numpy.random.SeedSequence`` (entropy = the root seed, ``spawn_key = (replication,)``) and
    the result must depend on nothing else, so runs reproduce whatever the workers. ``run`` is
    called in worker processes: it must be a module-level function (picklable by reference).
    ``supports(model)`` returns why the engine cannot run a model, or ``None``. ``auto_rank``
    makes the engine a candidate for ``--engine auto`` (lowest rank first; ``None``: only when
    named). ``prepare(model)`` runs once in the parent before workers start (e.g. compiling).
    """

    name: str
    description: str
    run: Callable[[CompiledModel, np.random.SeedSequence], ReplicationResult]
    supports: Callable[[CompiledModel], str | None] | None = None
    prepare: Callable[[CompiledModel], None] | None = None
    auto_rank: int | None = None


@dataclass(frozen=True)
class KpiInput:
    """What a plugin KPI receives for one replication.

    ``replication`` is the engine's record of it: ``kpis`` (the values of the built-in KPIs of
    the model), ``events``, ``occupancy_daily`` (per pool, mean units held in each day of the run
    window) and ``histograms``; ``model`` is the compiled model it ran (pools, steps, window).
    """

    name: str
    model: CompiledModel
    replication: ReplicationResult


@dataclass(frozen=True)
class NativeKpi:
    """How CareTwin's engines collect a KPI kind while they run (an *engine-native* kind).

    ``compile(config, ctx)`` turns a definition's entry into the engines' form
    (:class:`caretwin.sim.compiled.CKpi`): pool and step indexes, and the hooks where the engines
    sample per-patient intervals (``ctx.listen``). ``value(kpi, collected)`` folds what an engine
    collected in one replication (:class:`caretwin.sim.kpis.Collected`: samples per KPI, occupancy
    and capacity trackers per pool, request, turned-away, entry and renege counts) into
    ``(value, histogram or None)``. Engines' loops never see the kind, only the collectors, so a
    native kind costs nothing per event beyond the hooks it asks for. ``value`` is called in
    worker processes: a module-level function.
    """

    compile: Callable[[Any, KpiCompile], CKpi]
    value: Callable[[CKpi, Collected], tuple[float, np.ndarray | None]]


@dataclass(frozen=True)
class KpiSpec:
    """A KPI kind: the ``type`` a twin definition's ``kpis`` entry names.

    ``config`` is the pydantic model of an entry (a subclass of
    :class:`caretwin.model.definition.KpiConfig` whose ``type`` field is ``Literal[kind]``); the
    twin format validates entries with it and ``caretwin schema`` shows it. A kind is computed
    one of two ways:

    * ``compute(config, data)`` (a *record-based* kind, as plugins' are): the KPI's value for one
      replication from the engine's record of it (:class:`KpiInput`), as a float (NaN when
      undefined); it works with every engine;
    * ``native`` (CareTwin's own kinds): compiled for the engines and collected while they run
      (:class:`NativeKpi`).

    ``check(config, definition)`` lists problems of an entry against the rest of the definition
    as ``(field path within the entry, message)`` pairs, e.g. ``("resource", "unknown ...")``.
    """

    kind: str
    config: type[BaseModel]
    compute: Callable[[Any, KpiInput], float] | None = None
    description: str = ""
    check: Callable[[Any, TwinDefinition], list[tuple[str, str]]] | None = None
    native: NativeKpi | None = None


@dataclass(frozen=True)
class ResourceRecord:
    """One record a plugin feeder read: a FHIR R4 resource, or why a line could not be one."""

    line: int
    resource: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class FeederSpec:
    """An input format of ``caretwin ingest``.

    A file is recognised when its lower-cased name ends with one of ``suffixes`` or ``sniff(path)``
    says so (cheap: a look at the name or the first bytes). Exactly one of the two readers:

    * ``read(path)`` (for plugins) yields :class:`ResourceRecord` s: FHIR R4 resources that go
      through the same checks, views and quarantine as NDJSON lines (an ``error`` quarantines
      that line with its reason);
    * ``feed(batch, paths)`` (built-in formats) adds the files to the ingest's
      :class:`~caretwin.ingest.batch.IngestBatch` through its API (rows, lineage, candidate
      records, quarantine); it may return an after-stage step, called with this ingest's staged
      rows once every feeder has run (HL7 v2 events apply on top of the FHIR encounters).

    ``order`` sorts feeders within one ingest (lower first; HL7 v2 events apply last).
    """

    name: str
    description: str
    suffixes: tuple[str, ...] = ()
    sniff: Callable[[Path], bool] | None = None
    read: Callable[[Path], Iterable[ResourceRecord]] | None = None
    feed: Callable[[IngestBatch, list[Path]], AfterStage | None] | None = None
    order: int = 50

    def recognises(self, path: Path) -> bool:
        if path.name.lower().endswith(self.suffixes):
            return True
        return self.sniff is not None and self.sniff(path)


@dataclass(frozen=True)
class FittedFamily:
    """One family fitted to a sample: the model's distribution, the log-likelihood of the
    completed values (density) plus the censored ones (survival), and the fitted CDF (for the KS
    statistic of the chosen family)."""

    distribution: Distribution | None  # None: no valid model distribution (not chosen)
    log_likelihood: float
    cdf: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FitterSpec:
    """A duration family calibration may fit (``caretwin calibrate``: lowest AIC wins).

    ``fit(x, censored)`` fits positive completed durations ``x`` and right-censored elapsed
    times ``censored`` (possibly empty) by maximum likelihood; ``n_params`` counts the free
    parameters for the AIC. A fit that fails may raise or return a non-finite likelihood: the
    family is then not chosen.
    """

    family: str
    n_params: int
    fit: Callable[[np.ndarray, np.ndarray], FittedFamily]
    description: str = ""


@dataclass(frozen=True)
class SectionHtml:
    """A rendered report section, when a plain fragment is not enough: ``body`` is the HTML
    placed after the section's heading (as is: indent it yourself), ``title`` this report's
    heading (``None``: the spec's title) and ``nav`` the text of its link in the report's
    contents at the top (``None``: not listed)."""

    body: str
    title: str | None = None
    nav: str | None = None


@dataclass(frozen=True)
class ReportSection:
    """A section of the simulation report: ``render(inp)`` returns an HTML fragment (the plugin
    escapes what it inserts), a :class:`SectionHtml`, or ``None`` to leave the section out for
    that report. The report is its sections in ``order`` (then name), CareTwin's own included:
    they are registered with their renderers through the same hook."""

    name: str
    title: str
    render: Callable[[ReportInput], str | SectionHtml | None]
    order: int = 50


@dataclass(frozen=True)
class CommandGroup:
    """A top-level command of ``caretwin``: ``load()`` returns the Typer app (a group) or a
    command function; it is called only when the command runs, so imports go inside it."""

    name: str
    help: str
    load: Callable[[], typer.Typer | Callable[..., Any]]


@dataclass(frozen=True)
class RouterSpec:
    """A group of HTTP API routes of ``caretwin serve``: ``load()`` returns a FastAPI
    ``APIRouter`` mounted under ``/api/v1`` (called only when the server starts, so FastAPI is
    imported inside it). Every route declares its permission (``caretwin.api.deps.requires``
    or ``public``); the authorisation matrix test walks them all."""

    name: str
    help: str
    load: Callable[[], Any]


@dataclass(frozen=True)
class NavLink:
    """A page offered in the web app's navigation and on the home page of every role holding
    ``permission`` (a :class:`caretwin.access.Permission` value, or ``"signed-in"``)."""

    title: str
    path: str
    permission: str
    description: str = ""
    order: int = 50


@dataclass(frozen=True)
class PageSpec:
    """A group of web pages of ``caretwin serve``: ``load()`` returns a FastAPI ``APIRouter``
    mounted at the site's root (outside ``/api/v1``), called only when the server starts. Every
    page declares its permission through ``caretwin.web.deps`` (deny by default: a page without
    one stops the server); ``nav`` lists the pages offered in the navigation and on the home
    page, to the roles whose permissions allow them."""

    name: str
    help: str
    load: Callable[[], Any]
    nav: tuple[NavLink, ...] = ()


class JobProgress(Protocol):
    """What a job kind's runner reports through while it works (the worker's implementation
    writes it to the job's row and reads the job's cancel request).

    ``started(total)`` once the amount of work is known; ``advance(n)`` after each step (a
    replication, a file); ``check()`` at a safe stopping point. ``advance`` and ``check`` raise
    :class:`caretwin.errors.Cancelled` when the job was asked to stop: let it propagate, so the
    operation unwinds as after any error and the workspace is left as it was. ``job_id`` names
    the job (e.g. for a folder of what it writes).
    """

    job_id: str

    def started(self, total: int) -> None:
        """The work has ``total`` steps."""

    def advance(self, n: int = 1) -> None:
        """``n`` more steps are done (may raise ``Cancelled``)."""

    def check(self) -> None:
        """A safe point to stop at (may raise ``Cancelled``)."""


@dataclass(frozen=True)
class JobOutput:
    """What a job produced: the run it recorded and/or a typed result (a pydantic model, kept
    as JSON on the job's row)."""

    run_id: str | None = None
    result: BaseModel | None = None

    def to_dict(self) -> dict[str, Any]:
        result = None if self.result is None else self.result.model_dump(mode="json")
        return {"run_id": self.run_id, "result": result}


@dataclass(frozen=True)
class JobKindSpec:
    """A kind of background job (``caretwin serve``'s worker, ``caretwin worker``).

    ``params()`` returns the pydantic model of the job's parameters, validated when the job is
    submitted (so a bad request fails then, not on the worker); it is a loader so a plugin
    module stays cheap to import. ``run(ctx, params, progress)`` does the work as the actor who
    submitted the job (``ctx`` is a :class:`caretwin.services.context.ServiceContext`) through
    the same service function the command line uses, and returns a :class:`JobOutput`. The
    worker calls it in its own thread or process: it must not rely on the submitting process.

    ``permission`` is what submitting (and cancelling) the job needs, checked at submit time
    and again by the service the runner calls. ``cancellable``: a *running* job may be stopped
    cooperatively (the runner passes ``progress`` on to work that checks it); a queued job can
    always be cancelled. ``idempotent``: running the job twice does no harm, so a job whose
    worker died is queued again instead of failed (at most ``max_attempts`` runs).
    """

    name: str
    description: str
    permission: Permission
    params: Callable[[], type[BaseModel]]
    run: Callable[[Any, Any, JobProgress], JobOutput]
    cancellable: bool = True
    idempotent: bool = False
    max_attempts: int = 3
