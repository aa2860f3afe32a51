"""The service layer: every operation takes a :class:`ServiceContext`, checks a permission and
audits its outcome. Area services live in ``caretwin.services.<area>`` modules."""

from __future__ import annotations

from caretwin.services.context import Operation, ServiceContext

__all__ = ["Operation", "ServiceContext"]
