"""Finding input files and cutting them into :class:`~caretwin.ingest.parse.Chunk` s.

NDJSON (plain or gzip) is read in blocks of about :data:`CHUNK_BYTES` cut at line ends, so
memory stays bounded by a few blocks whatever the file size; a line may hold a single resource
or a whole Bundle. ``.json`` files hold one resource or one Bundle and are one chunk.
``.csv`` files are CMMS work orders. In bulk export naming (``Patient.000.ndjson``) the file
name's first part is a resource type, and records of another type in that file are quarantined
as misfiled. :func:`read_file` reads a file as :class:`Record` s (bulk export error files).

A file that cannot be read to its end (I/O error, truncated or corrupt gzip) fails the whole
ingest with :class:`DataError` rather than quarantining a line: it signals an incomplete
transfer, and loading its first half silently would skew every rate calibrated from it.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, cast

import orjson

from caretwin.errors import DataError
from caretwin.fhir.types import R4_RESOURCE_TYPES
from caretwin.ingest.bundles import expand_bundle
from caretwin.ingest.parse import Chunk, unreadable
from caretwin.ingest.records import EXCERPT_CHARS, Record
from caretwin.ingest.workorders import read_csv

#: Size of the NDJSON blocks handed to parsing (a line longer than this is one block).
CHUNK_BYTES = 4 << 20
SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz", ".json", ".json.gz", ".csv")
EXPECTED = ", ".join((*SUFFIXES, ".hl7", ".txt (HL7 v2)"))


#: Files describing a data set rather than holding it: `caretwin synth`'s ``synth-manifest.json``
#: and a Bulk Data export's saved ``manifest.json``. Found in a folder they are passed over (not
#: quarantined as resources without a resourceType); named explicitly they are read as data.
MANIFEST_SUFFIX = "manifest.json"


def _matches(path: Path) -> bool:
    from caretwin.ingest.plugin import feeder_for  # the feeders of the register_feeders hook

    return feeder_for(path) is not None


def _is_manifest(path: Path) -> bool:
    return path.name.lower().endswith(MANIFEST_SUFFIX)


def discover_inputs(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """The input files, and the files passed over in the given folders (``path (why)``).

    Given files, plus matching files found recursively under given folders. Hidden files and
    folders (``.staging`` and the like) are skipped silently; data-set manifests and files of
    an unsupported kind in a folder are skipped and listed, so the user sees what was not read.
    A file listed twice is read once. A missing path or an explicitly named file of an
    unsupported kind is a :class:`DataError`.
    """
    found: dict[Path, None] = {}
    skipped: list[str] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path).parts
                if not child.is_file() or any(p.startswith(".") for p in rel):
                    continue
                if _is_manifest(child):
                    skipped.append(f"{child.as_posix()} (a data-set manifest)")
                elif not _matches(child):
                    skipped.append(f"{child.as_posix()} (unsupported kind)")
                else:
                    found.setdefault(child.resolve())
        elif path.is_file():
            if not _matches(path):
                from caretwin.ingest.plugin import expected_inputs

                raise DataError(f"{path}: unsupported input (expected {expected_inputs()})")
            found.setdefault(path.resolve())
        else:
            raise DataError(f"{path}: no such file or folder")
    return list(found), skipped


def open_input(path: Path) -> IO[bytes]:
    """``path`` for reading bytes, gunzipped when its name ends in ``.gz``."""
    if path.name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def _file_type(path: Path) -> str | None:
    first = path.name.split(".", 1)[0]
    return first if first in R4_RESOURCE_TYPES and first != "Bundle" else None


def is_csv(path: Path) -> bool:
    return path.name.lower().endswith(".csv")


def is_line_file(path: Path) -> bool:
    """NDJSON: each line a record, so one line can be read again on its own."""
    return path.name.lower().endswith((".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz"))


def line_chunks(path: Path, lines: set[int]) -> Iterator[Chunk]:
    """The given (1-based) lines of an NDJSON file, one chunk each, in file order."""
    source = path.as_posix()
    ftype = _file_type(path)
    last = max(lines, default=0)
    try:
        with open_input(path) as fh:
            for n, raw in enumerate(fh, 1):
                if n in lines:
                    yield Chunk(source, n, raw, file_type=ftype)
                if n >= last:
                    return
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{source}: cannot read: {exc}") from exc


def chunks(path: Path, size: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """``path`` (NDJSON or ``.json``, plain or gzip) as chunks of whole lines, in file order."""
    source = path.as_posix()
    name = path.name.lower()
    try:
        with open_input(path) as fh:
            if name.endswith((".json", ".json.gz")):
                yield Chunk(source, 1, fh.read(), whole_json=True)
                return
            ftype = _file_type(path)
            line, rest = 1, b""
            while True:
                block = fh.read(size)
                if not block:
                    break
                data = rest + block
                cut = data.rfind(b"\n")
                if cut < 0:
                    rest = data
                    continue
                body, rest = data[: cut + 1], data[cut + 1 :]
                yield Chunk(source, line, body, file_type=ftype)
                line += body.count(b"\n")
            if rest:
                yield Chunk(source, line, rest, file_type=ftype)
    except (OSError, EOFError, zlib.error) as exc:  # unreadable, truncated or corrupt gzip
        raise DataError(f"{source}: cannot read: {exc}") from exc


def _record(
    data: object, raw: bytes, source: str, line: int, ftype: str | None
) -> Iterator[Record]:
    if not isinstance(data, dict):
        yield Record(source, line, error="not a JSON object", excerpt=_text(raw))
    elif data.get("resourceType") == "Bundle":
        for index, entry in enumerate(expand_bundle(data)):
            if entry.resource is None:
                why = entry.where + (entry.error or "a delete")
                yield Record(source, line, entry=index, error=why, excerpt=entry.excerpt)
            else:
                text = entry.excerpt or _text(orjson.dumps(entry.resource))
                yield Record(source, line, data=entry.resource, entry=index, excerpt=text)
    else:
        yield Record(source, line, data=data, excerpt=_text(raw), file_type=ftype)


def _text(raw: bytes) -> str:
    return raw[:EXCERPT_CHARS].decode("utf-8", errors="replace").strip()


def read_file(path: Path) -> Iterator[Record]:
    """Every record of one input file, in file order."""
    source = path.as_posix()
    name = path.name.lower()
    if name.endswith(".csv"):
        yield from read_csv(path, source)
        return
    try:
        with open_input(path) as fh:
            if name.endswith((".json", ".json.gz")):
                raw = fh.read()
                try:
                    data = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    yield Record(source, 1, error=unreadable(raw, exc, "file"), excerpt=_text(raw))
                    return
                yield from _record(data, raw, source, 1, None)
                return
            ftype = _file_type(path)
            for line, raw_line in enumerate(fh, 1):
                if not raw_line.strip():
                    continue
                try:
                    data = orjson.loads(raw_line)
                except orjson.JSONDecodeError as exc:
                    yield Record(
                        source, line, error=unreadable(raw_line, exc), excerpt=_text(raw_line)
                    )
                    continue
                yield from _record(data, raw_line, source, line, ftype)
    except (OSError, EOFError, zlib.error) as exc:  # unreadable, truncated or corrupt gzip
        raise DataError(f"{source}: cannot read: {exc}") from exc
