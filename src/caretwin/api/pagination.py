"""Cursor pagination: ``?cursor=&limit=`` in, ``{"items": [...], "next_cursor": ...}`` out.

A cursor is opaque to clients (URL-safe base64 of the last item's key) so its form can change;
a route asks its service for ``limit + 1`` items after the cursor's key, and the extra one only
says whether another page follows.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Protocol, TypeVar

import orjson
from fastapi import Query

from caretwin.errors import ConfigError

__all__ = ["Cursor", "Limit", "decode_cursor", "page"]

MAX_LIMIT = 500
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Cursor = Annotated[
    str | None, Query(max_length=500, description="next_cursor of the previous page")
]


class _Item(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=_Item)


def encode_cursor(key: str | int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"k": key})).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | int | None:
    """The key a cursor holds (``None`` for the first page); a bad cursor is a 400."""
    if not cursor:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = data["k"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ConfigError("invalid cursor: pass next_cursor from the previous page") from None
    if not isinstance(key, str | int) or isinstance(key, bool):
        raise ConfigError("invalid cursor: pass next_cursor from the previous page")
    return key


def page(items: Sequence[T], limit: int, key: Callable[[T], str | int]) -> dict[str, Any]:
    """The page body of ``items`` (fetched as ``limit + 1``)."""
    shown = list(items[:limit])
    more = len(items) > limit and bool(shown)
    return {
        "items": [item.to_dict() for item in shown],
        "next_cursor": encode_cursor(key(shown[-1])) if more else None,
    }
