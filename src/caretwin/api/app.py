"""The app factory: ``create_app(workspace)`` builds the FastAPI app of ``caretwin serve``.

Routes are mounted under ``/api/v1`` from the ``register_routers`` hook (CareTwin's own come
through it like a plugin's), error handlers answer with the one envelope, and the middleware adds
security headers, audits every request and limits request bodies. The app refuses to start with
a route that declares no permission: deny by default holds for plugins' routes too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from caretwin.api.deps import route_permission
from caretwin.api.errors import install_error_handlers
from caretwin.api.middleware import AuditAndHeaders, BodyLimit
from caretwin.errors import ConfigError
from caretwin.plugins.specs import NavLink
from caretwin.services.jobs import JobWorker
from caretwin.version import __version__
from caretwin.workspace import Workspace

__all__ = [
    "API_PREFIX",
    "ApiSettings",
    "DeclaredRoute",
    "create_app",
    "declared_pages",
    "declared_routes",
]

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class ApiSettings:
    #: The largest request body accepted (bytes); larger ones get 413.
    max_body_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class DeclaredRoute:
    """A route of the API: method, full path template, and the permission it declares."""

    method: str
    path: str
    permission: str


def create_app(
    workspace: Workspace, settings: ApiSettings | None = None, worker: JobWorker | None = None
) -> FastAPI:
    """The API on ``workspace``; ``worker``: the job worker to wake when a job is queued."""
    settings = settings or ApiSettings()
    app = FastAPI(
        title="CareTwin API",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN: not on a hospital network
        redoc_url=None,
    )
    app.state.workspace = workspace
    app.state.worker = worker
    app.state.settings = settings
    install_error_handlers(app)
    routers = _routers()
    by_route = _declarations(routers)
    for router in routers.values():
        app.include_router(router, prefix=API_PREFIX)
    app.state.routes = sorted(set(by_route.values()), key=lambda d: (d.path, d.method))
    _document_permissions(app, app.state.routes)
    # the web app's pages, at the root (outside the API and its OpenAPI document)
    pages, app.state.nav = _pages()
    by_page = _declarations(pages, prefix="")
    for router in pages.values():
        app.include_router(router, include_in_schema=False)
    app.state.pages = sorted(set(by_page.values()), key=lambda d: (d.path, d.method))
    by_route = {**by_route, **by_page}
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    # outermost: sees every answer, names each request by its route's template
    app.add_middleware(AuditAndHeaders, workspace=workspace, routes=by_route)
    return app


def declared_routes(app: FastAPI) -> list[DeclaredRoute]:
    """Every route of the API with its permission (what the authorisation matrix test walks)."""
    routes: list[DeclaredRoute] = app.state.routes
    return routes


def declared_pages(app: FastAPI) -> list[DeclaredRoute]:
    """Every web page with its permission (the authorisation matrix test walks them too)."""
    pages: list[DeclaredRoute] = app.state.pages
    return pages


def _pages() -> tuple[dict[str, APIRouter], list[NavLink]]:
    """The page groups of the ``register_pages`` hook and their navigation links."""
    from caretwin.plugins import registry

    out: dict[str, APIRouter] = {}
    nav: list[NavLink] = []
    for name, provided in registry.pages().items():
        router = provided.spec.load()
        if not isinstance(router, APIRouter):
            raise ConfigError(
                f"page group {name!r} of plugin {provided.plugin.name!r} is not a FastAPI APIRouter"
            )
        out[name] = router
        nav.extend(provided.spec.nav)
    return out, nav


def _routers() -> dict[str, APIRouter]:
    from caretwin.plugins import registry

    out: dict[str, APIRouter] = {}
    for name, provided in registry.routers().items():
        router = provided.spec.load()
        if not isinstance(router, APIRouter):
            raise ConfigError(
                f"router {name!r} of plugin {provided.plugin.name!r} is not a FastAPI APIRouter"
            )
        out[name] = router
    return out


def _declarations(
    routers: dict[str, APIRouter], prefix: str = API_PREFIX
) -> dict[int, DeclaredRoute]:
    """``id(route)`` -> its declaration; deny by default: a route declaring no permission (or
    not a FastAPI route, which could not declare one) stops the app from starting."""
    out: dict[int, DeclaredRoute] = {}
    missing: list[str] = []
    for name, router in routers.items():
        for route in router.routes:
            if not isinstance(route, APIRoute):
                missing.append(f"{name}: {getattr(route, 'path', route)!r} (not an API route)")
                continue
            permission = route_permission(route)
            for method in sorted(route.methods or ()):
                if permission is None:
                    missing.append(f"{method} {prefix}{route.path}")
                    continue
                out[id(route)] = DeclaredRoute(method, prefix + route.path, permission)
    if missing:
        raise ConfigError(
            f"routes or pages without a declared permission: {', '.join(missing)}",
            details={"routes": missing},
        )
    return out


def _document_permissions(app: FastAPI, routes: list[DeclaredRoute]) -> None:
    declared = {(d.path, d.method.lower()): d.permission for d in routes}
    base = app.openapi

    def openapi() -> dict[str, Any]:
        """The OpenAPI document, each operation saying what it needs (``x-permission``)."""
        doc = base()
        for path, item in doc.get("paths", {}).items():
            for method, operation in item.items():
                if (path, method) in declared:
                    operation["x-permission"] = declared[(path, method)]
        return doc

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook: replace the method
