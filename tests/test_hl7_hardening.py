"""Regressions from fuzzing the HL7 v2 path: bad dates, MSH-9 without components, escapes, PHI
in logs, ACK structure, and per-message outcomes (batch isolation, resends, collisions,
transient failures)."""

from __future__ import annotations

import logging
from datetime import date

import hl7
import pytest
from tests.hl7_helpers import DATA

from caretwin.access import Actor
from caretwin.hl7v2 import RawMessage, build_ack, parse_event, split_messages
from caretwin.hl7v2.er7 import Er7
from caretwin.hl7v2.events import InvalidMessage
from caretwin.hl7v2.feed import Outcome
from caretwin.lake import Lake
from caretwin.services.context import ServiceContext
from caretwin.services.hl7 import ingest_hl7_messages
from caretwin.workspace import Workspace


def _stay() -> list[str]:
    return [m.text for m in split_messages((DATA / "adt-stay-mllp.hl7").read_text(), "")]


def _set(text: str, segment: str, field: int, value: str) -> str:
    """``text`` with ``segment-field`` replaced (MSH counted as HL7 does, MSH-1 the ``|``)."""
    lines = text.split("\r")
    for i, line in enumerate(lines):
        if line.startswith(segment + "|"):
            parts = line.split("|")
            at = field - 1 if segment == "MSH" else field
            parts += [""] * (at + 1 - len(parts))
            parts[at] = value
            lines[i] = "|".join(parts)
            break
    return "\r".join(lines)


def _refusal(text: str) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as info:
        parse_event(text)
    return info.value


def _ack_parts(ack: str) -> list[list[str]]:
    assert not ack.endswith("\r"), "an ACK must not end in a segment separator"
    return [seg.split("|") for seg in ack.split("\r")]


# -- item 2: inputs that raised -----------------------------------------------------------------


def test_year_only_birth_date_with_offset_is_read_not_raised() -> None:
    ev = parse_event(_set(_stay()[0], "PID", 7, "1980+0100"))
    assert ev.birth_date == date(1980, 1, 1)


@pytest.mark.parametrize("value", ["19801301", "00000101", "1980+2400", "1980+0160", "1980-06"])
def test_out_of_range_birth_date_is_a_data_type_error(value: str) -> None:
    exc = _refusal(_set(_stay()[0], "PID", 7, value))
    assert (exc.ack, exc.code, exc.where) == ("AE", "102", "PID^1^7")


@pytest.mark.parametrize(
    "value", ["20250101120000-9999", "20250101120000+2400", "00010101000000+1400", "9999"]
)
def test_bad_message_time_is_rejected(value: str) -> None:
    text = _set(_stay()[0], "MSH", 7, value)
    if value == "9999":  # year 9999 is a valid DTM; at its end and shifted past it, it is not
        text = _set(_stay()[0], "MSH", 7, "99991231235959-1400")
    exc = _refusal(text)
    assert (exc.ack, exc.code, exc.where) == ("AR", "102", "MSH^1^7")


def test_msh9_without_trigger_is_rejected_and_acknowledged() -> None:
    text = _set(_stay()[0], "MSH", 9, "ADT")
    exc = _refusal(text)
    assert (exc.ack, exc.code) == ("AR", "201")
    ack = build_ack(text, exc.ack, reason=exc.reason, error_code=exc.code, where=exc.where)
    msh, msa, err = _ack_parts(ack)
    assert msh[8] == "ACK" and msh[9] == "ACKRS-2001"
    assert msa == ["MSA", "AR", "RS-2001", "MSH-9 trigger event is not supported"]
    assert err[1:5] == ["", "MSH^1^9", "201^MSH-9 trigger event is not supported^HL70357", "E"]


# -- item 3: the ACK itself ---------------------------------------------------------------------


def test_ack_reason_is_msa3_and_err_is_the_last_segment() -> None:
    text = _stay()[1]
    ack = build_ack(text, "AE", reason="PV1-2 patient class is required", error_code="101")
    msh, msa, err = _ack_parts(ack)
    assert msh[:6] == ["MSH", "^~\\&", "CareTwin", "RH1", "EPICADT", msh[5]]
    assert msh[5] == "RIVERSIDE^1.2.840.114350.1.13.1^ISO"
    assert msh[8:12] == ["ACK^A01^ACK", "ACKRS-2002", "P", "2.5.1"]
    assert msa == ["MSA", "AE", "RS-2002", "PV1-2 patient class is required"]
    assert err[0] == "ERR" and err[3].startswith("101^")
    assert _ack_parts(build_ack(text))[1] == ["MSA", "AA", "RS-2002"]


def test_ack_of_a_message_with_other_delimiters_uses_the_standard_ones() -> None:
    text = _stay()[1].replace("|", "#").replace("^", "@").replace("MSH#@~\\&", "MSH#@~\\&")
    text = text.replace("RS-2002", "RS|20^02")  # a control id holding our delimiters
    ack = build_ack(text, "AR", reason="a reason with | and ^", error_code="100")
    parsed = Er7(ack)
    assert parsed.get("MSA", 2) == "RS|20^02"
    assert parsed.get("MSA", 3) == "a reason with | and ^"
    assert parsed.get("MSH", 9, 1, 2) == "A01" and parsed.get("ERR", 3) == "100"
    assert len(ack.split("\r")) == 3


