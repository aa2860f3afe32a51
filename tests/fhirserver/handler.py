"""The HTTP request handler of :class:`~tests.fhirserver.server.FhirTestServer`."""

from __future__ import annotations

import contextlib
import gzip
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

if TYPE_CHECKING:
    from tests.fhirserver.server import Fault, FhirTestServer

_EXPORT = re.compile(r"^/fhir/(?:(Patient)/|Group/([^/]+)/)?\$export$")


def _outcome(text: str, code: str = "processing") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }


def make_handler(server: FhirTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet test output

        # -- plumbing ---------------------------------------------------------------------

        def _send(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            hdrs = {"Content-Type": "application/fhir+json", **(headers or {})}
            self._send(status, orjson.dumps(obj), hdrs)

        def _fault(self, fault: Fault) -> bool:
            """Apply ``fault``; True when the response is already sent (or dropped)."""
            if fault.kind == "slow":
                time.sleep(fault.delay)
                return False
            self.close_connection = True  # a request body may be left unread
            if fault.kind == "status":
                self._json(fault.status, _outcome(f"injected {fault.status}"), fault.headers)
                return True
            if fault.kind == "malformed":
                self._send(200, b'{"resourceType": "Bundle", "entry": [', {})
                return True
            return False

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            with server.lock:
                server.requests.append((method, self.path))
            fault = server.take_fault(method, self.path)
            if fault is not None and fault.kind != "drop" and self._fault(fault):
                return
            query = parse_qs(parts.query)
            # The client may have given up (timeout test): then there is nothing to answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._route(method, parts.path, query, fault)

        # -- routes -----------------------------------------------------------------------

        def _route(
            self, method: str, path: str, query: dict[str, list[str]], fault: Fault | None
        ) -> None:
            if path == "/fhir/.well-known/smart-configuration":
                self._json(200, {"token_endpoint": f"{server.root}/auth/token"})
                return
            if path == "/auth/token" and method == "POST":
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = server.issue_token(form)
                self._send(status, orjson.dumps(body), {"Content-Type": "application/json"})
                return
            if not server.check_token(self.headers.get("Authorization")):
                self._json(401, _outcome("token required", "login"))
                return
            if path.startswith("/files/"):
                self._file(path, fault)
                return
            if path.startswith("/fhir/_status/"):
                self._status(method, path.rsplit("/", 1)[1])
                return
            match = _EXPORT.match(path)
            if match:
                self._kickoff(match, query)
                return
            if path == "/fhir/metadata" and method == "GET":
                self._json(200, server.capability())
                return
            rtype = path.removeprefix("/fhir/")
            if method == "GET" and re.fullmatch(r"[A-Z][A-Za-z]+", rtype):
                self._search(rtype, query)
                return
            history = re.fullmatch(r"([A-Z][A-Za-z]+)/_history", rtype)
            if method == "GET" and history and server.supports_history:
                self._history(history.group(1), query)
                return
            instance = re.fullmatch(r"([A-Z][A-Za-z]+)/([A-Za-z0-9.-]+)", rtype)
            if method == "DELETE" and instance:
                server.delete(instance.group(1), instance.group(2))
                self._send(204)
                return
            self._json(404, _outcome(f"no route {path}", "not-found"))

        def _page(
            self, path: str, query: dict[str, list[str]], items: list[Any]
        ) -> tuple[list[Any], list[dict[str, str]]]:
            """This request's slice of ``items`` and the Bundle links (``next`` while more)."""
            count = int(query.get("_count", ["50"])[0])
            offset = int(query.get("_offset", ["0"])[0])
            base = f"{server.link_root}/fhir/{path}"
            links = [{"relation": "self", "url": base}]
            if offset + count < len(items):
                keep = {k: v[0] for k, v in query.items() if k != "_offset"}
                nxt = urlencode({**keep, "_offset": offset + count})
                links.append({"relation": "next", "url": f"{base}?{nxt}"})
            return items[offset : offset + count], links

        def _search(self, rtype: str, query: dict[str, list[str]]) -> None:
            items = server.search(rtype, query)
            if query.get("_elements") == ["id"]:
                subsetted = {"tag": [{"code": "SUBSETTED"}]}
                items = [{"resourceType": rtype, "id": r["id"], "meta": subsetted} for r in items]
            page, links = self._page(rtype, query, items)
            bundle = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(items) + server.total_bias,
                "link": links,
                "entry": [{"resource": r, "search": {"mode": "match"}} for r in page],
            }
            self._json(200, bundle)

        def _history(self, rtype: str, query: dict[str, list[str]]) -> None:
            items = server.history_of(rtype, query.get("_since", [None])[0])
            page, links = self._page(f"{rtype}/_history", query, items)
            entries: list[dict[str, Any]] = []
            for h in page:
                url = f"{h.rtype}/{h.rid}"
                if h.method == "DELETE":
                    request = {"method": "DELETE", "url": url}
                    response = {"status": "410 Gone", "lastModified": h.at}
                    entries.append({"request": request, "response": response})
                else:
                    entries.append(
                        {
                            "fullUrl": f"{server.base_url}/{url}",
                            "resource": h.resource,
                            "request": {"method": "PUT", "url": url},
                            "response": {"status": "200 OK", "lastModified": h.at},
                        }
                    )
            bundle = {
                "resourceType": "Bundle",
                "type": "history",
                "total": len(items),
                "link": links,
                "entry": entries,
            }
            self._json(200, bundle)

        def _kickoff(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
            if "respond-async" not in (self.headers.get("Prefer") or ""):
                self._json(400, _outcome("Prefer: respond-async required"))
                return
            if server.export_sync:  # no async Bulk Data: the operation answers in the body
                everything = [r for t in sorted(server.resources) for r in server.search(t, {})]
                entries = [{"resource": r} for r in everything]
                self._json(200, {"resourceType": "Bundle", "type": "searchset", "entry": entries})
                return
            level = "group" if match.group(2) else "patient" if match.group(1) else "system"
            types = [t for v in query.get("_type", []) for t in v.split(",") if t]
            since = query.get("_since", [None])[0]
            job_id = server.make_job(level, types, since)
            loc = f"{server.link_root}/fhir/_status/{job_id}"
            self._send(202, b"", {"Content-Location": loc})

        def _status(self, method: str, job_id: str) -> None:
            job = server.jobs.get(job_id)
            if job is None or job.deleted:
                self._json(404, _outcome("no such job", "not-found"))
                return
            if method == "DELETE":
                job.deleted = True
                self._send(202)
                return
            if job.polls_left > 0:
                job.polls_left -= 1
                headers = {"Retry-After": server.export_retry_after, "X-Progress": "50%"}
                self._send(202, b"", headers)
                return
            self._json(200, job.manifest, {"Content-Type": "application/json"})

        def _file(self, path: str, fault: Fault | None) -> None:
            _, _, job_id, name = path.split("/", 3)
            job = server.jobs.get(job_id)
            if job is None or job.deleted or name not in job.files:
                self._json(404, _outcome("no such file", "not-found"))
                return
            body = job.files[name]
            headers = {"Content-Type": "application/fhir+ndjson"}
            if server.gzip_encoding:
                body = gzip.compress(body)
                headers["Content-Encoding"] = "gzip"
            if fault is not None and fault.kind == "drop":
                self.send_response(200)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self._send(200, body, headers)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

    return Handler
