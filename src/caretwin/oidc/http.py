"""GET/POST JSON from the provider, with every transport and format failure as a CareTwin error."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx
import orjson

from caretwin.errors import IdentityProviderError
from caretwin.workspace.auth import OidcSettings, is_loopback_url

__all__ = ["check_endpoint", "get_json", "make_http_client", "post_form"]

#: Larger answers are refused: a discovery document or key set is a few kilobytes.
MAX_BYTES = 1 << 20


def make_http_client(settings: OidcSettings) -> httpx.Client:
    verify: str | bool = str(settings.ca_file) if settings.ca_file else True
    # No redirects: a discovery or key-set URL that redirects elsewhere is refused rather than
    # followed to wherever it points.
    return httpx.Client(
        timeout=httpx.Timeout(settings.timeout_seconds),
        verify=verify,
        follow_redirects=False,
        headers={"Accept": "application/json", "User-Agent": "CareTwin-OIDC"},
    )


def check_endpoint(url: str, issuer: str, what: str) -> str:
    """``url`` if it is https (or http on loopback while the issuer is too)."""
    scheme = urlsplit(url).scheme
    if scheme == "https" or (scheme == "http" and is_loopback_url(url) and is_loopback_url(issuer)):
        return url
    raise IdentityProviderError(
        f"the provider's {what} {url!r} is not an https:// URL", details={"url": url}
    )


def _parse(response: httpx.Response, what: str) -> dict[str, object]:
    if len(response.content) > MAX_BYTES:
        raise IdentityProviderError(f"the provider's {what} is larger than {MAX_BYTES} bytes")
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise IdentityProviderError(f"the provider's {what} is not JSON") from exc
    if not isinstance(data, dict):
        raise IdentityProviderError(f"the provider's {what} is not a JSON object")
    return data


def get_json(client: httpx.Client, url: str, what: str) -> dict[str, object]:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise IdentityProviderError(
            f"cannot fetch the provider's {what} from {url}: {type(exc).__name__}",
            details={"url": url},
        ) from exc
    if response.status_code != 200:
        raise IdentityProviderError(
            f"the provider's {what} at {url} answered HTTP {response.status_code}",
            details={"url": url, "status": response.status_code},
        )
    return _parse(response, what)


def post_form(
    client: httpx.Client,
    url: str,
    form: Mapping[str, str],
    auth: tuple[str, str] | None,
    what: str,
) -> tuple[int, dict[str, object]]:
    """POST ``form`` (urlencoded) and return the status and JSON body, errors included (a
    token endpoint answers 400 with ``{"error": ...}``, which the caller words)."""
    try:
        if auth is None:
            response = client.post(url, data=dict(form))
        else:
            response = client.post(url, data=dict(form), auth=httpx.BasicAuth(*auth))
    except httpx.HTTPError as exc:
        raise IdentityProviderError(
            f"cannot reach the provider's {what} at {url}: {type(exc).__name__}",
            details={"url": url},
        ) from exc
    return response.status_code, _parse(response, what)
