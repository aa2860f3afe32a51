"""Files uploaded over the API for an ingest job: kept owner-only under ``<workspace>/uploads``
until the job has ingested them (then deleted: the lake holds the data, not a second copy).

Names are reduced to a safe base name (no folder, no leading dot, a known suffix), so an upload
never writes outside its own folder, and the ingest recognises each file by its suffix.
"""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO

from caretwin.access import Permission
from caretwin.errors import ConfigError
from caretwin.services.context import ServiceContext
from caretwin.services.job_runners import upload_dir
from caretwin.services.results import ServiceResult
from caretwin.workspace.private import make_private

__all__ = ["UPLOAD_SUFFIXES", "Upload", "safe_name", "store_upload"]

#: What an upload may hold: FHIR NDJSON (maybe gzipped), FHIR Bundles, work-order CSV, HL7 v2.
UPLOAD_SUFFIXES = (".ndjson", ".ndjson.gz", ".json", ".csv", ".hl7")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CHUNK = 1 << 20


class Upload(ServiceResult):
    upload: str
    files: list[str]
    bytes: int


def safe_name(name: str) -> str:
    """``name`` as a plain file name: the last path part, odd characters replaced, no leading
    dot; ``ConfigError`` when its suffix is not one an ingest reads."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip("._")[:120]
    if not cleaned.lower().endswith(UPLOAD_SUFFIXES):
        raise ConfigError(
            f"upload {base[:120]!r}: not a file an ingest reads "
            f"(expected one of {', '.join(UPLOAD_SUFFIXES)})",
            details={"file": base[:120]},
        )
    return cleaned


def store_upload(ctx: ServiceContext, files: list[tuple[str, BinaryIO]], max_bytes: int) -> Upload:
    """Save uploaded files (name, stream) in a new owner-only folder; at most ``max_bytes``
    in all, else nothing is kept."""
    with ctx.operation("data.upload", Permission.INGEST, target=f"{len(files)} file(s)") as op:
        if not files:
            raise ConfigError("an upload needs at least one file")
        upload = "upl-" + secrets.token_hex(8)
        folder = upload_dir(ctx.workspace, upload)
        folder.parent.mkdir(exist_ok=True)
        make_private(folder.parent)
        folder.mkdir()
        make_private(folder)
        names: list[str] = []
        total = 0
        try:
            for name, stream in files:
                target = _unique(folder, safe_name(name))
                with target.open("xb") as out:
                    while chunk := stream.read(_CHUNK):
                        total += len(chunk)
                        if total > max_bytes:
                            raise ConfigError(
                                f"the upload is larger than {max_bytes} bytes",
                                details={"max_bytes": max_bytes},
                            )
                        out.write(chunk)
                names.append(target.name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        op.details.update(upload=upload, files=len(names), bytes=total)
        return Upload(upload=upload, files=names, bytes=total)


def _unique(folder: Path, name: str) -> Path:
    target = folder / name
    n = 1
    while target.exists():
        target = folder / f"{n}-{name}"
        n += 1
    return target
