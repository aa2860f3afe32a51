"""From extracted rows to the samples each template parameter is fitted on.

One pass turns the lake's rows into, per step, the durations whose end is observed (and how many
were still open), per branching step, the counted outcomes, and the arrival instants in the
window. Durations are derived from timestamps as the data contract documents them — e.g. ED
treatment runs from the treatment-space start to the first of the CT order, the admission order
or leaving the ED. Intervals that start inside ``[start, end)`` are used: those that end before
``end`` as completed durations, those still open as *right-censored* ones — the time elapsed from
their start to when observation stops, the window end or the end of the data if that comes
first (:func:`censor_time`). Dropping open intervals would bias long stays low.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from caretwin.calibrate.extract import Columns, Extract
from caretwin.calibrate.mapping import StepRole, classify, decisions, find_step
from caretwin.model import TwinDefinition


@dataclass
class Observations:
    durations: dict[str, np.ndarray] = field(default_factory=dict)
    #: Elapsed time of each interval still open when observation stopped (right-censored).
    censored: dict[str, np.ndarray] = field(default_factory=dict)
    #: Number of intervals still open (each is in ``censored`` when a censor time was given).
    open_counts: dict[str, int] = field(default_factory=dict)
    branches: Counter[tuple[str, str]] = field(default_factory=Counter)
    ed_arrivals: np.ndarray = field(default_factory=lambda: np.empty(0))
    elective_arrivals: np.ndarray = field(default_factory=lambda: np.empty(0))

    def add(
        self, key: str, start: np.ndarray, end: np.ndarray, censor_at: float = math.inf
    ) -> None:
        """Keep intervals with an observed start; those without an observed end are 'open' and,
        when ``censor_at`` is finite, censored at ``censor_at - start``."""
        started = np.isfinite(start)
        done = started & np.isfinite(end)
        still_open = started & ~done
        self.durations[key] = np.concatenate(
            [self.durations.get(key, np.empty(0)), (end - start)[done]]
        )
        elapsed = (censor_at - start[still_open]) if math.isfinite(censor_at) else np.empty(0)
        self.censored[key] = np.concatenate([self.censored.get(key, np.empty(0)), elapsed])
        self.open_counts[key] = self.open_counts.get(key, 0) + int(still_open.sum())


def _in(t: np.ndarray, start_h: float, end_h: float) -> np.ndarray:
    return np.asarray((t >= start_h) & (t < end_h))


def _subset(cols: Columns, mask: np.ndarray) -> Columns:
    return {k: v[mask] for k, v in cols.items()}


def ed_pathway(defn: TwinDefinition, roles: dict[str, StepRole]) -> str:
    """The pathway whose entry step acquires a treatment space (ED visits follow it)."""
    for name, pathway in defn.pathways.items():
        if roles[f"{name}.{pathway.steps[0].id}"].role == "space":
            return name
    return ""


def data_end(ex: Extract) -> float:
    """The latest instant anywhere in the extract (``-inf`` when it holds none)."""
    latest = -math.inf
    for table in (ex.ed, ex.beds, ex.elective, ex.work):
        for arr in table.values():
            if arr.dtype.kind == "f" and arr.size:
                finite = arr[np.isfinite(arr)]
                if finite.size:
                    latest = max(latest, float(finite.max()))
    return latest


def censor_time(ex: Extract, end_h: float) -> float:
    """When observation of open intervals stops: the window end, or the end of the data if the
    extract ends earlier (an interval open at the last recorded instant is known to have lasted
    only that long, not until a window end the data never reach)."""
    latest = data_end(ex)
    return min(end_h, latest) if math.isfinite(latest) else end_h


def observe(ex: Extract, defn: TwinDefinition, start_h: float, end_h: float) -> Observations:
    """Durations (completed and right-censored), branch outcomes and arrivals for the window
    ``[start_h, end_h)``."""
    censor_h = censor_time(ex, end_h)
    ex = ex.truncate(end_h)
    roles = classify(defn)
    obs = Observations()
    ed = _subset(ex.ed, _in(ex.ed["arrival"], start_h, end_h))
    obs.ed_arrivals = ed["arrival"]
    obs.elective_arrivals = ex.elective["arrival"][_in(ex.elective["arrival"], start_h, end_h)]
    beds = ex.beds
    ed_path = ed_pathway(defn, roles)
    dep = ed["departure"]
    after_proc = np.fmin(ed["admit_order"], dep)
    for role in roles.values():
        key = role.key
        if role.role == "space":
            mask = ed["space_unit"] == role.unit
            end = np.fmin(np.fmin(ed["proc_order"], ed["admit_order"]), dep)
            obs.add(key, ed["space_start"][mask], end[mask], censor_h)
        elif role.role == "procedure":
            mask = ed["proc_unit"] == role.unit
            obs.add(key, ed["proc_start"][mask], ed["proc_end"][mask], censor_h)
        elif role.role == "post_procedure":
            mask = ed["proc_unit"] != ""
            obs.add(key, ed["proc_end"][mask], after_proc[mask], censor_h)
        elif role.role == "bed":
            mask = (beds["unit"] == role.unit) & (beds["after"] == role.after)
            mask &= _in(beds["start"], start_h, end_h)
            end = np.where(np.isfinite(beds["transfer"]), beds["transfer"], beds["end"])
            obs.add(key, beds["start"][mask], end[mask], censor_h)
    if ed_path:
        _count_ed_branches(obs, defn, roles, ed_path, ed, beds)
    return obs


def _count_ed_branches(
    obs: Observations,
    defn: TwinDefinition,
    roles: dict[str, StepRole],
    path: str,
    ed: Columns,
    beds: Columns,
) -> None:
    """Rebuild each ED visit's milestones and count the branch outcomes they imply."""
    pathway = defn.pathways[path]
    acquiring = {
        r.step
        for r in roles.values()
        if r.pathway == path and r.role in ("space", "procedure", "bed")
    }
    stays: dict[str, list[int]] = {}
    for i, part_of in enumerate(beds["part_of"]):
        if part_of:
            stays.setdefault(str(part_of), []).append(i)
    memo: dict[tuple[tuple[str, ...], bool], list[tuple[str, str]]] = {}
    for i in range(len(ed["id"])):
        if not np.isfinite(ed["space_start"][i]):
            continue
        space_unit = str(ed["space_unit"][i])
        ms = [find_step(roles, path, "space", space_unit)]
        if np.isfinite(ed["proc_order"][i]):
            ms.append(find_step(roles, path, "procedure", str(ed["proc_unit"][i])))
        if np.isfinite(ed["admit_order"][i]):
            ms.append(find_step(roles, path, "bed", str(ed["admit_unit"][i]), space_unit))
            complete = False
            rows = stays.get(str(ed["id"][i]), [])
            if rows:
                r = rows[0]
                if np.isfinite(beds["transfer"][r]):
                    unit, prev = str(beds["transfer_unit"][r]), str(beds["unit"][r])
                    ms.append(find_step(roles, path, "bed", unit, prev))
                    complete = len(rows) > 1 and bool(np.isfinite(beds["end"][rows[1]]))
                else:
                    complete = bool(np.isfinite(beds["end"][r]))
        else:
            complete = bool(np.isfinite(ed["departure"][i]))
        if "" in ms:
            continue  # a unit the template does not model: no outcome can be attributed
        sig = (tuple(ms), complete)
        if sig not in memo:
            memo[sig] = decisions(pathway, ms, complete, acquiring)
        for step, target in memo[sig]:
            obs.branches[(f"{path}.{step}", target)] += 1
