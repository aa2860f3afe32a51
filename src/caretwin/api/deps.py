"""Who is asking, and may they: every route declares its permission through these dependencies.

A route takes its service context as ``ctx: RunsRead`` (an alias of
``Annotated[ServiceContext, Depends(Requires(Permission.RUNS_READ))]``), or :data:`Public`.
The dependency authenticates the ``Authorization: Bearer`` token
(:func:`caretwin.services.oidc.authenticate_bearer`: a ``ct_`` API token, or a provider's JWT
access token when single sign-on is configured; refusals are audited) and checks the
route's permission before the route runs, so a request outside its role is refused (403)
before its body is acted on; the service it calls checks again and audits.
:func:`route_permission` reads a route's declaration back: the app refuses to start with a
route that has none, and the authorisation matrix test walks them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from caretwin.access import Actor, Permission, require
from caretwin.errors import NotAuthenticated
from caretwin.services.context import ServiceContext
from caretwin.services.oidc import authenticate_bearer
from caretwin.workspace import Workspace

__all__ = [
    "ANONYMOUS",
    "PUBLIC",
    "AuditRead",
    "DataIngest",
    "DataRead",
    "ModelRead",
    "Public",
    "Requires",
    "RunsRead",
    "ScenariosEdit",
    "Simulate",
    "SourcesManage",
    "TokensManage",
    "UsersAdmin",
    "route_permission",
]

#: Who an unauthenticated request is in the audit trail.
ANONYMOUS = Actor(name="anonymous", roles=frozenset(), kind="anonymous")
#: The declaration of a route anyone may call (the health check).
PUBLIC = "public"


def workspace_of(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(
            "missing credentials: send an API token as Authorization: Bearer <token>"
        )
    return token.strip()


class Requires:
    """The dependency of a route needing ``permission`` (``None``: a public route)."""

    def __init__(self, permission: Permission | None) -> None:
        self.permission = permission

    def __call__(self, request: Request) -> ServiceContext:
        ws = workspace_of(request)
        if self.permission is None:
            return ServiceContext(ws, ANONYMOUS)
        actor = authenticate_bearer(ws, bearer_token(request))
        request.state.actor = actor  # the request's audit event names who it was
        require(actor, self.permission)
        return ServiceContext(ws, actor)

    @property
    def declared(self) -> str:
        return PUBLIC if self.permission is None else self.permission.value


# One alias per permission the built-in routes need; a plugin's route writes its own
# ``Annotated[ServiceContext, Depends(Requires(Permission.X))]``.
Public = Annotated[ServiceContext, Depends(Requires(None))]
ModelRead = Annotated[ServiceContext, Depends(Requires(Permission.MODEL_READ))]
Simulate = Annotated[ServiceContext, Depends(Requires(Permission.SIMULATE))]
ScenariosEdit = Annotated[ServiceContext, Depends(Requires(Permission.SCENARIOS_EDIT))]
RunsRead = Annotated[ServiceContext, Depends(Requires(Permission.RUNS_READ))]
AuditRead = Annotated[ServiceContext, Depends(Requires(Permission.AUDIT_READ))]
DataRead = Annotated[ServiceContext, Depends(Requires(Permission.DATA_READ))]
DataIngest = Annotated[ServiceContext, Depends(Requires(Permission.INGEST))]
SourcesManage = Annotated[ServiceContext, Depends(Requires(Permission.SOURCES_MANAGE))]
UsersAdmin = Annotated[ServiceContext, Depends(Requires(Permission.USERS_ADMIN))]
TokensManage = Annotated[ServiceContext, Depends(Requires(Permission.TOKENS_MANAGE))]


def route_permission(route: APIRoute) -> str | None:
    """What ``route`` declares: a permission's value, :data:`PUBLIC`, or ``None`` (nothing)."""
    # any access dependency saying what it declares: the API's Requires, the web's PageAccess
    found = {
        declared
        for dep in route.dependant.dependencies
        if isinstance(declared := getattr(dep.call, "declared", None), str)
    }
    if len(found) != 1:
        return None
    return found.pop()