def test_ack_of_unreadable_text_still_answers() -> None:
    for text in ("", "PID|1", "MSH", "MSH|||||||||CTRL-1|P", "MSH\x00^~\\&|A"):
        msh, msa, *_ = _ack_parts(build_ack(text, "AR", reason="unreadable", error_code="100"))
        assert msh[0] == "MSH" and msa[:2] == ["MSA", "AR"]
    assert _ack_parts(build_ack("MSH|||||||||CTRL-1|P", "AR"))[1] == ["MSA", "AR", "CTRL-1"]


# -- escapes and PHI (item 5) -------------------------------------------------------------------

SECRET_MRN = "MRN-4711\\Zq\\SECRET"


def test_escape_sequences_are_bounded_and_never_raise() -> None:
    base = _stay()[0]
    cases = {
        "A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\": "A|B^C&D~E\\",
        "X\\.brX\\Y": "XY",
        "X\\.sk2000000000\\Y": "XY",  # hl7 0.4.5 builds a 2 GB string here
        "X\\XZZ\\Y": "XY",
        "X\\X4142\\Y": "XABY",
        "X\\Y": "X\\Y",  # no closing escape: kept as sent
        SECRET_MRN: "MRN-4711SECRET",
    }
    for raw, expected in cases.items():
        msg = Er7(_set(base, "PID", 3, raw + "^^^RIVERSIDE^MR"))
        assert msg.get("PID", 3) == expected


