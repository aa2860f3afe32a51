"""Input formats of ``caretwin ingest`` as feeders (the ``register_feeders`` hook).

CareTwin's own formats are registered here like any plugin's: FHIR R4 NDJSON / JSON (one
resource or a Bundle, plain or gzip), CMMS work-order CSV and HL7 v2 files. Which format a file
is comes from the feeder registry (:func:`feeder_for`): the first feeder by ``order`` whose
suffixes or sniff function recognise it. The pipeline hands each feeder its files and the
ingest batch: the built-in formats ``feed`` it (:mod:`~caretwin.ingest.feed_fhir`,
:mod:`~caretwin.ingest.feed_workorders`, :mod:`~caretwin.ingest.feed_hl7`, loaded on first use:
every command loads this module); a plugin's feeder ``read`` s a file into FHIR resources
(:func:`resource_chunks`), which then take the same path as NDJSON lines: checks, views,
quarantine with file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caretwin.plugins import FeederSpec, hookimpl

if TYPE_CHECKING:
    from caretwin.ingest.batch import AfterStage, IngestBatch
    from caretwin.ingest.parse import Chunk

FHIR = "fhir"
WORK_ORDERS = "work-orders"
HL7V2 = "hl7v2"


def _sniff_hl7(path: Path) -> bool:
    from caretwin.hl7v2.framing import is_hl7_file

    return is_hl7_file(path)


def _feed_work_orders(batch: IngestBatch, paths: list[Path]) -> None:
    from caretwin.ingest.feed_workorders import feed_work_orders

    feed_work_orders(batch, paths)


def _feed_fhir(batch: IngestBatch, paths: list[Path]) -> None:
    from caretwin.ingest.feed_fhir import feed_fhir

    feed_fhir(batch, paths)


def _feed_hl7(batch: IngestBatch, paths: list[Path]) -> AfterStage:
    from caretwin.ingest.feed_hl7 import feed_hl7

    return feed_hl7(batch, paths)


@hookimpl
def register_feeders() -> list[FeederSpec]:
    return [
        FeederSpec(
            WORK_ORDERS,
            "CMMS work orders (CSV)",
            suffixes=(".csv",),
            feed=_feed_work_orders,
            order=30,
        ),
        FeederSpec(
            FHIR,
            "FHIR R4 NDJSON, or JSON holding one resource or a Bundle (plain or gzip)",
            suffixes=(".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz", ".json", ".json.gz"),
            feed=_feed_fhir,
            order=40,
        ),
        FeederSpec(
            HL7V2,
            "HL7 v2 ADT messages (.hl7, .hl7v2, .er7; .txt that starts like HL7)",
            sniff=_sniff_hl7,
            feed=_feed_hl7,
            order=90,  # events apply to the state of encounters: after FHIR records
        ),
    ]


def feeder_for(path: Path) -> FeederSpec | None:
    """The feeder that reads ``path``, or ``None`` when no registered feeder recognises it."""
    from caretwin.plugins import registry

    for found in registry.feeders():
        if found.spec.recognises(path):
            return found.spec
    return None


def expected_inputs() -> str:
    """What ``caretwin ingest`` reads, for error messages: the built-in kinds, then each plugin
    feeder's suffixes (or its name when it only sniffs)."""
    from caretwin.ingest.sources import EXPECTED
    from caretwin.plugins import registry

    extra = [
        ", ".join(f.spec.suffixes) or f.spec.name
        for f in registry.feeders()
        if not f.plugin.builtin
    ]
    return ", ".join([EXPECTED, *extra])


def feeder_name(path: Path) -> str | None:
    spec = feeder_for(path)
    return spec.name if spec is not None else None


def by_feeder(paths: list[Path]) -> list[tuple[FeederSpec, list[Path]]]:
    """``paths`` grouped by the feeder that reads them, in feeder ``order`` (files in input
    order within a feeder); a path no feeder recognises is left out."""
    groups: dict[str, tuple[FeederSpec, list[Path]]] = {}
    for path in paths:
        spec = feeder_for(path)
        if spec is not None:
            groups.setdefault(spec.name, (spec, []))[1].append(path)
    return sorted(groups.values(), key=lambda g: g[0].order)


def resource_chunks(path: Path, spec: FeederSpec, refused: list[dict[str, Any]]) -> Iterator[Chunk]:
    """The resources ``spec`` reads from ``path``, one NDJSON chunk each (with its line); lines
    it could not read are appended to ``refused`` as quarantine rows with the feeder's reason."""
    import orjson

    from caretwin.errors import DataError
    from caretwin.ingest.parse import Chunk

    assert spec.read is not None
    source = path.as_posix()
    try:
        for rec in spec.read(path):
            if rec.resource is None:
                refused.append(
                    {
                        "source_file": source,
                        "line": rec.line,
                        "resource_type": None,
                        "reason": f"{spec.name}: {rec.error or 'unreadable'}",
                        "excerpt": "",
                    }
                )
                continue
            yield Chunk(source, rec.line, orjson.dumps(rec.resource) + b"\n")
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise DataError(f"{source}: the {spec.name} feeder cannot read it: {exc}") from exc
