"""HL7 acknowledgements (original mode): ``MSA|AA`` once stored, ``AE``/``AR`` with an ERR.

``hl7.Message.create_ack`` builds the MSH (sender and receiver swapped, trigger echoed) and MSA
with the original control id; this module gives it a deterministic control id (``ACK`` + the
original's, instead of the library's random one) and adds, for a refusal, MSA-3 (text, for
older receivers) and an ERR segment: ERR-2 where (``PV1^1^19``), ERR-3 the HL7 table 0357 code,
ERR-4 severity ``E``, ERR-8 the reason. Reasons never quote field values, so an ACK carries no
PHI. A message too broken to parse still gets an answer, built by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime

from caretwin.hl7v2.er7 import Er7, Er7Error

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))
_APP = "CareTwin"
_TEXT_CHARS = 80


def _escape(text: str) -> str:
    for raw, esc in _ESCAPES:
        text = text.replace(raw, esc)
    return text


def _ack_id(control_id: str) -> str:
    return ("ACK" + control_id)[:20]


def build_ack(
    text: str,
    code: str = "AA",
    *,
    reason: str = "",
    error_code: str = "",
    where: str = "",
) -> str:
    """The ACK for message ``text`` (segments joined by ``\\r``), as text without framing."""
    try:
        msg = Er7(text)
        control_id = msg.get("MSH", 10)
        ack = str(msg.message.create_ack(code, message_id=_ack_id(control_id), application=_APP))
    except (Er7Error, KeyError, IndexError, ValueError):
        control_id = ""
        now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        ack = f"MSH|^~\\&|{_APP}||||{now}||ACK|ACK|P|2.5\rMSA|{code}|"
    if code == "AA" or not reason:
        return ack
    text = _escape(reason)
    short = text[:_TEXT_CHARS]
    # ERR-2 is an ERL (segment^sequence^field): our own constants, components kept as such.
    err = f"ERR||{where}|{error_code}^{short}^HL70357|E||||{text}"
    return f"{ack}|{short}\r{err}"
