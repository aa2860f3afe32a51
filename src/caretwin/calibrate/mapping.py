"""How a template's steps correspond to what the hospital's data records.

Nothing here names RH1's steps. A step's role follows from what it acquires, through each
resource's ``kind`` and ``unit``:

* ``space``: acquires a treatment space (ED) — it starts at the space's movement start and ends
  at the first of the next order or leaving the ED;
* ``procedure``: acquires a device — the Procedure's performed period;
* ``post_procedure``: acquires nothing, has a duration and follows a procedure step — from the
  procedure's end to the next order or leaving the ED;
* ``bed``: acquires a bed of ``unit``; ``after`` is the unit it releases on acquiring (ED for
  boarders, ICU for step-downs, none for electives) — from bed start to the next transfer order
  or discharge;
* ``decision``: anything else (no duration; only its routing is fitted).

Routing is fitted from each patient's observed *milestones* (the steps they were seen to request)
by walking the pathway graph between consecutive milestones (:func:`decisions`); a branch whose
outcome is not yet in the data is not counted, so censoring never biases a share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from caretwin.model import EXIT, Pathway, Step, TwinDefinition
from caretwin.model.definition import ResourceKind

Role = Literal["space", "procedure", "post_procedure", "bed", "decision"]


@dataclass(frozen=True)
class StepRole:
    pathway: str
    step: str
    role: Role
    unit: str = ""
    after: str = ""

    @property
    def key(self) -> str:
        return f"{self.pathway}.{self.step}"


def _next_ids(step: Step) -> list[str]:
    if isinstance(step.next, str):
        return [step.next]
    if isinstance(step.next, list):
        return [r.to for r in step.next]
    return [r.to for _, routes in step.next.route_lists() for r in routes]  # by attribute


def classify(defn: TwinDefinition) -> dict[str, StepRole]:
    """The role of every step, keyed ``pathway.step``."""
    out: dict[str, StepRole] = {}
    for pname, pathway in defn.pathways.items():
        procedures: set[str] = set()
        for step in pathway.steps:
            role: Role = "decision"
            unit = after = ""
            for rname in step.acquire:
                res = defn.resources[rname]
                unit = res.unit or rname
                if res.kind == ResourceKind.treatment_space:
                    role = "space"
                elif res.kind == ResourceKind.device:
                    role = "procedure"
                    procedures.add(step.id)
                elif res.kind == ResourceKind.bed:
                    role = "bed"
                    released = [defn.resources[r] for r in step.release_on_acquire]
                    after = next((r.unit or "" for r in released), "")
            out[f"{pname}.{step.id}"] = StepRole(pname, step.id, role, unit, after)
        for step in pathway.steps:
            key = f"{pname}.{step.id}"
            if out[key].role != "decision" or step.duration is None:
                continue
            if any(step.id in _next_ids(pathway.step(p)) for p in procedures):
                out[key] = StepRole(pname, step.id, "post_procedure")
    return out


def find_step(
    roles: dict[str, StepRole], pathway: str, role: Role, unit: str, after: str = ""
) -> str:
    """The id of the step of ``pathway`` with this role and unit ("" when there is none)."""
    for r in roles.values():
        same = r.pathway == pathway and r.role == role and r.unit == unit
        if same and (role != "bed" or r.after == after):
            return r.step
    return ""


def _reaches(pathway: Pathway, start: str, goal: str, milestones: set[str]) -> bool:
    """Whether ``start`` leads to ``goal`` without requesting another milestone step first."""
    stack, seen = [start], set()
    while stack:
        sid = stack.pop()
        if sid == goal:
            return True
        if sid == EXIT or sid in seen or sid in milestones:
            continue
        seen.add(sid)
        stack.extend(_next_ids(pathway.step(sid)))
    return False


def decisions(
    pathway: Pathway, milestones: list[str], complete: bool, acquiring: set[str]
) -> list[tuple[str, str]]:
    """The ``(step, chosen target)`` branch outcomes implied by a patient's milestones.

    ``milestones`` are the steps seen requested, in order, starting with the entry step;
    ``complete`` says the patient's fate after the last one is known (``exit`` follows it).
    ``acquiring`` is the set of steps that can be milestones (those that acquire resources).
    """
    goals = [*milestones[1:], EXIT] if complete else milestones[1:]
    out: list[tuple[str, str]] = []
    current = milestones[0] if milestones else ""
    for goal in goals:
        sid = current
        for _ in range(len(pathway.steps) + 1):
            if sid == goal:
                break
            step = pathway.step(sid)
            if isinstance(step.next, str):
                sid = step.next
                continue
            if not isinstance(step.next, list):
                return out  # routes by patient attribute: not observable by this template
            chosen = [r.to for r in step.next if _reaches(pathway, r.to, goal, acquiring)]
            if len(chosen) != 1:
                return out  # the data do not fit this template's graph: stop counting
            out.append((sid, chosen[0]))
            sid = chosen[0]
        if sid != goal:
            return out
        current = goal
    return out
