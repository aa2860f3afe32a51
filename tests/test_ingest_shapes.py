"""One malformed record never aborts an ingest: the fuzzer's findings, each a regression test.

Every record below once raised out of the pipeline (or was stored with a NULL where a value
was sent); now each goes to quarantine with file, line and reason while the valid one lands.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from caretwin.ingest import ingest_paths
from caretwin.ingest.shapes import REPEATING, view_reads
from caretwin.lake import Lake
from caretwin.views.catalog import shipped_views

ENCOUNTER: dict[str, Any] = {
    "resourceType": "Encounter", "id": "ok", "status": "finished",
    "class": {"code": "EMER"}, "subject": {"reference": "Patient/p1"},
    "period": {"start": "2025-01-06T08:00:00Z", "end": "2025-01-06T09:00:00Z"},
    "location": [{"location": {"reference": "Location/w1"}, "status": "completed"}],
}  # fmt: skip
PATIENT: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "gender": "female"}

# (what changes in a valid record, the reason it is quarantined with)
BAD: list[tuple[dict[str, Any], str]] = [
    ({**ENCOUNTER, "period": {"start": ["x"]}},
     "Encounter.period.start: not a dateTime string: a list"),
    ({**ENCOUNTER, "class": ["EMER"]},
     "Encounter.class must be a single value (a Coding), not a list"),
    ({**ENCOUNTER, "meta": {"lastUpdated": {"v": 1}}},
     "Encounter.meta.lastUpdated: not a dateTime string: an object"),
    ({**ENCOUNTER, "subject": [{"reference": "Patient/p1"}, {"reference": "Patient/p2"}]},
     "Encounter.subject must be a single value, not a list"),
    ({**ENCOUNTER, "subject": "Patient/p1"},
     "Encounter.subject must be an object (Reference), not a string"),
    ({**ENCOUNTER, "status": "done"},
     "Encounter.status is not a code of its required R4 value set"),
    ({**ENCOUNTER, "location": [{"status": "here"}]},
     "Encounter.location[0].status is not a code of its required R4 value set"),
    ({**ENCOUNTER, "location": [{"location": {"reference": 7}}]},
     "Encounter.location[0].location.reference must be a string (string), not a number"),
    ({**ENCOUNTER, "period": {"start": "0001-01-01T00:00:00+14:00"}},
     "Encounter.period.start: invalid dateTime (a field is out of range)"),
    ({**PATIENT, "gender": "banana"},
     "Patient.gender is not a code of its required R4 value set"),
    ({**PATIENT, "identifier": {"value": "MRN-1"}},
     "Patient.identifier must be a list (Identifier repeats), not an object"),
    ({"resourceType": "Observation", "id": "o1", "status": "final",
      "valueQuantity": {"value": "72"}},
     "Observation.valueQuantity.value must be a number"),
    ({"resourceType": "Bundle", "type": ["batch"]},
     "Bundle type of JSON type list is not supported"),
]  # fmt: skip


def test_malformed_records_are_quarantined_and_the_rest_lands(tmp_path: Path) -> None:
    lines = [orjson.dumps(ENCOUNTER), orjson.dumps(PATIENT)]
    lines += [orjson.dumps({**doc, "id": f"bad{i}"}) for i, (doc, _) in enumerate(BAD)]
    lines.insert(2, b'{"resourceType":"Patient","id":"p\xff"}')
    path = tmp_path / "in.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = ingest_paths(tmp_path / "lake", [path])
    lake = Lake(tmp_path / "lake")
    assert [r["encounter_id"] for r in lake.read_table("encounters").to_pylist()] == ["ok"]
    assert lake.read_table("patients")["patient_id"].to_pylist() == ["p1"]
    q = lake.query("SELECT source_file, line, reason FROM quarantine ORDER BY line").to_pylist()
    assert all(r["source_file"] == path.resolve().as_posix() for r in q)
    want = [(3, "invalid UTF-8 at byte 34 of the line")]
    want += [(i + 4, reason) for i, (_, reason) in enumerate(BAD)]
    got = [(r["line"], r["reason"]) for r in q]
    for (line, reason), (want_line, want_reason) in zip(got, want, strict=True):
        assert line == want_line and reason.startswith(want_reason), (line, reason)
    assert report.quarantined == len(want)


def test_checks_follow_the_views(tmp_path: Path) -> None:
    """The elements checked are those the views read: an unread one stays as sent."""
    reads = dict(view_reads(e.view for e in shipped_views().values()))
    paths = {".".join(k for k, _, _ in steps) for steps in reads["Encounter"]}
    assert {"subject.reference", "location.period.start", "class.code"} <= paths
    assert not any(p.startswith("participant") for p in paths)
    path = tmp_path / "in.ndjson"
    path.write_bytes(orjson.dumps({**ENCOUNTER, "participant": "not a list", "type": 3}))
    report = ingest_paths(tmp_path / "lake", [path])
    assert report.quarantined == 0 and report.counts["Encounter"].added == 1


def test_repeating_elements_match_the_r4_definitions() -> None:
    """REPEATING is R4's max="*" (checked against fhir.resources' R4B models, the same for these
    types), both ways for the top-level elements of the types with a table."""
    r4b = pytest.importorskip("fhir.resources.R4B")

    def fields(type_name: str) -> dict[str, str]:
        model = r4b.get_fhir_model_class(type_name)
        return {
            (f.alias or n): str(f.annotation)
            for n, f in model.model_fields.items()
            if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("element_property")
        }

    for element in sorted(REPEATING):
        parts = element.split(".")
        type_name = parts[0]
        for name in parts[1:-1]:  # backbone elements: their model is named in the annotation
            found = re.search(r"abc\.(\w+)Type", fields(type_name)[name])
            assert found is not None, element
            type_name = found.group(1)
        annotation = fields(type_name)[parts[-1]]
        assert "List[" in annotation or "list[" in annotation, element
    for rtype in ("Patient", "Encounter", "Location", "Device", "Procedure", "Observation"):
        for name, annotation in fields(rtype).items():
            repeats = "List[" in annotation or "list[" in annotation
            if name not in ("extension", "modifierExtension", "contained"):
                assert repeats == (f"{rtype}.{name}" in REPEATING), f"{rtype}.{name}"


def test_invalid_utf8_in_a_json_file_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(b'{"resourceType":"Patient","id":"p1","gender":"\xc3\x28"}')
    ok = tmp_path / "ok.ndjson"
    ok.write_bytes(orjson.dumps(PATIENT) + b"\n")
    report = ingest_paths(tmp_path / "lake", [path, ok])
    q = Lake(tmp_path / "lake").query("SELECT line, reason FROM quarantine").to_pylist()
    assert q == [{"line": 1, "reason": "invalid UTF-8 at byte 47 of the file"}]
    assert report.counts["Patient"].added == 1


def test_unknown_cardinality_or_type_is_not_refused() -> None:
    """A site view over a type REPEATING does not cover takes a list or a single value (its
    items still typed); an element the R4 model does not know is not checked at all."""
    from caretwin.ingest.records import InvalidRecord
    from caretwin.ingest.shapes import compile_reads
    from caretwin.views.definition import parse_view

    view = parse_view(
        {"resourceType": "ViewDefinition", "name": "people", "status": "active",
         "resource": "Person", "select": [{"column": [
             {"name": "id", "path": "getResourceKey()"},
             {"name": "mrn", "path": "identifier.value.first()"},
             {"name": "odd", "path": "notAnElement.first()"}]}]}
    )  # fmt: skip
    check = compile_reads(view_reads([view]))["Person"]
    person: dict[str, Any] = {"resourceType": "Person", "id": "x", "notAnElement": [[1], {}]}
    check({**person, "identifier": [{"value": "a"}, {"value": "b"}]})
    check({**person, "identifier": {"value": "a"}})
    with pytest.raises(InvalidRecord, match=r"Person.identifier.value must be a string"):
        check({**person, "identifier": [{"value": 3}]})
