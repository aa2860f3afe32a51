"""HL7 v2 fuzzer: mutated ADT messages through the whole in-process path, counting crashes.

Seeds are the ADT samples of ``tests/data/hl7`` and ``../shared/data/hl7v2-adt`` (when
present). Each case takes one seed and applies one to four mutations: field, component and
segment changes, bad timestamps (``1980+0100``, ``...-9999``), MSH-9 ``ADT``, bad escape
sequences, other encoding characters, line-end changes, truncation, binary bytes, bit flips,
control-id reuse, or an exact resend of an earlier case. Every case then goes the way a feed
goes: bytes decoded and split (:mod:`caretwin.hl7v2.framing`), read (``parse_event``, as
``caretwin hl7 parse`` does), committed in batches through the audited service
(:func:`caretwin.services.hl7.ingest_hl7_messages`: feed, state, lake commit), and answered
(:func:`caretwin.hl7v2.build_ack`).

A case is **crashed** when anything raises other than a refusal, a message is ``failed`` (an
internal error the feed contained), an ACK is malformed or says otherwise than the outcome, a
marker planted in PID reaches a log record, stderr or an ACK, or an exact resend is answered
otherwise than the first time. Otherwise it is **rejected** when any message got ``AE``/``AR``
(or it held no message), else **accepted**.

    python -m tests.fuzz.hl7_fuzz --cases 50000 --seed 1      # make fuzz-hl7
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.hl7_helpers import DATA
from tests.shared import SHARED

from caretwin.access import Actor
from caretwin.hl7v2 import RawMessage, build_ack, parse_event, split_messages
from caretwin.hl7v2.er7 import Er7, Er7Error
from caretwin.hl7v2.events import TRANSIENT_CODES, InvalidMessage
from caretwin.hl7v2.feed import FAILED, Outcome
from caretwin.hl7v2.framing import decode
from caretwin.services.context import ServiceContext
from caretwin.services.hl7 import ingest_hl7_messages
from caretwin.workspace import Workspace

MARKER = "PHIMARK"  # planted in PID-5 of every case: must never reach logs, stderr or an ACK
BAD_TIMES = [
    "1980+0100",
    "20250101120000-9999",
    "20250101120000+2400",
    "19801301",
    "19800230",
    "00000101",
    "00010101000000+1400",
    "99991231235959-1400",
    "2025-01-06",
    "202501011200.12345",
    "20250101126000",
    "2025010112+01",
    "1980+",
    "",
    '""',
    "9" * 40,
]
MSH9 = ["ADT", "ADT^", "^A01", "ADT^A99", "ADT^A01^ADT_A01^X", "ORU^R01", "ADT~ADT^A01", "adt^a01"]
ESCAPES = [
    "\\Zq\\",
    "\\.brX\\",
    "\\.sk999999999\\",
    "\\X\\",
    "\\XZZ\\",
    "\\X4\\",
    "\\",
    "\\E",
    "\\H\\",
    "\\C2842\\",
    "\\M284244\\",
    "\\.in-5\\",
    "\\X00\\",
    "\\XD800\\",
    "\\XFFFE\\",
    "\\F\\",
]
VALUES = [
    "",
    '""',
    "^",
    "^^^^",
    "&&",
    "~~",
    "|",
    "X" * 5000,
    "\x00",
    "\x7f\x01",
    "é漢字🙂",
    "0",
    "-1",
    "I",
    "Z",
    "A01",
    *BAD_TIMES[:4],
    *ESCAPES[:4],
]
TARGETS = [
    ("MSH", 7),
    ("MSH", 9),
    ("MSH", 10),
    ("MSH", 3),
    ("MSH", 4),
    ("MSH", 12),
    ("EVN", 2),
    ("EVN", 6),
    ("PID", 3),
    ("PID", 7),
    ("PID", 8),
    ("PID", 18),
    ("PV1", 2),
    ("PV1", 3),
    ("PV1", 6),
    ("PV1", 14),
    ("PV1", 19),
    ("PV1", 36),
    ("PV1", 44),
    ("PV1", 45),
]
SEP_CHARS = "|^~\\&#@!*%$ aZ1\t\x00\x0b"


def seeds() -> list[str]:
    paths = sorted(p for p in DATA.iterdir() if p.is_file())
    shared = SHARED / "data" / "hl7v2-adt"
    if shared.is_dir():
        paths += sorted(shared.glob("*.hl7"))
    found = [m.text for p in paths for m in split_messages(decode(p.read_bytes()), "") if m.text]
    return [t for t in found if t.startswith("MSH")]


# -- mutations (on text whose segments end in \r) -----------------------------------------------


def _lines(text: str) -> list[str]:
    return text.split("\r")


def _set_field(text: str, segment: str, index: int, value: str) -> str:
    lines = _lines(text)
    for i, line in enumerate(lines):
        if line.startswith(segment) and len(line) > 3:
            sep = line[3] if segment == "MSH" else "|"
            parts = line.split(sep)
            at = index - 1 if segment == "MSH" else index
            if at < 1:
                return text
            parts += [""] * (at + 1 - len(parts))
            parts[at] = value
            lines[i] = sep.join(parts)
            break
    return "\r".join(lines)


def m_known_field(rng: random.Random, text: str, _: list[str]) -> str:
    segment, index = rng.choice(TARGETS)
    if index in (7, 2, 6, 44, 45) and rng.random() < 0.8:
        value = rng.choice(BAD_TIMES)
    elif (segment, index) == ("MSH", 9):
        value = rng.choice(MSH9)
    else:
        value = rng.choice(VALUES)
    return _set_field(text, segment, index, value)


def m_any_field(rng: random.Random, text: str, _: list[str]) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    parts = lines[i].split("|")
    j = rng.randrange(len(parts))
    parts[j] = rng.choice(VALUES + BAD_TIMES + MSH9)
    lines[i] = "|".join(parts)
    return "\r".join(lines)


def m_component(rng: random.Random, text: str, _: list[str]) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    parts = lines[i].split("|")
    j = rng.randrange(1, len(parts)) if len(parts) > 1 else 0
    comps = parts[j].split("^")
    k = rng.randrange(len(comps))
    op = rng.randrange(3)
    if op == 0:
        del comps[k]
    elif op == 1:
        comps.insert(k, rng.choice(VALUES))
    else:
        comps[k] = rng.choice(VALUES + BAD_TIMES)
    parts[j] = "^".join(comps)
    lines[i] = "|".join(parts)
    return "\r".join(lines)


def m_segments(rng: random.Random, text: str, others: list[str]) -> str:
    lines = _lines(text)
    op = rng.randrange(6)
    i = rng.randrange(len(lines))
    if op == 0 and len(lines) > 1:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[i])
    elif op == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 3:
        junk = ["ZZZ|1|2", "PID|", "PV1", "MSH|^~\\&|", "", "EVN", "BHS|^~\\&", "FTS|1"]
        lines.insert(i, rng.choice(junk))
    elif op == 4:
        lines.insert(i, rng.choice(_lines(rng.choice(others))))  # a segment of another message
    else:
        lines.reverse()
    return "\r".join(lines)


def m_encoding(rng: random.Random, text: str, _: list[str]) -> str:
    if len(text) < 8:
        return text
    if rng.random() < 0.3:
        return text[:3] + rng.choice(SEP_CHARS) + text[4:]
    enc = "".join(rng.choice(SEP_CHARS) for _ in range(rng.randrange(0, 7)))
    return text[:4] + enc + text[8:]


def m_escape(rng: random.Random, text: str, _: list[str]) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(ESCAPES) + text[at:]


def m_line_ends(rng: random.Random, text: str, _: list[str]) -> str:
    return text.replace("\r", rng.choice(["\n", "\r\n", "\r\r", "\x1c\r", "\r\x0b", ""]))


def m_truncate(rng: random.Random, text: str, _: list[str]) -> str:
    return text[: rng.randrange(len(text) + 1)]


def m_control_id(rng: random.Random, text: str, others: list[str]) -> str:
    try:
        other = Er7(rng.choice(others)).get("MSH", 10)
    except Er7Error:
        return text
    return _set_field(text, "MSH", 10, other)


TEXT_MUTATIONS: dict[str, Callable[[random.Random, str, list[str]], str]] = {
    "known_field": m_known_field,
    "any_field": m_any_field,
    "component": m_component,
    "segments": m_segments,
    "encoding": m_encoding,
    "escape": m_escape,
    "line_ends": m_line_ends,
    "truncate": m_truncate,
    "control_id": m_control_id,
}
WEIGHTS = [6, 3, 3, 3, 2, 3, 1, 2, 1]


def m_bytes(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data) + 1)
    if rng.random() < 0.5:
        return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9))) + data[at:]
    buf = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    return bytes(buf)


@dataclass
class Case:
    number: int
    data: bytes
    mutations: list[str]
    resend_of: int | None = None


def make_case(rng: random.Random, number: int, corpus: list[str], history: list[Case]) -> Case:
    if history and rng.random() < 0.05:
        earlier = rng.choice(history)
        return Case(number, earlier.data, ["resend"], earlier.resend_of or earlier.number)
    text = _set_field(rng.choice(corpus), "PID", 5, f"{MARKER}^Alex")
    if rng.random() < 0.85:  # most cases under their own control id, so they reach the state
        try:
            control_id = Er7(text).get("MSH", 10)
        except Er7Error:
            control_id = ""
        text = _set_field(text, "MSH", 10, f"F{number}-{control_id}"[:40])
    names = rng.choices(list(TEXT_MUTATIONS), WEIGHTS, k=rng.randrange(1, 5))
    for name in names:
        text = TEXT_MUTATIONS[name](rng, text, corpus)
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.1:
        data = m_bytes(rng, data)
        names.append("bytes")
    return Case(number, data, names)


# -- running ------------------------------------------------------------------------------------


@dataclass
class FuzzReport:
    cases: int = 0
    messages: int = 0
    accepted: int = 0
    rejected: int = 0
    crashed: int = 0
    resends: int = 0
    acks: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        out = dict(self.__dict__)
        out["acks"], out["crashes"] = dict(self.acks), dict(self.crashes)
        return out


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(record.getMessage() + (str(record.exc_info) if record.exc_info else ""))


def _check_ack(message: RawMessage, outcome: Outcome) -> str | None:
    """What is wrong with the ACK of ``message`` (``None`` when nothing)."""
    ack = build_ack(
        message.text,
        outcome.ack,
        reason=outcome.reason,
        error_code=outcome.code,
        where=outcome.where,
    )
    if ack.endswith("\r"):
        return "ack ends in a segment separator"
    parsed = Er7(ack)
    names = [s.split("|", 1)[0] for s in ack.split("\r")]
    if names != (["MSH", "MSA"] if outcome.ack == "AA" else ["MSH", "MSA", "ERR"]):
        return f"ack segments {names}"
    if parsed.get("MSA", 1) != outcome.ack:
        return "ack MSA-1 differs from the outcome"
    try:
        control_id = Er7(message.text).get("MSH", 10)
    except Er7Error:
        control_id = None
    if control_id is not None and parsed.get("MSA", 2) != control_id[:199]:
        return "ack MSA-2 is not the control id"
    if MARKER in ack and MARKER not in message.text.split("\r", 1)[0]:
        return "marker in ack"
    return None


class Fuzzer:
    def __init__(self, root: Path, batch: int = 100, rotate: int = 2000) -> None:
        self.root, self.batch, self.rotate = root, batch, rotate
        self.report = FuzzReport()
        self.answers: dict[int, list[tuple[str, str]]] = {}
        self.examples: dict[str, list[int]] = {}
        self._ws: Workspace | None = None
        self._ws_cases = 0

    def _ctx(self) -> ServiceContext:
        if self._ws is None or self._ws_cases >= self.rotate:  # a bounded lake keeps runs fast
            if self._ws is not None:
                self._ws.close()
            self._ws = Workspace.init(self.root / f"ws{self.report.cases}")
            self._ws_cases = 0
            self.answers.clear()
        actor = Actor("fuzz", frozenset({"analyst"}), "service")
        return ServiceContext(workspace=self._ws, actor=actor)

    def _crash(self, case: Case, kind: str, crashed: set[int]) -> None:
        self.report.crashes[kind] += 1
        self.examples.setdefault(kind, []).append(case.number)
        crashed.add(case.number)

    def run_batch(self, cases: list[Case]) -> None:
        ctx = self._ctx()
        self._ws_cases += len(cases)
        crashed: set[int] = set()
        owners: list[tuple[Case, RawMessage]] = []
        for case in cases:
            try:
                parts = split_messages(decode(case.data), f"fuzz/{case.number}")
            except Exception as exc:
                self._crash(case, f"framing: {type(exc).__name__}", crashed)
                continue
            for part in parts:
                if part.error is None:
                    try:
                        parse_event(part.text)
                    except InvalidMessage:
                        pass
                    except Exception as exc:
                        self._crash(case, f"parse_event: {type(exc).__name__}", crashed)
                owners.append((case, RawMessage(part.source, part.index, case.number, part.text)))
        messages = [m for _, m in owners]
        try:
            outcomes = ingest_hl7_messages(ctx, messages, "fuzz").outcomes if messages else []
        except Exception as exc:
            for case in cases:
                self._crash(case, f"ingest: {type(exc).__name__}", crashed)
            outcomes = []
        per_case: dict[int, list[tuple[str, str]]] = {}
        for (case, message), outcome in zip(owners, outcomes, strict=True):
            self.report.messages += 1
            self.report.acks[outcome.ack] += 1
            per_case.setdefault(case.number, []).append((outcome.ack, outcome.code))
            if outcome.status == FAILED:
                self._crash(case, f"failed: {outcome.reason}", crashed)
            try:
                problem = _check_ack(message, outcome)
            except Exception as exc:
                problem = f"build_ack: {type(exc).__name__}"
            if problem:
                self._crash(case, problem, crashed)
        for case in cases:
            got = per_case.get(case.number, [])
            if case.resend_of is not None:
                self.report.resends += 1
                first = self.answers.get(case.resend_of)
                transient = any(code in TRANSIENT_CODES for _, code in (first or []) + got)
                if first is not None and not transient and first != got:
                    self._crash(case, "resend answered differently", crashed)
            else:
                self.answers[case.number] = got
            self.report.cases += 1
            if case.number in crashed:
                self.report.crashed += 1
            elif not got or any(ack != "AA" for ack, _ in got):
                self.report.rejected += 1
            else:
                self.report.accepted += 1


def fuzz(cases: int, seed: int, root: Path, batch: int = 100) -> tuple[FuzzReport, Fuzzer]:
    """Run ``cases`` seeded cases under ``root``; PHI checks on every log record and stderr."""
    rng = random.Random(seed)
    corpus = seeds()
    fuzzer = Fuzzer(root, batch)
    history: list[Case] = []
    records = _Records()
    root_logger = logging.getLogger()
    old_level, old_stderr = root_logger.level, sys.stderr
    root_logger.addHandler(records)
    root_logger.setLevel(logging.DEBUG)
    err = io.StringIO()
    sys.stderr = err
    started = time.perf_counter()
    try:
        number = 0
        while number < cases:
            todo = []
            for _ in range(min(batch, cases - number)):
                case = make_case(rng, number, corpus, history)
                history.append(case)
                todo.append(case)
                number += 1
            fuzzer.run_batch(todo)
    finally:
        sys.stderr = old_stderr
        root_logger.removeHandler(records)
        root_logger.setLevel(old_level)
    report = fuzzer.report
    report.seconds = round(time.perf_counter() - started, 1)
    leaks = sum(MARKER in t for t in records.texts) + err.getvalue().count(MARKER)
    if leaks:
        report.crashes["marker in logs or stderr"] += leaks
    return report, fuzzer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=None, help="kept; default a temp dir")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fuzz-hl7-") as tmp:
        root = args.workdir or Path(tmp)
        report, fuzzer = fuzz(args.cases, args.seed, root, args.batch)
    out = report.as_dict()
    out["examples"] = {k: v[:5] for k, v in fuzzer.examples.items()}
    print(json.dumps(out, indent=1))
    return 1 if report.crashed or report.crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
