"""An example CareTwin plugin: what a vendor or integrator writes to add

* a KPI kind ``peak_day_occupancy``: the highest daily mean occupancy of a pool in the window;
* an engine ``example``: the reference engine under its own name (a real plugin would run its
  own core); it honours the contract: one SeedSequence per replication in, the run record out;
* a feeder ``wards-tsv``: ``*.wards.tsv`` files (id, name, unit code) read as FHIR Locations;
* a report section ``example-peaks``: the peak-day KPIs of the run, per scenario;
* a command group ``example`` (``caretwin example wards FILE``: count the wards of a TSV).

The module imports only CareTwin's light plugin API at import time; everything else is imported
inside the functions, so loading the plugin costs nothing until a feature is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from caretwin.plugins import (
    CommandGroup,
    EngineSpec,
    FeederSpec,
    KpiInput,
    KpiSpec,
    ReportSection,
    ResourceRecord,
    hookimpl,
)

if TYPE_CHECKING:
    import numpy as np

    from caretwin.model.definition import TwinDefinition
    from caretwin.reports.report import ReportInput
    from caretwin.sim.compiled import CompiledModel
    from caretwin.sim.result import ReplicationResult


def _peak_config() -> Any:
    from caretwin.model.definition import KpiConfig

    class PeakDayOccupancyKpi(KpiConfig):
        """Highest daily mean occupancy of a pool over the run window."""

        type: Literal["peak_day_occupancy"] = "peak_day_occupancy"
        unit: str = "units"
        resource: str

    return PeakDayOccupancyKpi


def peak_day(config: Any, data: KpiInput) -> float:
    days = data.replication.occupancy_daily.get(config.resource)
    return float(days.max()) if days is not None and len(days) else float("nan")


def check_peak_day(config: Any, definition: TwinDefinition) -> list[tuple[str, str]]:
    if config.resource not in definition.resources:
        return [("resource", f"unknown resource '{config.resource}'")]
    return []


def run_example(model: CompiledModel, seed_seq: np.random.SeedSequence) -> ReplicationResult:
    from caretwin.sim.plugin import run_reference

    return run_reference(model, seed_seq)


def read_wards(path: Path) -> Iterator[ResourceRecord]:
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if number == 1 or not line.strip():
            continue  # the header
        cells = line.split("\t")
        if len(cells) != 3 or not cells[0]:
            yield ResourceRecord(number, error="expected 3 tab-separated cells: id, name, unit")
            continue
        ident, name, unit = cells
        yield ResourceRecord(
            number,
            resource={
                "resourceType": "Location",
                "id": ident,
                "name": name,
                "identifier": [{"system": "urn:example:unit", "value": unit}],
                "physicalType": {"coding": [{"code": "wa", "display": "Ward"}]},
            },
        )


@hookimpl
def register_kpis() -> list[KpiSpec]:
    return [
        KpiSpec(
            "peak_day_occupancy",
            _peak_config(),
            compute=peak_day,
            description="Highest daily mean occupancy of a pool in the window.",
            check=check_peak_day,
        )
    ]


@hookimpl
def register_engines() -> list[EngineSpec]:
    return [EngineSpec("example", "The reference engine, as a plugin's engine", run=run_example)]


@hookimpl
def register_feeders() -> list[FeederSpec]:
    return [
        FeederSpec(
            "wards-tsv",
            "Wards as tab-separated id, name, unit code (FHIR Location)",
            suffixes=(".wards.tsv",),
            read=read_wards,
        )
    ]


def render_peaks(inp: ReportInput) -> str | None:
    from html import escape

    rows = [
        f"<li>{escape(scenario)}: {escape(kpi)} = {summary.mean:.1f}</li>"
        for scenario, result in inp.results.items()
        for kpi, summary in result.summary.items()
        if kpi.endswith("_peak_day")
    ]
    return f"<ul>{''.join(rows)}</ul>" if rows else None


@hookimpl
def register_report_sections() -> list[ReportSection]:
    return [ReportSection("example-peaks", "Peak days (example plugin)", render=render_peaks)]


def _commands() -> Any:
    import typer

    app = typer.Typer(help="Example plugin commands.", no_args_is_help=True)

    @app.command("wards")
    def wards(path: Path) -> None:
        """Count the wards a wards TSV holds (readable rows)."""
        good = sum(1 for rec in read_wards(path) if rec.resource is not None)
        typer.echo(f"{good} wards")

    @app.command("about")
    def about() -> None:
        """Which plugin this is."""
        from importlib.metadata import version

        typer.echo(f"caretwin-example-plugin {version('caretwin-example-plugin')}")

    return app


@hookimpl
def register_commands() -> list[CommandGroup]:
    return [CommandGroup("example", "Example plugin commands.", load=_commands)]
