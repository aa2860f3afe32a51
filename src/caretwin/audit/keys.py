"""The chain's HMAC key: an owner-only file outside the database, or a configured secret.

Resolution order: ``$CARETWIN_AUDIT_KEY`` (64 hex digits, for deployments that keep secrets in
a vault or a service manager), the ``audit.key_file`` setting, then ``<workspace>/keys/audit.key``,
created ``0600`` (folder ``0700``) on first use. Two processes creating it at once agree: the
file is written to a temporary name and linked into place, so the loser reads the winner's key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from caretwin.audit.settings import AuditHome, audit_modes
from caretwin.errors import ConfigError

__all__ = ["ENV_KEY", "KEY_FILE", "AuditKey", "default_key_path", "load_key"]

ENV_KEY = "CARETWIN_AUDIT_KEY"
KEY_FILE = Path("keys") / "audit.key"


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = b""
    #: Names the key in every event and checkpoint (a hash of it, never the key).
    key_id: str = ""

    @classmethod
    def from_hex(cls, text: str) -> AuditKey:
        try:
            secret = bytes.fromhex(text.strip())
        except ValueError:
            raise ConfigError("the audit key must be hexadecimal") from None
        if len(secret) < 32:
            raise ConfigError("the audit key must be at least 32 bytes (64 hex digits)")
        return cls(secret, hashlib.sha256(b"caretwin-audit-key:" + secret).hexdigest()[:16])

    def sign(self, message: bytes) -> str:
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def check(self, message: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature)


def default_key_path(home: AuditHome) -> Path:
    configured = home.audit_settings.key_file
    if configured is None:
        return home.root / KEY_FILE
    return configured if configured.is_absolute() else home.root / configured


def load_key(home: AuditHome, *, create: bool = True) -> AuditKey:
    """The workspace's audit key, created on first use unless ``create`` is false."""
    env = os.environ.get(ENV_KEY)
    if env:
        return AuditKey.from_hex(env)
    path = default_key_path(home)
    try:
        return AuditKey.from_hex(path.read_text(encoding="ascii"))
    except FileNotFoundError:
        if not create:
            raise ConfigError(
                f"no audit key at {path}: restore it from your key backup (or set {ENV_KEY})",
                details={"path": str(path)},
            ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the audit key {path}: {exc}") from exc
    return _create(path, *audit_modes(home.root))


def _create(path: Path, dir_mode: int, file_mode: int) -> AuditKey:
    try:
        if not path.parent.is_dir():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(path.parent, dir_mode)  # mkdir's mode is cut by the umask
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.chmod(tmp, file_mode)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process made the key first: use theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        return AuditKey.from_hex(path.read_text(encoding="ascii"))
    except OSError as exc:
        raise ConfigError(f"cannot create the audit key {path}: {exc}") from exc
