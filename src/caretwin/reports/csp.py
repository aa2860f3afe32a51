"""The Content-Security-Policy a self-contained report is served under (API and web app).

The report inlines everything (Plotly included), so it needs no network: its own inline scripts
are allowed by hash and nothing else, and ``sandbox`` gives it an opaque origin, so even its
scripts cannot read the server's cookies or call it.
"""

from __future__ import annotations

import base64
import hashlib
import re

__all__ = ["report_csp"]

_SCRIPT = re.compile(rb"<script\b[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def report_csp(html: bytes, frame_ancestors: str = "'none'") -> str:
    """A CSP allowing exactly ``html``'s own inline scripts (by hash); ``frame_ancestors``:
    who may frame it (``'self'`` for the web app's run page)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _SCRIPT.findall(html)
    )
    return (
        "default-src 'none'; "
        f"script-src {hashes or chr(39) + 'none' + chr(39)}; "
        # Plotly styles its plots at run time (inline style elements and attributes)
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
        f"frame-ancestors {frame_ancestors}; base-uri 'none'; form-action 'none'; "
        "sandbox allow-scripts allow-downloads"
    )
