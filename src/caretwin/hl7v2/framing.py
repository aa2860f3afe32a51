"""Splitting HL7 v2 input into messages, and the MLLP frame bytes.

Real feeds arrive in many shapes: one message per file, many messages separated by blank lines,
segments ended by ``\\r`` (as the standard says), ``\\n`` or ``\\r\\n`` (after a trip through an
editor or a Windows share), whole MLLP frames (``0x0b`` … ``0x1c 0x0d``) captured from a socket,
and batch envelopes (``FHS``/``BHS`` … ``BTS``/``FTS``). Every one of these is read the same way:
a message starts at each ``MSH`` segment; frame bytes, blank lines and envelope segments are
dropped. Each message keeps its 1-based index in the file and the line it starts on (lines
counted with any of the three line ends), so quarantine rows point at the exact place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from caretwin.errors import DataError

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\r"
#: What ends one MLLP frame.
FRAME_END = END_BLOCK + CARRIAGE_RETURN
#: File suffixes always read as HL7 v2; ``.txt`` files are read as HL7 only when they look like it.
HL7_SUFFIXES = (".hl7", ".hl7v2", ".er7")
SNIFF_SUFFIXES = (".txt",)
_ENVELOPE = ("FHS", "BHS", "BTS", "FTS")
_LINE_END = re.compile(r"\r\n|\r|\n")
_FRAME_CHARS = "\x0b\x1c"


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message as received: where it came from and its text (segments joined by ``\\r``).

    ``error`` is set for text that is not a message at all (segments before any ``MSH``); such a
    chunk still gets an index and line so it can be quarantined where it stands.
    """

    source: str
    index: int
    line: int
    text: str
    error: str | None = None


def frame(data: bytes) -> bytes:
    """``data`` wrapped in one MLLP frame."""
    return START_BLOCK + data + FRAME_END


def decode(data: bytes) -> str:
    """Bytes to text: UTF-8 (the v2.8 default), else Latin-1, which decodes any byte.

    Older feeds commonly send ISO 8859-1 without saying so in MSH-18; refusing them would drop
    whole admissions over one accented name, and names are never used for mapping anyway.
    """
    try:
        return data.decode("utf-8-sig")  # a leading BOM is not part of MSH
    except UnicodeDecodeError:
        return data.decode("latin-1")


def split_messages(text: str, source: str) -> list[RawMessage]:
    """Every message in ``text``, in order (see the module docstring for accepted shapes)."""
    out: list[RawMessage] = []
    current: list[str] = []
    start = 0
    orphan_line = 0

    def close() -> None:
        if current:
            out.append(RawMessage(source, len(out) + 1, start, "\r".join(current)))
            current.clear()

    for number, raw in enumerate(_LINE_END.split(text), 1):
        line = raw.strip(_FRAME_CHARS)
        if not line.strip():
            continue
        head = line.lstrip()[:3]
        if head in _ENVELOPE:
            continue
        if head == "MSH":
            if orphan_line:
                out.append(_orphan(source, len(out) + 1, orphan_line))
                orphan_line = 0
            close()
            start = number
            current.append(line.lstrip())
        elif current:
            current.append(line)
        elif not orphan_line:
            orphan_line = number
    if orphan_line:
        out.append(_orphan(source, len(out) + 1, orphan_line))
    close()
    return out


def _orphan(source: str, index: int, line: int) -> RawMessage:
    # The text itself is not kept: without an MSH it cannot be identified and may hold PHI.
    return RawMessage(source, index, line, "", error="segments before any MSH segment")


def read_messages(path: Path) -> list[RawMessage]:
    """Every message of one file; an unreadable file is a :class:`DataError` (as for FHIR)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc
    return split_messages(decode(data), path.as_posix())


def looks_like_hl7(path: Path) -> bool:
    """Whether a file starts (after frame bytes, BOM and whitespace) with an HL7 header segment."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    head = head.lstrip(b"\xef\xbb\xbf\x0b \t\r\n")
    return head[:3] in (b"MSH", b"FHS", b"BHS")


def is_hl7_file(path: Path) -> bool:
    """``.hl7``/``.hl7v2``/``.er7`` files, and ``.txt`` files whose content starts like HL7."""
    name = path.name.lower()
    if name.endswith(HL7_SUFFIXES):
        return True
    return name.endswith(SNIFF_SUFFIXES) and looks_like_hl7(path)
