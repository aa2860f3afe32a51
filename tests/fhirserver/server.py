"""The test server: state, fault injection and the request handler (see the package docstring)."""

from __future__ import annotations

import gzip
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import jwt
import orjson

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Fault:
    """Answer the next ``times`` requests whose path (with query) contains ``path`` abnormally.

    ``kind``: ``status`` (``status`` + ``headers``), ``slow`` (sleep ``delay`` then answer
    normally), ``malformed`` (200 with a body that is not JSON), ``drop`` (send the headers and
    half the body, then close the connection).
    """

    path: str
    kind: str = "status"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1
    method: str = "GET"


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class HistoryEntry:
    """One change on the server: ``PUT`` (a create or update, with the resource) or ``DELETE``."""

    rtype: str
    rid: str
    method: str
    at: str
    resource: dict[str, Any] | None = None


def now_instant() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Job:
    files: dict[str, bytes]
    manifest: dict[str, Any]
    polls_left: int
    deleted: bool = False


class FhirTestServer:
    """A FHIR server with in-memory resources. Use as a context manager; ``base_url`` is /fhir."""

    def __init__(self, *, require_token: bool = False) -> None:
        self.resources: dict[str, list[dict[str, Any]]] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.require_token = require_token
        self.static_tokens: set[str] = set()
        self.client_keys: dict[str, Any] = {}
        self.tokens: dict[str, float] = {}
        self.token_lifetime = 300
        self.token_requests = 0
        self.used_jti: set[str] = set()
        self.polls_before_ready = 1
        self.export_file_size = 1000
        self.export_retry_after = "0"
        self.export_truncate: set[str] = set()
        self.export_errors: list[dict[str, Any]] = []
        self.gzip_encoding = False
        self.gzip_files = False
        self.history: list[HistoryEntry] = []
        #: whether the CapabilityStatement declares ``history-type`` (and ``_history`` answers)
        self.supports_history = True
        #: host name the server puts in its links (``localhost`` while the client uses 127.0.0.1)
        self.link_host: str | None = None
        #: answer ``$export`` synchronously (200 and a Bundle), as servers without Bulk Data do
        self.export_sync = False
        #: added to a search Bundle's ``total`` (a count that disagrees with the pages)
        self.total_bias = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def root(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/fhir"

    @property
    def link_root(self) -> str:
        """The origin the server writes into links (``root`` unless ``link_host`` is set)."""
        if self.link_host is None:
            return self.root
        return f"http://{self.link_host}:{self._httpd.server_address[1]}"

    def __enter__(self) -> FhirTestServer:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- data --------------------------------------------------------------------------------

    def add(self, resource: dict[str, Any], last_updated: str | None = None) -> None:
        meta = resource.setdefault("meta", {})
        if last_updated:
            meta["lastUpdated"] = last_updated
        with self.lock:
            items = self.resources.setdefault(resource["resourceType"], [])
            items[:] = [r for r in items if r["id"] != resource["id"]] + [resource]
            at = str(meta.get("lastUpdated") or now_instant())
            rtype, rid = resource["resourceType"], resource["id"]
            self.history.append(HistoryEntry(rtype, rid, "PUT", at, resource))

    def delete(self, rtype: str, rid: str, at: str | None = None) -> bool:
        """Delete ``rtype/rid`` (a history entry at ``at``, default now); False if absent."""
        with self.lock:
            items = self.resources.get(rtype, [])
            kept = [r for r in items if r["id"] != rid]
            if len(kept) == len(items):
                return False
            items[:] = kept
            self.history.append(HistoryEntry(rtype, rid, "DELETE", at or now_instant()))
            return True

    def history_of(self, rtype: str, since: str | None) -> list[HistoryEntry]:
        """The type's history at or after ``since``, newest first (as servers order it)."""
        with self.lock:
            items = [h for h in self.history if h.rtype == rtype]
        if since is not None:
            cut = _instant(since)
            items = [h for h in items if _instant(h.at) >= cut]
        return sorted(items, key=lambda h: _instant(h.at), reverse=True)

    def count(self, path_part: str, method: str = "GET") -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and path_part in p)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and fault.path in path and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def search(self, rtype: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        with self.lock:
            items = list(self.resources.get(rtype, []))
        for value in query.get("_lastUpdated", []):
            op, when = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
            cut = _instant(when)
            test = {
                "gt": lambda t, c=cut: t > c,
                "ge": lambda t, c=cut: t >= c,
                "lt": lambda t, c=cut: t < c,
                "le": lambda t, c=cut: t <= c,
            }.get(op, lambda t, c=cut: t == c)
            items = [r for r in items if test(_instant(r["meta"]["lastUpdated"]))]
        return sorted(items, key=lambda r: (r["meta"]["lastUpdated"], r["id"]))

    def capability(self) -> dict[str, Any]:
        """A CapabilityStatement; ``history-type`` only when ``supports_history``."""
        codes = ["read", "search-type"] + (["history-type"] if self.supports_history else [])
        with self.lock:
            types = sorted(set(self.resources) | {"Patient", "Encounter"})
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {"type": t, "interaction": [{"code": c} for c in codes]} for t in types
                    ],
                }
            ],
        }

    def make_job(self, level: str, types: list[str], since: str | None) -> str:
        job_id = secrets.token_hex(6)
        kinds = types or sorted(self.resources)
        files: dict[str, bytes] = {}
        output = []
        for rtype in kinds:
            query = {"_lastUpdated": [f"gt{since}"]} if since else {}
            items = self.search(rtype, query)
            if level != "system" and rtype not in ("Patient", "Encounter"):
                items = []
            chunks = [
                items[i : i + self.export_file_size]
                for i in range(0, len(items), self.export_file_size)
            ]
            for n, chunk in enumerate(chunks):
                body = b"".join(orjson.dumps(r) + b"\n" for r in chunk)
                if rtype in self.export_truncate and n == len(chunks) - 1:
                    body += orjson.dumps(chunk[-1])[:25] + b"\n"  # a truncated line
                ext = ".ndjson.gz" if self.gzip_files else ".ndjson"
                name = f"{rtype}-{n}{ext}"
                files[name] = gzip.compress(body) if self.gzip_files else body
                url = f"{self.link_root}/files/{job_id}/{name}"
                output.append({"type": rtype, "url": url, "count": len(chunk)})
        deleted = []
        if since is not None:
            cut = _instant(since)
            with self.lock:
                gone = [
                    h
                    for h in self.history
                    if h.method == "DELETE" and h.rtype in kinds and _instant(h.at) > cut
                ]
            if level != "system":
                gone = [h for h in gone if h.rtype in ("Patient", "Encounter")]
            if gone:
                bundles = [
                    {
                        "resourceType": "Bundle",
                        "type": "transaction",
                        "entry": [
                            {"request": {"method": "DELETE", "url": f"{h.rtype}/{h.rid}"}}
                            for h in gone[i : i + self.export_file_size]
                        ],
                    }
                    for i in range(0, len(gone), self.export_file_size)
                ]
                files["deleted-0.ndjson"] = b"".join(orjson.dumps(b) + b"\n" for b in bundles)
                url = f"{self.link_root}/files/{job_id}/deleted-0.ndjson"
                deleted.append({"type": "Bundle", "url": url, "count": len(bundles)})
        errors = []
        if self.export_errors:
            files["errors.ndjson"] = b"".join(orjson.dumps(o) + b"\n" for o in self.export_errors)
            url = f"{self.link_root}/files/{job_id}/errors.ndjson"
            errors.append({"type": "OperationOutcome", "url": url})
        manifest = {
            "transactionTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "request": f"{self.base_url}/$export",
            "requiresAccessToken": True,
            "output": output,
            "deleted": deleted,
            "error": errors,
        }
        with self.lock:
            self.jobs[job_id] = Job(files, manifest, self.polls_before_ready)
        return job_id

    def check_token(self, header: str | None) -> bool:
        if not self.require_token:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        token = header[7:]
        with self.lock:
            return token in self.static_tokens or self.tokens.get(token, 0) > time.time()

    def issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Verify a SMART Backend Services client assertion and issue an access token."""
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return 400, {"error": "invalid_request"}
        assertion = form.get("client_assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            key = self.client_keys[unverified["iss"]]
            claims = jwt.decode(
                assertion,
                key,
                algorithms=["RS384", "ES384"],
                audience=f"{self.root}/auth/token",
                issuer=unverified["iss"],
                options={"require": ["exp", "jti", "sub", "iss", "aud"]},
            )
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):  # bad or mismatched key
            return 401, {"error": "invalid_client"}
        with self.lock:
            if claims["sub"] != claims["iss"] or claims["jti"] in self.used_jti:
                return 401, {"error": "invalid_client"}
            self.used_jti.add(claims["jti"])
            token = secrets.token_hex(16)
            self.tokens[token] = time.time() + self.token_lifetime
            self.token_requests += 1
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_lifetime,
            "scope": form.get("scope", ""),
        }


def _handler(server: FhirTestServer) -> type[BaseHTTPRequestHandler]:
    from tests.fhirserver.handler import make_handler

    return make_handler(server)


__all__ = ["ASSERTION_TYPE", "Fault", "FhirTestServer", "HistoryEntry", "Job"]
