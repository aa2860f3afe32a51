"""Signed checkpoints of the chain's head, kept outside the database.

A checkpoint is one JSON line ``{count, head_seq, head_hash, at, key_id, sig}`` appended to
``checkpoints.jsonl`` in ``<workspace>/audit-checkpoints/`` and in every ``audit.checkpoint_dirs``
folder. ``sig`` is an HMAC-SHA256 with the chain's own key: the same trust root as the events,
no second secret to manage, and the key already stays out of the database (an Ed25519 signature
would let outsiders check checkpoints without the key; see docs/security.md). Written at every
verify that passes, every ``checkpoint_every`` events, with the chain's first event and once the
newest is ``checkpoint_minutes`` old (:func:`checkpoint_due`). Deleting the newest rows of the table
then leaves the chain shorter than a checkpoint already written, which verify reports.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from caretwin.audit.keys import AuditKey
from caretwin.audit.settings import AuditHome, audit_modes

__all__ = [
    "CHECKPOINT_DIR",
    "CHECKPOINT_FILE",
    "Checkpoint",
    "read_checkpoints",
    "write_checkpoint",
]

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "audit-checkpoints"
CHECKPOINT_FILE = "checkpoints.jsonl"


@dataclass(frozen=True)
class Checkpoint:
    count: int
    head_seq: int
    head_hash: str
    at: str
    key_id: str
    #: Where it was read from and on which line (not signed).
    source: str = ""
    #: Whether its signature checks under the current key.
    valid: bool = True

    def body(self) -> bytes:
        return orjson.dumps(
            {
                "count": self.count,
                "head_seq": self.head_seq,
                "head_hash": self.head_hash,
                "at": self.at,
                "key_id": self.key_id,
            },
            option=orjson.OPT_SORT_KEYS,
        )


def checkpoint_dirs(home: AuditHome) -> list[Path]:
    extra = [d if d.is_absolute() else home.root / d for d in home.audit_settings.checkpoint_dirs]
    return [home.root / CHECKPOINT_DIR, *extra]


def checkpoint_due(home: AuditHome, seq: int) -> bool:
    """Whether the event just appended at ``seq`` should be followed by a checkpoint: every
    ``checkpoint_every`` events, or when the newest checkpoint is ``checkpoint_minutes`` old
    (one ``stat`` of the workspace's checkpoint file)."""
    settings = home.audit_settings
    if seq % settings.checkpoint_every == 0:
        return True
    try:
        age = time.time() - (home.root / CHECKPOINT_DIR / CHECKPOINT_FILE).stat().st_mtime
    except FileNotFoundError:
        return True  # the chain's first checkpoint, as soon as it exists
    except OSError:
        return False
    return age >= settings.checkpoint_minutes * 60


def write_checkpoint(
    home: AuditHome, key: AuditKey, count: int, head_seq: int, head_hash: str
) -> list[Path]:
    """Append a signed checkpoint to every checkpoint folder; returns the files written.

    One ``write`` of one short line to a file opened ``O_APPEND``: concurrent writers do not
    interleave. A folder that cannot be written is logged, never a reason to fail an operation.
    """
    cp = Checkpoint(count, head_seq, head_hash, datetime.now(UTC).isoformat(), key.key_id)
    line = orjson.dumps({**orjson.loads(cp.body()), "sig": key.sign(cp.body())}) + b"\n"
    written = []
    dir_mode, file_mode = audit_modes(home.root)
    for folder in checkpoint_dirs(home):
        path = folder / CHECKPOINT_FILE
        try:
            if not folder.is_dir():
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(folder, dir_mode)  # mkdir's mode is cut by the umask
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            if os.fstat(fd).st_size == 0:
                os.chmod(path, file_mode)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            written.append(path)
        except OSError as exc:
            log.warning("could not write an audit checkpoint to %s: %s", path, exc)
    return written


def read_checkpoints(home: AuditHome, key: AuditKey) -> list[Checkpoint]:
    """Every checkpoint of every folder, each marked valid or not under ``key``."""
    found: list[Checkpoint] = []
    for folder in checkpoint_dirs(home):
        path = folder / CHECKPOINT_FILE
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            continue
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            source = f"{path}:{number}"
            try:
                data = orjson.loads(raw)
                cp = Checkpoint(
                    count=int(data["count"]),
                    head_seq=int(data["head_seq"]),
                    head_hash=str(data["head_hash"]),
                    at=str(data["at"]),
                    key_id=str(data["key_id"]),
                    source=source,
                )
                valid = key.check(cp.body(), str(data["sig"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                cp, valid = Checkpoint(0, 0, "", "", "", source), False
            found.append(Checkpoint(**{**cp.__dict__, "valid": valid}))
    return found
