"""From a validated token's claims to a CareTwin user name, printed name and roles."""

from __future__ import annotations

from collections.abc import Mapping

from caretwin.workspace.auth import OidcSettings

__all__ = ["claim_at", "claim_values", "display_name", "mapped_roles", "username"]


def claim_at(claims: Mapping[str, object], path: str) -> object | None:
    """The claim at a dotted ``path`` (``realm_access.roles``); ``None`` when absent.

    A claim whose own name holds dots (``https://example.org/roles``, as some providers name
    namespaced claims) is found whole before the path is split.
    """
    if path in claims:
        return claims[path]
    node: object = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def claim_values(claims: Mapping[str, object], path: str) -> list[str]:
    """The string values at ``path``: a list's strings, or a lone string as one value."""
    value = claim_at(claims, path)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def username(claims: Mapping[str, object], settings: OidcSettings) -> str:
    """The CareTwin name of the token's subject: ``username_claim``, else ``sub``."""
    value = claim_at(claims, settings.username_claim)
    if isinstance(value, str) and value.strip():
        return value.strip()
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else ""


def display_name(claims: Mapping[str, object], settings: OidcSettings) -> str | None:
    value = claim_at(claims, settings.name_claim)
    return value if isinstance(value, str) and value.strip() else None


def mapped_roles(claims: Mapping[str, object], settings: OidcSettings) -> frozenset[str]:
    """``default_roles`` plus the roles ``role_map`` gives the values of ``roles_claim``.

    A value with no entry in ``role_map`` grants nothing (deny by default): a provider's group
    named ``admin`` is not CareTwin's ``admin`` unless the map says so.
    """
    roles = set(settings.default_roles)
    if settings.roles_claim:
        for value in claim_values(claims, settings.roles_claim):
            roles.update(settings.role_map.get(value, ()))
    return frozenset(roles)
