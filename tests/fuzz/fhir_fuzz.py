"""A structural fuzzer of FHIR NDJSON ingestion: mutated lines through the real pipeline.

Seeds are valid resources (``caretwin synth`` RH1 output, the Synthea sample in ``../shared``
when present, and a few written here: an Observation, a transaction Bundle with a delete).
Each case is one seed line with a unique id, mutated one to three times at random places:
values replaced by lists, objects, numbers, strings, booleans or null; objects duplicated into
arrays; fields deleted; dates and codes made invalid; wrong or unknown ``resourceType``; and
at the byte level truncation, invalid UTF-8, huge numbers and stray bytes.

Cases go through :func:`caretwin.ingest.ingest_paths` in this process (one parse process,
the native views, and every fourth batch the compiled views; every other batch with a site
view that fails on patients with several identifiers, so records a view fails on at commit are
quarantined too), a batch of lines per ingest into a fresh lake. The outcome of every line must
be accounted for: it landed in the raw table, or it is in the quarantine with its file, line and
a reason (or it repeats a line that landed). A
**crash** is any exception out of the pipeline (the batch is then split to name the lines
that cause it), or a record quarantined because its checks raised (``INTERNAL_ERROR``). Each
batch holds unmutated controls, so a batch is never entirely bad and no error is expected.

    python -m tests.fuzz.fhir_fuzz --cases 50000 --seed 1     # make fuzz-fhir

prints the counts (cases, landed, rejected, crashed, unaccounted) and one line per distinct
crash (exception, where it was raised, a case that causes it); exit status 1 when anything
crashed or went unaccounted.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from caretwin.ingest import ingest_paths
from caretwin.ingest.parse import INTERNAL_ERROR, Chunk, parse_chunk
from caretwin.lake import Lake

SHARED = Path(os.environ.get("CARETWIN_SHARED", Path(__file__).resolve().parents[3] / "shared"))
SYNTHEA = SHARED / "data" / "synthea-10-patients"
#: Seeds per resource type (the first ones of each file): variety matters, volume does not.
SEEDS_PER_TYPE = 120
NATIVE_ENV = "CARETWIN_INGEST_NATIVE_VIEWS"

_EXTRA_SEEDS: list[dict[str, Any]] = [
    {"resourceType": "Observation", "id": "o1", "status": "final",
     "meta": {"versionId": "2", "lastUpdated": "2025-01-06T10:00:00Z"},
     "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
     "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
     "effectiveDateTime": "2025-01-06T10:00:00+01:00",
     "valueQuantity": {"value": 72, "unit": "/min", "code": "/min"}},
    {"resourceType": "Observation", "id": "o2", "status": "amended",
     "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
     "subject": {"reference": "Patient/p1"},
     "effectivePeriod": {"start": "2025-01-06", "end": "2025-01-07"},
     "valueQuantity": {"value": 37.2, "unit": "Cel"}},
    {"resourceType": "Bundle", "id": "b1", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
         "resource": {"resourceType": "Patient", "id": "bp1", "gender": "other",
                      "birthDate": "1980-02"},
         "request": {"method": "PUT", "url": "Patient/bp1"}},
        {"resource": {"resourceType": "Encounter", "id": "be1", "status": "in-progress",
                      "class": {"code": "IMP"},
                      "subject": {"reference": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},
                      "period": {"start": "2025-01-06T08:00:00Z"}},
         "request": {"method": "POST", "url": "Encounter"}},
        {"request": {"method": "DELETE", "url": "Patient/old/_history/3"}}]},
]  # fmt: skip


def seed_docs(work: Path) -> list[dict[str, Any]]:
    """Valid resources to mutate, in a fixed order (so a seed makes the same cases)."""
    from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
    from caretwin.synth import generate

    synth = work / "synth"
    if not synth.exists():
        generate(load_definition(example_path(REFERENCE_HOSPITAL)), 7, 2, synth)
    files = sorted(synth.glob("*.ndjson"))
    if SYNTHEA.is_dir():
        files += sorted(SYNTHEA.glob("*.ndjson"))
    docs: list[dict[str, Any]] = []
    for path in files:
        with open(path, "rb") as fh:
            for n, line in enumerate(fh):
                if n >= SEEDS_PER_TYPE:
                    break
                if line.strip():
                    docs.append(orjson.loads(line))
    return docs + _EXTRA_SEEDS


# -- mutations ------------------------------------------------------------------------------

_HUGE = ("1e999", "-1e400", "123456789012345678901234567890", "18446744073709551615",
         "-9223372036854775809", "1.5e308", "0.0000000000000000000000001")  # fmt: skip
_DATES = ("2025-13-01", "2025-02-30T10:00:00Z", "9999-12-31T23:59:59-14:00",
          "0001-01-01T00:00:00+14:00", "0000-01-01", "2025-01-06T10:00:00+25:00", "2025",
          "2025-01-06T24:00:00Z", "1e5", "", " 2025-01-06", "2025-01-06T10:00Z")  # fmt: skip
_CODES = ("banana", "", "FINISHED", "in progress", "x" * 300, "\u00e9", "\x00")
_TYPES = ("Spaceship", "patient", "Bundle", "Observation", "Encounter", "Patient", "", "Parameters")


def _scalar(rng: random.Random, like: Any = None) -> Any:
    choice = rng.randrange(14)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.randint(-(2**63), 2**64 - 1)
    if choice == 3:
        return rng.choice([0.5, -1.0, 1e308, 3.0])
    if choice == 4:
        return orjson.Fragment(rng.choice(_HUGE).encode())
    if choice == 5:
        return rng.choice(_DATES)
    if choice == 6:
        return rng.choice(_CODES)
    if choice == 7:
        return [like] if like is not None else ["x"]
    if choice == 8:
        return {"v": 1}
    if choice == 9:
        return []
    if choice == 10:
        return {}
    if choice == 11:
        return [like, like] if like is not None else [{}, {}]
    if choice == 12:
        return "x"
    return {"reference": rng.choice(["Patient/p1", "urn:uuid:nope", "", "Location?identifier=a|b"])}


def _slots(doc: Any, out: list[tuple[Any, Any]]) -> None:
    """Every (container, key) of ``doc``, depth first."""
    if isinstance(doc, dict):
        for k in list(doc):
            out.append((doc, k))
            _slots(doc[k], out)
    elif isinstance(doc, list):
        for i in range(len(doc)):
            out.append((doc, i))
            _slots(doc[i], out)


def _mutate_doc(doc: dict[str, Any], rng: random.Random) -> None:
    slots: list[tuple[Any, Any]] = []
    _slots(doc, slots)
    if not slots:
        return
    container, key = rng.choice(slots)
    value = container[key]
    op = rng.randrange(10)
    if op == 0 and isinstance(container, dict):
        del container[key]
    elif op == 1:
        container[key] = [value, value] if not isinstance(value, list) else value + value
    elif op == 2 and isinstance(value, str):
        container[key] = rng.choice(_DATES + _CODES)
    elif op == 3:
        doc["resourceType"] = rng.choice(_TYPES)
    elif op == 4 and isinstance(container, dict):
        container[key] = [value]
    elif op == 5 and isinstance(value, dict) and value:
        container[key] = next(iter(value.values()))  # an object flattened to a member
    else:
        container[key] = _scalar(rng, value)


def _mutate_bytes(raw: bytes, rng: random.Random) -> bytes:
    op = rng.randrange(6)
    if op == 0:
        return raw[: rng.randrange(1, max(2, len(raw)))]
    at = rng.randrange(len(raw) + 1)
    if op == 1:
        return (
            raw[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88"]) + raw[at:]
        )
    if op == 2:
        return raw[:at] + bytes([rng.randrange(1, 256)]) + raw[at + 1 :]
    if op == 3:
        return raw[:at] + rng.choice([b'"', b"{", b"]", b",", b"\\", b"\x00", b"\r"]) + raw[at:]
    if op == 4:
        return b"[" + raw + b"]"
    return raw + b" " + raw


def make_case(seed: dict[str, Any], case: int, rng: random.Random) -> bytes:
    """One NDJSON line: ``seed`` with id ``fz<case>``, mutated."""
    doc: dict[str, Any] = orjson.loads(orjson.dumps(seed))
    if doc.get("resourceType") != "Bundle":
        doc["id"] = f"fz{case}"
    for _ in range(rng.randint(1, 3)):
        _mutate_doc(doc, rng)
    raw = orjson.dumps(doc)
    if rng.random() < 0.12:
        raw = _mutate_bytes(raw, rng)
    return raw.replace(b"\n", b" ")


# -- running --------------------------------------------------------------------------------


@dataclass
class Outcome:
    cases: int = 0
    landed: int = 0
    rejected: int = 0
    crashed: int = 0
    unaccounted: int = 0
    controls: int = 0
    crashes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)  # quarantine reasons, shortened
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.cases} cases: {self.landed} landed, {self.rejected} rejected "
            f"(quarantined), {self.crashed} crashed, {self.unaccounted} unaccounted "
            f"({self.controls} unmutated controls) in {self.seconds:.1f} s"
        )


def _signature(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"
    return f"{type(exc).__name__} at {where}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"


def _site_view(work: Path) -> None:
    """A site's patients view whose ``mrn`` yields every identifier value (no ``first()``):
    the checks pass records with two identifiers and the view fails on them at commit."""
    from caretwin.views.catalog import shipped_views

    view = dict(shipped_views()["patients"].view.raw)
    view["select"] = [{"column": [
        {"name": "patient_id", "path": "getResourceKey()", "type": "id"},
        {"name": "gender", "path": "gender", "type": "code"},
        {"name": "birth_date", "path": "birthDate", "type": "date"},
        {"name": "mrn", "path": "identifier.value", "type": "string"}]}]  # fmt: skip
    (work / "views").mkdir()
    (work / "views" / "patients.json").write_bytes(orjson.dumps(view))


def _ingest(
    lines: list[bytes], work: Path, compiled: bool, site_view: bool = False
) -> tuple[Lake, Any, Path]:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if site_view:
        _site_view(work)
    path = work / "fuzz.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    old = os.environ.get(NATIVE_ENV)
    if compiled:
        os.environ[NATIVE_ENV] = "0"
    try:
        report = ingest_paths(work / "lake", [path], workers=1)
    finally:
        if compiled:
            if old is None:
                os.environ.pop(NATIVE_ENV, None)
            else:
                os.environ[NATIVE_ENV] = old
    return Lake(work / "lake"), report, path


def _parse_crashes(lines: list[bytes]) -> Iterator[tuple[int, str]]:
    """(index, signature) of the lines whose parsing alone raises (cheap: no lake)."""
    for i, line in enumerate(lines):
        try:
            parse_chunk(Chunk("fuzz.ndjson", 1, line))
        except Exception as exc:  # what the fuzzer looks for
            yield i, _signature(exc)


def _crashing(
    lines: list[bytes], work: Path, compiled: bool, site: bool
) -> Iterator[tuple[int, str]]:
    """(index, signature) of the lines that crash the pipeline (bisection)."""
    try:
        _ingest(lines, work, compiled, site)
        return
    except Exception as exc:  # what the fuzzer looks for
        sig = _signature(exc)
    if len(lines) == 1:
        yield 0, sig
        return
    half = len(lines) // 2
    yield from _crashing(lines[:half], work, compiled, site)
    yield from ((i + half, s) for i, s in _crashing(lines[half:], work, compiled, site))


def _reason_kind(reason: str) -> str:
    """A reason without its specifics (element paths, indexes, parser positions)."""
    if reason.startswith("view "):
        return reason.split(":")[0] + ": (a view fails on the record)"
    reason = re.sub(r"Bundle\.entry\[\d+\]: ", "", reason)
    reason = re.sub(r"^[A-Z][A-Za-z]*(\.[A-Za-z]+|\[\d+\])*:? ", "<element> ", reason)
    return re.sub(r"\d+", "N", reason.split(": line")[0])[:70]


def _account(lines: list[bytes], lake: Lake, report: Any, path: Path, out: Outcome) -> None:
    """Every line landed, was quarantined with file+line+reason, or repeats a landed line."""
    src = path.resolve().as_posix()
    q = lake.query("SELECT source_file, line, reason FROM quarantine").to_pylist()
    quoted = "'" + src.replace("'", "''") + "'"
    raw = lake.query(f"SELECT DISTINCT line FROM resources WHERE source_file = {quoted}")
    landed = {r["line"] for r in raw.to_pylist()}
    quarantined = set()
    for row in q:
        if row["source_file"] != src or not row["reason"] or not 1 <= row["line"] <= len(lines):
            out.problems.append(f"quarantine row without file/line/reason: {row}")
            out.unaccounted += 1
        if INTERNAL_ERROR in row["reason"]:  # a check raised: caught, but a defect all the same
            sig = f"internal error quarantined: {row['reason']}"
            out.crashed += 1
            out.crashes[sig] += 1
            out.examples.setdefault(sig, lines[row["line"] - 1])
        quarantined.add(row["line"])
        out.reasons[_reason_kind(row["reason"])] += 1
    unchanged = sum(c.unchanged for c in report.counts.values())
    missing = [n for n in range(1, len(lines) + 1) if n not in landed and n not in quarantined]
    if len(missing) > unchanged:
        out.unaccounted += len(missing) - unchanged
        out.problems.append(f"lines neither landed nor quarantined: {missing[:10]}")
    out.landed += len(landed - quarantined)
    out.rejected += len(quarantined)


def run(cases: int, seed: int = 1, batch: int = 1000, work: Path | None = None) -> Outcome:
    """Fuzz ``cases`` mutated lines (see the module doc); the figures in an :class:`Outcome`."""
    started = time.perf_counter()
    own = work is None
    root = Path(tempfile.mkdtemp(prefix="caretwin-fuzz-")) if work is None else work
    try:
        seeds = seed_docs(root)
        rng = random.Random(seed)
        out = Outcome()
        done = 0
        batch_no = 0
        while done < cases:
            n = min(batch, cases - done)
            lines: list[bytes] = []
            for i in range(n):
                if i % 20 == 0:  # an unmutated control: no batch is entirely bad
                    doc = dict(rng.choice(seeds))
                    if doc.get("resourceType") != "Bundle":
                        doc["id"] = f"fz{done + i}"
                    lines.append(orjson.dumps(doc))
                    out.controls += 1
                else:  # the few hand-written seeds (Observation, Bundle) a tenth of the time
                    pick = rng.choice(_EXTRA_SEEDS) if rng.random() < 0.1 else rng.choice(seeds)
                    lines.append(make_case(pick, done + i, rng))
            compiled = batch_no % 4 == 3
            site = batch_no % 4 in (1, 3)  # a site view the checks do not cover
            out.cases += n
            try:
                lake, report, path = _ingest(lines, root / "batch", compiled, site)
            except Exception:  # a crash: find the lines that cause it
                bad = dict(_parse_crashes(lines))
                rest = [i for i in range(n) if i not in bad]
                later = _crashing([lines[i] for i in rest], root / "bisect", compiled, site)
                bad.update((rest[i], sig) for i, sig in later)
                out.crashed += len(bad)
                for index, sig in bad.items():
                    out.crashes[sig] += 1
                    out.examples.setdefault(sig, lines[index])
                good = [x for i, x in enumerate(lines) if i not in bad]
                try:
                    lake, report, path = _ingest(good, root / "batch", compiled, site)
                except Exception as exc:  # crashes of combinations only: count the rest
                    out.problems.append(f"batch {batch_no} still fails: {_signature(exc)}")
                    out.unaccounted += len(good)
                else:
                    _account(good, lake, report, path, out)
            else:
                _account(lines, lake, report, path, out)
            done += n
            batch_no += 1
        out.seconds = time.perf_counter() - started
        return out
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args(argv)
    out = run(args.cases, args.seed, args.batch)
    print(out.summary())
    for sig, count in out.crashes.most_common():
        print(f"  {count:6d} x {sig}\n         e.g. {out.examples[sig][:300]!r}")
    at_commit = sum(n for r, n in out.reasons.items() if r.startswith("view "))
    print(f"quarantined at commit because a view failed on them: {at_commit}")
    print("quarantine reasons (most frequent):")
    for reason, count in out.reasons.most_common(25):
        print(f"  {count:6d}  {reason}")
    for problem in out.problems[:20]:
        print(f"  problem: {problem}")
    return 1 if out.crashed or out.unaccounted else 0


if __name__ == "__main__":
    sys.exit(main())
