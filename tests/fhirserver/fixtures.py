"""What the connector tests share: a server holding ``n`` patients with an encounter each, and an
admin's service context with one source registered."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.fhirserver.data import encounter, patient
from tests.fhirserver.server import FhirTestServer

from caretwin.access import Actor
from caretwin.connectors import SourceConfig
from caretwin.services import sources as svc
from caretwin.services.context import ServiceContext
from caretwin.workspace import Workspace


@contextmanager
def hospital_server(n: int) -> Iterator[FhirTestServer]:
    """A running server: patients ``p0..`` and encounters ``e0..``, n of each, a minute apart."""
    with FhirTestServer() as srv:
        for i in range(n):
            srv.add(patient(i, minute=i))
            srv.add(encounter(i, minute=i))
        yield srv


def source_ctx(workspace: Workspace, config: SourceConfig) -> ServiceContext:
    """An admin's context on ``workspace`` with the source ``config`` added."""
    ctx = ServiceContext(workspace=workspace, actor=Actor("tester", frozenset({"admin"})))
    svc.add_source(ctx, config)
    return ctx
