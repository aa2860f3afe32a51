"""The base of every service result: a frozen pydantic model that serializes itself.

A service returns one of these (or a list of them, or ``None``); front ends only render it. The
CLI's ``--format json`` prints :meth:`ServiceResult.to_dict` as is and its tables read the same
fields, so the HTTP API can return the model unchanged and a web page can render it without
rebuilding anything a service already decided.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["ServiceResult"]


class ServiceResult(BaseModel):
    """Frozen, JSON-serializable result of a service function."""

    # ``model_*`` names (model_hash, model_version) are domain words here, not pydantic's.
    model_config = ConfigDict(frozen=True, protected_namespaces=())

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: what ``--format json`` prints and the API returns."""
        return self.model_dump(mode="json")
