"""HL7 acknowledgements (original mode): ``MSA|AA`` once stored, ``AE``/``AR`` with an ERR.

Built here, not with ``hl7.Message.create_ack``: that crashes on an MSH-9 without components
(``'str' object is not callable``), ends its text with a segment separator (so anything added
lands in a bogus extra segment) and picks a random control id. An ACK is always written with the
standard delimiters ``|^~\\&``, whatever the message used; every value copied from the message
is read through :class:`~caretwin.hl7v2.er7.Er7` and escaped again, so nothing a sender puts in
its MSH can break the ACK's structure.

- MSH: sender and receiver swapped (MSH-3/4 are ``CareTwin`` and the message's MSH-6), MSH-9
  ``ACK^<trigger>^ACK``, MSH-10 ``ACK`` + the original control id (deterministic, 20 characters
  at most), MSH-11/12 echoed (``P``/``2.5`` when absent);
- MSA: MSA-1 the code, MSA-2 the original control id, MSA-3 the reason (text, for older
  receivers) when refused;
- ERR (refusals): ERR-2 where (``PV1^1^19``), ERR-3 the HL7 table 0357 code, ERR-4 severity
  ``E``, ERR-8 the reason.

Reasons never quote field values, so an ACK carries no PHI. A message too broken to read still
gets an answer, with whatever control id can be found in its first line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from caretwin.hl7v2.er7 import Er7, Er7Error

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_APP = "CareTwin"
_TEXT_CHARS = 80
_ID_CHARS = 199  # MSH-10 is ST(199) in v2.7+; a longer "control id" is not echoed whole
_CODES = ("AA", "AE", "AR")


def _escape(text: str) -> str:
    for raw, esc in _ESCAPES:
        text = text.replace(raw, esc)
    # A CR would end the segment and 0x0b/0x1c the MLLP frame: control characters go as hex.
    return _CONTROL.sub(lambda m: f"\\X{ord(m.group()):02X}\\", text)


def _ack_id(control_id: str) -> str:
    return ("ACK" + control_id)[:20]


def _hd(msg: Er7 | None, field: int) -> str:
    """An HD field (namespace^universal id^type) of ``msg``'s MSH, re-escaped."""
    if msg is None:
        return ""
    parts = [_escape(msg.get("MSH", field, 1, comp)) for comp in (1, 2, 3)]
    return "^".join(parts).rstrip("^")


def _control_id_of_broken(text: str) -> str:
    """MSH-10 of a message whose separators cannot be trusted: best effort, plain fields only."""
    if not text.startswith("MSH") or len(text) < 4:
        return ""
    fields = re.split(r"[\r\n]", text, maxsplit=1)[0].split(text[3])
    value = fields[9] if len(fields) > 9 else ""
    return value if value.isprintable() else ""


def build_ack(
    text: str,
    code: str = "AA",
    *,
    reason: str = "",
    error_code: str = "",
    where: str = "",
) -> str:
    """The ACK for message ``text`` (segments joined by ``\\r``), as text without framing.

    The result has no trailing segment separator: MSA is the last segment of an ``AA``, ERR the
    last of a refusal.
    """
    if code not in _CODES:  # never raise: a listener that cannot answer is worse than an AE
        code = "AE"
    try:
        msg: Er7 | None = Er7(text)
    except Er7Error:
        msg = None
    if msg is not None:
        control_id = msg.get("MSH", 10)
        trigger = msg.get("MSH", 9, 1, 2)
        processing = msg.get("MSH", 11) or "P"
        version = msg.get("MSH", 12) or "2.5"
    else:
        control_id, trigger, processing, version = _control_id_of_broken(text), "", "P", "2.5"
    control_id = control_id[:_ID_CHARS]
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    msh = "|".join(
        (
            "MSH",
            "^~\\&",
            _APP,
            _hd(msg, 6),
            _hd(msg, 3),
            _hd(msg, 4),
            now,
            "",
            f"ACK^{_escape(trigger[:7])}^ACK" if trigger else "ACK",
            _escape(_ack_id(control_id)),
            _escape(processing[:3]),
            _escape(version[:10]),
        )
    )
    msa = f"MSA|{code}|{_escape(control_id)}"
    if code == "AA" or not reason:
        return f"{msh}\r{msa}"
    full = _escape(reason)
    short = _escape(reason[:_TEXT_CHARS])
    # ERR-2 is an ERL (segment^sequence^field): our own constants, components kept as such.
    err = f"ERR||{where}|{_escape(error_code)}^{short}^HL70357|E||||{full}"
    return f"{msh}\r{msa}|{short}\r{err}"