def test_no_field_value_reaches_logs_or_stderr(
    workspace: Workspace, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    texts = [_set(t, "PID", 3, SECRET_MRN + "^^^RIVERSIDE^MR") for t in _stay()[:2]]
    texts.append(_set(texts[0], "PID", 7, "1980\\Zq\\SECRET"))
    texts.append(_set(texts[1], "MSH", 10, "RS-9\\XZZ\\SECRET"))
    outcomes = _ingest(workspace, texts)
    for text, outcome in zip(texts, outcomes, strict=True):
        build_ack(text, outcome.ack, reason=outcome.reason, error_code=outcome.code)
    # The hl7 library itself, used directly after CareTwin's HL7 package is imported.
    hl7.parse(texts[0]).extract_field("PID", 1, 3, 1, 1)
    hl7.parse(texts[0].replace("SECRET", "X\\XZZ\\SECRET")).extract_field("PID", 1, 3, 1, 1)
    captured = capfd.readouterr()
    for where in (caplog.text, captured.err, captured.out):
        assert "SECRET" not in where and "MRN-4711" not in where


# -- per-message outcomes (items 2 and 3) -------------------------------------------------------


def _ingest(workspace: Workspace, texts: list[str]) -> list[Outcome]:
    actor = Actor("feed", frozenset({"analyst"}), "service")
    ctx = ServiceContext(workspace=workspace, actor=actor)
    messages = [RawMessage("mllp://test", i, i, t) for i, t in enumerate(texts, 1)]
    return ingest_hl7_messages(ctx, messages, "mllp://test").outcomes


def _answers(outcomes: list[Outcome]) -> list[tuple[str, str]]:
    return [(o.ack, o.code) for o in outcomes]


def test_bad_messages_in_a_batch_are_refused_alone_and_resends_agree(workspace: Workspace) -> None:
    stay = _stay()
    batch = [
        stay[0],
        _set(stay[1], "MSH", 9, "ADT"),  # crashed the ACK builder
        stay[1],
        _set(_set(stay[2], "MSH", 10, "RS-X1"), "MSH", 7, "20250112090000-9999"),
        _set(_set(stay[2], "MSH", 10, "RS-X2"), "PID", 7, "19801301"),
        stay[2],
    ]
    first = _ingest(workspace, batch)
    expected = [("AA", ""), ("AR", "201"), ("AA", ""), ("AR", "102"), ("AE", "102"), ("AA", "")]
    assert _answers(first) == expected
    assert [o.status for o in first].count("applied") == 3
    assert Lake(workspace.lake_dir).counts()["movements"] == 3
    again = _ingest(workspace, batch)
    assert _answers(again) == expected
    assert [o.status for o in again].count("duplicate") == 3


def test_state_conflict_and_its_resend_are_both_ae(workspace: Workspace) -> None:
    stay = _stay()
    a11 = _set(_set(stay[3], "MSH", 9, "ADT^A11^ADT_A09"), "MSH", 10, "RS-2011")
    a11 = _set(a11, "MSH", 7, "20250115120000-0500").replace("EVN|A03|", "EVN|A11|")
    first = _ingest(workspace, [stay[0], stay[1], stay[3], a11, a11])
    assert _answers(first)[3:] == [("AE", "207"), ("AE", "207")]
    assert "discharged" in first[3].reason
    resent = _ingest(workspace, [_set(a11, "MSH", 7, "20250115120500-0500")])
    assert _answers(resent) == [("AE", "207")] and "discharged" in resent[0].reason
    assert resent[0].status == "refused"


def test_collision_is_ae_205_and_quarantined(workspace: Workspace) -> None:
    stay = _stay()
    _ingest(workspace, [stay[0]])
    before = Lake(workspace.lake_dir).data_hash()
    moved = stay[0].replace("ED^^07^RIVERSIDE", "ED^^09^RIVERSIDE")  # same control id
    other_type = _set(stay[1], "MSH", 10, "RS-2001")
    new_time = _set(stay[0], "MSH", 7, "20250110140500-0500")
    got = _ingest(workspace, [moved, other_type, new_time, moved])
    assert _answers(got) == [("AE", "205"), ("AE", "205"), ("AA", ""), ("AE", "205")]
    assert got[2].status == "duplicate"
    assert Lake(workspace.lake_dir).data_hash() == before
    reasons = Lake(workspace.lake_dir).read_table("quarantine")["reason"].to_pylist()
    assert sum("[AE 205 MSH^1^10]" in r for r in reasons) == 3
    # Within one batch too: a second message under a new control id's key, other content.
    got = _ingest(workspace, [stay[1], _set(stay[2], "MSH", 10, "RS-2002")])
    assert _answers(got) == [("AA", ""), ("AE", "205")]


def test_internal_error_costs_one_message_and_is_not_cached(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import caretwin.hl7v2.feed as feed

    real = feed.apply

    def faulty(state: object, ev: object) -> object:  # a bug that hits one message only
        if getattr(ev, "trigger", "") == "A02":
            raise RuntimeError("bug quoting MRN2002")
        return real(state, ev)

    stay = _stay()
    monkeypatch.setattr(feed, "apply", faulty)
    first = _ingest(workspace, stay[:3])
    assert _answers(first) == [("AA", ""), ("AA", ""), ("AE", "206")]
    assert first[2].status == "failed" and "send again" in first[2].reason
    assert "MRN2002" not in caplog.text
    monkeypatch.setattr(feed, "apply", real)
    again = _ingest(workspace, [stay[2]])  # processed afresh, not "refused before"
    assert _answers(again) == [("AA", "")] and again[0].status == "applied"


@pytest.mark.slow
def test_a_batch_that_cannot_be_stored_is_stored_message_by_message(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import caretwin.services.hl7 as service

    real = service.ingest_feed

    def fails_with_rs2003(lake_dir, feed, files, views_root=None):
        def wrapped(batch):
            after = feed(batch)

            def check(staged):
                for step in after:
                    step(staged)
                if any(r["resource_id"].endswith(":RS-2003") for r in batch.lineage):
                    raise OSError("cannot write")

            return [check]

        return real(lake_dir, wrapped, files, views_root)

    monkeypatch.setattr(service, "ingest_feed", fails_with_rs2003)
    got = _ingest(workspace, _stay()[:3])
    assert _answers(got) == [("AA", ""), ("AA", ""), ("AE", "206")]
    assert Lake(workspace.lake_dir).counts()["movements"] == 2
    monkeypatch.setattr(service, "ingest_feed", real)
    assert _answers(_ingest(workspace, _stay()[:3])) == [("AA", "")] * 3


# -- the same over MLLP -------------------------------------------------------------------------


def test_listener_answers_a_bad_message_alone_in_its_batch(workspace: Workspace) -> None:
    import socket
    import threading

    from caretwin.hl7v2 import ListenerConfig, MllpListener, frame
    from caretwin.services.hl7 import listen_mllp

    actor = Actor("feed", frozenset({"analyst"}), "service")
    ctx = ServiceContext(workspace=workspace, actor=actor)
    # One batch of three: the middle one crashed the ACK builder and made its batch-mates AE.
    config = ListenerConfig(port=0, batch_size=3, batch_seconds=30.0, max_messages=3)
    bound = threading.Event()
    holder: list[MllpListener] = []

    def ready(listener: MllpListener) -> None:
        holder.append(listener)
        bound.set()

    thread = threading.Thread(target=listen_mllp, args=(ctx, config), kwargs={"ready": ready})
    thread.start()
    assert bound.wait(20)
    stay = _stay()
    texts = [stay[0], _set(stay[1], "MSH", 9, "ADT"), stay[1]]
    with socket.create_connection(("127.0.0.1", holder[0].stats.port), timeout=20) as sock:
        sock.sendall(b"".join(frame(t.encode()) for t in texts))
        data = b""
        while data.count(b"\x1c\r") < 3:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
    thread.join(20)
    assert not thread.is_alive()
    acks = [Er7(block.lstrip(b"\x0b").decode()) for block in data.split(b"\x1c\r")[:3]]
    assert [(a.get("MSA", 1), a.get("MSA", 2)) for a in acks] == [
        ("AA", "RS-2001"),
        ("AR", "RS-2002"),
        ("AA", "RS-2002"),
    ]
    assert acks[1].get("MSA", 3) == "MSH-9 trigger event is not supported"
    assert acks[1].get("ERR", 3) == "201"
