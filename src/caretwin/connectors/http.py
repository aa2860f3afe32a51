"""HTTP for FHIR connectors: retries with backoff and jitter, ``Retry-After``, transfer counts.

Why one client for every connector: the retry rules (which failures are transient, how long to
wait, how many tries a request may spend) and the rule that credentials only go to the source's
own origin must be the same for a search page, a token request, a status poll and a file download.

Retry policy: a transport error (refused or dropped connection, timeout), 429, 500, 502, 503 and
504 are transient. A response's ``Retry-After`` (delta seconds or HTTP-date) is honoured up to
``max_retry_after``; otherwise the wait is exponential (``backoff_base * 2**attempt`` capped at
``backoff_cap``) scaled by a jitter factor in [0.5, 1) drawn from a seeded
``numpy.random.SeedSequence`` stream, so concurrent clients spread out but a given pull waits the
same way every time it is replayed. Each request may retry ``max_retries`` times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx
import numpy as np
import orjson

from caretwin.connectors.config import SourceConfig
from caretwin.errors import DataError

__all__ = [
    "RETRYABLE_STATUS",
    "ConnectorError",
    "FhirHttp",
    "MalformedResponse",
    "TransferStats",
    "parse_retry_after",
]

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class ConnectorError(DataError):
    """A source could not be read: unreachable, refused, or answering nonsense past retries."""

    code = "connector_error"


class MalformedResponse(ConnectorError):
    """A 200 response whose body is not the JSON expected; ``body`` is kept for quarantine."""

    def __init__(self, message: str, body: bytes, url: str) -> None:
        super().__init__(message, details={"url": url})
        self.body, self.url = body, url


class Auth(Protocol):
    def headers(self, http: FhirHttp) -> dict[str, str]: ...

    def invalidate(self) -> None: ...


@dataclass
class TransferStats:
    """What a pull cost: requests, retries (and why), bytes received, time spent waiting."""

    requests: int = 0
    retries: int = 0
    bytes: int = 0
    pages: int = 0
    waited_seconds: float = 0.0
    retry_reasons: dict[str, int] = field(default_factory=dict)
    waits: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "bytes": self.bytes,
            "pages": self.pages,
            "waited_seconds": round(self.waited_seconds, 3),
            "retry_reasons": dict(sorted(self.retry_reasons.items())),
        }


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or HTTP-date), else ``None``."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


class FhirHttp:
    """An ``httpx.Client`` bound to one source, with the retry policy and transfer statistics."""

    def __init__(
        self,
        config: SourceConfig,
        auth: Auth | None = None,
        *,
        seed: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.auth = auth
        self.stats = TransferStats()
        self.sleep = sleep
        self._rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
        self.client = httpx.Client(
            timeout=httpx.Timeout(config.timeout),
            headers={"User-Agent": "caretwin-connector"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def url(self, path: str) -> str:
        """An absolute URL: ``path`` relative to the base URL, or returned as is when absolute."""
        return urljoin(self.config.base_url + "/", path)

    def _headers(self, url: str, extra: dict[str, str] | None, use_auth: bool) -> dict[str, str]:
        headers = {"Accept": "application/fhir+json", **(extra or {})}
        # Credentials only to the source's own origin: a next link or file URL pointing
        # elsewhere (a CDN, a pre-signed bucket) must not receive the token.
        if use_auth and self.auth is not None and _origin(url) == _origin(self.config.base_url):
            headers.update(self.auth.headers(self))
        return headers

    def _withheld(self, url: str, use_auth: bool) -> bool:
        """Whether this request went without the credentials because ``url`` is elsewhere."""
        return use_auth and self.auth is not None and _origin(url) != _origin(self.config.base_url)

    def _withheld_message(self, url: str, status: int) -> str:
        there, here = _origin_text(url), _origin_text(self.config.base_url)
        own = there + urlsplit(self.config.base_url).path
        return (
            f"{_display(url)}: HTTP {status}: the server's link points to {there}, another "
            f"origin than the source's base URL ({here}), so the credentials were withheld for "
            "safety (they are only sent to the base URL's origin). If "
            f"{there} is this server's own address, set the source's base URL to it "
            f"(caretwin sources set-url {self.config.name} {own})."
        )

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            if retry_after > self.config.max_retry_after:
                raise ConnectorError(
                    f"server asked to retry after {retry_after:.0f} s "
                    f"(more than max_retry_after {self.config.max_retry_after:.0f} s)"
                )
            return retry_after
        base = min(self.config.backoff_cap, self.config.backoff_base * 2.0**attempt)
        return float(base * (0.5 + 0.5 * self._rng.random()))

    def wait(self, seconds: float) -> None:
        self.stats.waits.append(seconds)
        self.stats.waited_seconds += seconds
        if seconds > 0:
            self.sleep(seconds)

    def _retry(self, attempt: int, reason: str, url: str, retry_after: float | None) -> None:
        """Spend one retry on ``reason`` or raise when the budget is gone."""
        if attempt >= self.config.max_retries:
            raise ConnectorError(
                f"{_display(url)}: giving up after {attempt + 1} attempts ({reason})",
                details={"url": _display(url), "reason": reason, "attempts": attempt + 1},
            )
        delay = self.backoff(attempt, retry_after)
        self.stats.retries += 1
        self.stats.retry_reasons[reason] = self.stats.retry_reasons.get(reason, 0) + 1
        log.warning("%s: %s; retry %d in %.2f s", _display(url), reason, attempt + 1, delay)
        self.wait(delay)

    @contextmanager
    def stream(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        use_auth: bool = True,
        ok: frozenset[int] = frozenset({200}),
    ) -> Iterator[httpx.Response]:
        """An open response with a status in ``ok``, retried while transient; body unread.

        Failures while the caller reads the body are the caller's to retry (a download restarts
        its file); failures before the status line arrives are retried here.
        """
        attempt = 0
        reauthed = False
        while True:
            self.stats.requests += 1
            req = self.client.build_request(
                method, url, params=params, data=data, headers=self._headers(url, headers, use_auth)
            )
            try:
                resp = self.client.send(req, stream=True)
            except httpx.TransportError as exc:
                self._retry(attempt, exc.__class__.__name__, url, None)
                attempt += 1
                continue
            try:
                if resp.status_code in ok:
                    yield resp
                    return
                if resp.status_code in (401, 403) and self._withheld(url, use_auth):
                    raise ConnectorError(
                        self._withheld_message(url, resp.status_code),
                        details={"url": _display(url), "status": resp.status_code},
                    )
                if resp.status_code == 401 and use_auth and self.auth is not None and not reauthed:
                    # An expired or revoked token: fetch a new one once, not from the budget.
                    self.auth.invalidate()
                    reauthed = True
                    continue
                if resp.status_code in RETRYABLE_STATUS:
                    after = parse_retry_after(resp.headers.get("Retry-After"))
                    self._retry(attempt, f"HTTP {resp.status_code}", url, after)
                    attempt += 1
                    continue
                body = _read_small(resp)
                raise ConnectorError(
                    f"{_display(url)}: HTTP {resp.status_code}{_outcome_text(body)}",
                    details={"url": _display(url), "status": resp.status_code},
                )
            finally:
                resp.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        use_auth: bool = True,
        ok: frozenset[int] = frozenset({200}),
    ) -> httpx.Response:
        """A fully read response (status in ``ok``); reading errors are retried too."""
        attempt = 0
        while True:
            try:
                with self.stream(
                    method, url, params=params, headers=headers, data=data, use_auth=use_auth, ok=ok
                ) as resp:
                    resp.read()
                    self.stats.bytes += len(resp.content)
                    return resp
            except (httpx.TransportError, httpx.StreamError) as exc:
                self._retry(attempt, exc.__class__.__name__, url, None)
                attempt += 1

    def get_json(
        self, url: str, params: dict[str, str] | None = None, *, use_auth: bool = True
    ) -> dict[str, Any]:
        """A JSON object from ``url``; an unparseable body is retried, then :class:`Malformed`."""
        attempt = 0
        while True:
            resp = self.request("GET", url, params=params, use_auth=use_auth)
            try:
                data = orjson.loads(resp.content)
                if isinstance(data, dict):
                    return data
                reason = "JSON body is not an object"
            except orjson.JSONDecodeError:
                reason = "invalid JSON body"
            if attempt >= self.config.max_retries:
                raise MalformedResponse(
                    f"{_display(str(resp.url))}: {reason}", resp.content, str(resp.url)
                )
            self._retry(attempt, reason, url, None)
            attempt += 1


def _read_small(resp: httpx.Response, limit: int = 65_536) -> bytes:
    out = b""
    try:
        for chunk in resp.iter_bytes():
            out += chunk
            if len(out) >= limit:
                break
    except httpx.HTTPError:
        pass
    return out[:limit]


def _outcome_text(body: bytes) -> str:
    """The first issue of an OperationOutcome body, for an error message."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(data, dict) or data.get("resourceType") != "OperationOutcome":
        return ""
    for issue in data.get("issue") or []:
        if isinstance(issue, dict):
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
            if text:
                return f": {str(text)[:300]}"
    return ""


def _origin_text(url: str) -> str:
    scheme, netloc = _origin(url)
    return f"{scheme}://{netloc}"


def _display(url: str) -> str:
    """A URL without its query string (search parameters may carry identifiers)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
