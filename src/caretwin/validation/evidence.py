"""Validation evidence that is recorded rather than computed here, with sign-off.

ISPOR-SMDM names validation types CareTwin cannot compute by itself: face validity (reviewers'
findings), cross-model comparison (results from another tool), and verification done outside
the shipped suite. Each is an :class:`EvidenceRecord`: who recorded what about which model,
files attached by their SHA-256 (the files themselves are copied next to the record), and
sign-offs, each by a named user with their full name, time and statement. Records are JSON
files, one per record, written owner-only by the caller's workspace; a sign-off appends.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from datetime import datetime
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from caretwin.errors import ConfigError, DataError, EvidenceNotFound

__all__ = [
    "Attachment",
    "EvidenceKind",
    "EvidenceRecord",
    "EvidenceStore",
    "Signoff",
]

EvidenceKind = Literal["face_validity", "cross_model", "verification"]


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    sha256: str
    bytes: int


class Signoff(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str
    full_name: str
    roles: list[str]
    at: datetime
    statement: str


class EvidenceRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^ev-[0-9a-f]{12}$")
    kind: EvidenceKind
    title: str
    model: str
    model_version: str | None = None
    findings: str
    recorded_by: str
    recorded_at: datetime
    attachments: list[Attachment] = Field(default_factory=list)
    signoffs: list[Signoff] = Field(default_factory=list)

    @property
    def signed(self) -> bool:
        return bool(self.signoffs)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class EvidenceStore:
    """Evidence records under ``folder`` (``<workspace>/validation/evidence``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _file(self, record_id: str) -> Path:
        return self.folder / f"{record_id}.json"

    def _write(self, record: EvidenceRecord) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{record.id}.tmp"
        tmp.write_bytes(orjson.dumps(record.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
        os.replace(tmp, self._file(record.id))

    def add(
        self,
        *,
        kind: EvidenceKind,
        title: str,
        model: str,
        findings: str,
        recorded_by: str,
        at: datetime,
        model_version: str | None = None,
        attachments: list[Path] | None = None,
    ) -> EvidenceRecord:
        if not title.strip() or not findings.strip():
            raise ConfigError("evidence needs a title and findings")
        record_id = f"ev-{secrets.token_hex(6)}"
        files: list[Attachment] = []
        for src in attachments or []:
            if not src.is_file():
                raise ConfigError(f"no such attachment: {src}")
            dest = self.folder / record_id / src.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            files.append(Attachment(name=src.name, sha256=_sha256(dest), bytes=dest.stat().st_size))
        record = EvidenceRecord(
            id=record_id,
            kind=kind,
            title=title.strip(),
            model=model,
            model_version=model_version,
            findings=findings.strip(),
            recorded_by=recorded_by,
            recorded_at=at,
            attachments=files,
        )
        self._write(record)
        return record

    def get(self, record_id: str) -> EvidenceRecord:
        path = self._file(record_id)
        if not record_id.startswith("ev-") or not path.is_file():
            raise EvidenceNotFound(
                f"no evidence record {record_id!r} in this workspace",
                details={"evidence_id": record_id},
            )
        try:
            return EvidenceRecord.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise DataError(f"evidence record {record_id} is damaged: {exc}") from None

    def list(self, model: str | None = None) -> list[EvidenceRecord]:
        if not self.folder.is_dir():
            return []
        out = [self.get(p.stem) for p in sorted(self.folder.glob("ev-*.json"))]
        out = [r for r in out if model is None or r.model == model]
        return sorted(out, key=lambda r: r.recorded_at)

    def sign(self, record_id: str, signoff: Signoff) -> EvidenceRecord:
        record = self.get(record_id)
        if any(s.user == signoff.user for s in record.signoffs):
            raise ConfigError(f"{signoff.user} has already signed {record_id}")
        signed = record.model_copy(update={"signoffs": [*record.signoffs, signoff]})
        self._write(signed)
        return signed
