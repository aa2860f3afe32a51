"""Forwarding audit events to a syslog collector (RFC 5424 over UDP or TCP).

Built on the standard library's :class:`logging.handlers.SysLogHandler` with an RFC 5424
header. A line carries the event's time, actor, action, outcome, chain place and hash, never
its target or details (a target can be a file name, details hold ids): no PHI leaves the
workspace this way. A collector that is down loses lines, never an operation.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import threading

from caretwin.audit.settings import SyslogSettings
from caretwin.store.models import AuditEvent

__all__ = ["forward", "syslog_line"]

log = logging.getLogger(__name__)

_handlers: dict[SyslogSettings, logging.handlers.SysLogHandler] = {}
_lock = threading.Lock()
# RFC 5424 severity through the logging level the handler maps: informational, warning, error.
_LEVEL = {"ok": logging.INFO, "started": logging.INFO, "recovered": logging.WARNING,
          "denied": logging.WARNING, "error": logging.ERROR}  # fmt: skip
_FACILITY = logging.handlers.SysLogHandler.LOG_AUTHPRIV


def _sd(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_line(settings: SyslogSettings, event: AuditEvent) -> str:
    """``event`` as an RFC 5424 message after its ``<PRI>`` (which the handler puts first)."""
    host = socket.gethostname() or "-"
    patient = ' patient_data="true"' if (event.details or {}).get("patient_data") else ""
    data = (
        f'[caretwin@32473 actor="{_sd(event.actor)}" action="{_sd(event.action)}" '
        f'outcome="{_sd(event.outcome)}" seq="{event.seq}" hash="{event.hash}"'
        f"{patient}]"
    )
    msg = f"{event.action} {event.outcome} by {event.actor}"
    at = event.at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return f"1 {at} {host} {settings.app_name} {os.getpid()} audit {data} {msg}"


class _Rfc5424Handler(logging.handlers.SysLogHandler):
    """The stdlib handler puts ``<PRI>`` before what :meth:`format` returns: with the RFC 5424
    rest of the header there and no NUL, the datagram is RFC 5424."""

    append_nul = False

    def format(self, record: logging.LogRecord) -> str:
        line = str(record.msg)
        # TCP: RFC 6587 non-transparent framing, one message per line.
        return line + "\n" if self.socktype == socket.SOCK_STREAM else line

    def handleError(self, record: logging.LogRecord) -> None:
        # not the default: it would print a traceback on stderr
        log.warning("could not forward an audit event to syslog at %s", self.address)
        with _lock:  # a broken TCP connection: the next event connects afresh
            for settings, handler in list(_handlers.items()):
                if handler is self:
                    del _handlers[settings]
        self.close()


def _handler(settings: SyslogSettings) -> logging.handlers.SysLogHandler:
    with _lock:
        handler = _handlers.get(settings)
        if handler is None:
            kind = socket.SOCK_DGRAM if settings.protocol == "udp" else socket.SOCK_STREAM
            handler = _Rfc5424Handler(
                address=(settings.host, settings.port), facility=_FACILITY, socktype=kind
            )
            _handlers[settings] = handler
        return handler


def forward(settings: SyslogSettings, event: AuditEvent) -> None:
    """Send ``event`` to the configured collector; failures are logged, never raised."""
    try:
        handler = _handler(settings)
        level = _LEVEL.get(event.outcome, logging.WARNING)
        line = syslog_line(settings, event)
        handler.emit(logging.LogRecord("caretwin.audit", level, "", 0, line, None, None))
    except OSError as exc:
        log.warning("could not forward an audit event to syslog: %s", exc)
