"""What the lake already knows about a message key: stored content and earlier verdicts.

A message's key is its sender (MSH-3@MSH-4) and MSH-10 control id, whatever its type: a sender
never reuses a control id for another message. Against the lake a message is then

- a **retransmission** (answered ``AA``, changes nothing) when a stored message has its key and
  the same text apart from MSH-7 (an interface engine resending stamps a new time);
- a **collision** (``AE``, ERR-3 ``205``, quarantined) when a stored message has its key but
  other content: it is never taken for "unchanged", since data would be lost silently;
- **refused before** when a quarantined message has its key and the same MSH (apart from
  MSH-7): it gets the same answer as then, so a resend of a state conflict is ``AE`` again. Only
  MSH is kept of a refused message (the rest is PHI), so a changed body under a refused key is
  not seen as a collision. Transient refusals (ERR-3 ``206``, "not stored, send again") are not
  verdicts: such a message is processed afresh.

Verdicts live in the quarantine reason as a suffix, ``message 4: <reason> [AE 207 PV1^1^19]``,
read back here; a reason without one (older lakes) was a state conflict: ``AE 207``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from caretwin.hl7v2.er7 import Er7, Er7Error
from caretwin.hl7v2.events import DUPLICATE_KEY, INTERNAL_ERROR, TRANSIENT_CODES
from caretwin.lake import Lake
from caretwin.lake.sql import sql_str

UNKNOWN = "HL7v2"
EXCERPT_CHARS = 400
_NOT_VERDICTS = TRANSIENT_CODES | {DUPLICATE_KEY}
_REASON = re.compile(
    r"message \d+: (?P<reason>.*?)(?: \[(?P<ack>A[ER]) (?P<code>\d{3})(?: (?P<where>\S+))?\])?"
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A refusal: MSA-1, ERR-3, ERR-2 and the reason (names fields, never values)."""

    ack: str
    code: str
    where: str
    reason: str

    def quarantine_reason(self, index: int) -> str:
        where = f" {self.where}" if self.where else ""
        return f"message {index}: {self.reason} [{self.ack} {self.code}{where}]"


def parse_reason(text: str) -> Verdict | None:
    """The verdict a quarantine reason records (``None`` if it is not an HL7 message's)."""
    match = _REASON.fullmatch(text or "")
    if match is None:
        return None
    if match["ack"] is None:
        return Verdict("AE", INTERNAL_ERROR, "PV1^1^19", match["reason"])
    return Verdict(match["ack"], match["code"], match["where"] or "", match["reason"])


def msh_excerpt(text: str) -> str:
    """The MSH segment as quarantined (systems, type, control id: no patient data)."""
    return text.split("\r", 1)[0][:EXCERPT_CHARS]


def _without_msh7(line: str, fs: str) -> str:
    fields = line.split(fs)
    if len(fields) > 6:
        fields[6] = ""
    return fs.join(fields)


def same_but_msh7(a: str, b: str) -> bool:
    """Whether two messages differ at most in MSH-7 (both must have been readable)."""
    if a == b:
        return True
    a_head, _, a_rest = a.partition("\r")
    b_head, _, b_rest = b.partition("\r")
    if a_rest != b_rest or a_head[:4] != b_head[:4] or len(a_head) < 4:
        return False
    return _without_msh7(a_head, a_head[3]) == _without_msh7(b_head, b_head[3])


def _key(msh: str) -> str | None:
    try:
        msg = Er7(msh)
    except Er7Error:
        return None
    control_id = msg.get("MSH", 10)
    return f"{msg.get('MSH', 3)}@{msg.get('MSH', 4)}:{control_id}" if control_id else None


def earlier_verdicts(lake: Lake) -> dict[str, tuple[str, Verdict]]:
    """Key -> (MSH excerpt, verdict) of messages quarantined before, transient ones left out."""
    rows = lake.query(
        "SELECT reason, excerpt FROM quarantine WHERE resource_type LIKE 'HL7v2%' "
        "AND excerpt IS NOT NULL AND excerpt <> ''"
    ).to_pylist()
    found: dict[str, tuple[str, Verdict]] = {}
    for row in rows:
        verdict = parse_reason(row["reason"])
        key = _key(row["excerpt"])
        # A collision refused another message under the key; transient refusals judged none.
        if verdict is None or key is None or verdict.code in _NOT_VERDICTS:
            continue
        found.setdefault(key, (row["excerpt"], verdict))
    return found


def stored_texts(lake: Lake, keys: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """Key -> [(resource type, ER7 text)] of stored messages with those keys."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    values = ", ".join(sql_str(k) for k in wanted)
    rows = lake.query(
        "SELECT resource_type, resource_id, json FROM resources "
        f"WHERE resource_type LIKE 'HL7v2:%' AND resource_id IN ({values})"
    ).to_pylist()
    found: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        doc = orjson.loads(row["json"])
        found.setdefault(row["resource_id"], []).append((row["resource_type"], str(doc["er7"])))
    return found
