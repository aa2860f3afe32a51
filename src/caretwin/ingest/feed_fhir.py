"""The FHIR R4 feeder: NDJSON and JSON files (one resource or a Bundle, plain or gzip).

Files are cut into chunks of whole lines (:mod:`~caretwin.ingest.sources`), parsed and checked
in worker processes when the input is large (:mod:`~caretwin.ingest.chunkpool`), and spooled
to the batch in input order. A retry reads only the given lines of an NDJSON file. Resources
read by a plugin's feeder take the same path (:func:`feed_resources`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caretwin.ingest.batch import IngestBatch
from caretwin.ingest.chunkpool import parse_all
from caretwin.ingest.parse import Chunk, Parsed
from caretwin.ingest.sources import chunks, is_line_file, line_chunks

if TYPE_CHECKING:
    from caretwin.plugins import FeederSpec

__all__ = ["feed_fhir", "feed_resources"]


def feed_fhir(batch: IngestBatch, paths: list[Path]) -> None:
    """Every line of ``paths``, or of an NDJSON file in ``batch.lines`` only those lines."""
    for path in paths:
        if path in batch.lines and is_line_file(path):
            batch.read_lines(path, batch.lines[path])
        else:
            batch.read_whole(path)
    size = sum(p.stat().st_size for p in paths)
    todo = (
        batch.assign(c)
        for p in paths
        for c in (
            line_chunks(p, batch.lines[p]) if p in batch.lines and is_line_file(p) else chunks(p)
        )
    )
    _parse(batch, todo, size)


def feed_resources(spec: FeederSpec, batch: IngestBatch, paths: list[Path]) -> None:
    """A plugin feeder's files: the resources its ``read`` yields take the path of NDJSON
    lines; lines it could not read are quarantined with the feeder's reason."""
    from caretwin.ingest.plugin import resource_chunks

    for path in paths:
        batch.read_whole(path)
    refused: list[dict[str, Any]] = []
    _parse(batch, (batch.assign(c) for p in paths for c in resource_chunks(p, spec, refused)), 0)
    if refused:
        batch.add_parsed(Parsed(None, refused, records=len(refused)))


def _parse(batch: IngestBatch, todo: Iterable[Chunk], size: int) -> None:
    for parsed in parse_all(todo, size, batch.workers):
        batch.add_parsed(parsed)
