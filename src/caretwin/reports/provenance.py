"""Calibration diagnostics and run-manifest rows for the report.

Both inputs are free-form dictionaries written by other parts of CareTwin (calibration's
provenance, the run manifest), so the report reads them defensively: a calibration fit is any
nested mapping with a ``family`` key, shown with its parameters, AIC comparison, goodness of fit
and sample size; everything else is shown as key/value pairs or indented JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from caretwin.reports.tables import MISSING

_FIT_KEYS = ("family", "params", "aic", "ks", "n")


def compact(value: Any) -> str:
    """A short one-line rendering of a scalar, mapping or sequence."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else MISSING
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={compact(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(compact(v) for v in value)
    return str(value)


def _aic_pairs(aic: Any) -> list[tuple[str, float]] | None:
    """AIC per family, from ``{family: aic}`` or ``[{"family": ..., "aic": ...}, ...]``.

    A family whose fit failed (AIC ``None`` or not finite) sorts last as NaN.
    """
    pairs: list[tuple[str, float]] = []
    if isinstance(aic, Mapping):
        items = list(aic.items())
    elif isinstance(aic, list) and all(isinstance(x, Mapping) for x in aic):
        items = [(x.get("family"), x.get("aic")) for x in aic]
    else:
        return None
    for fam, val in items:
        if val is None:
            val = math.nan
        if not isinstance(val, int | float) or isinstance(val, bool):
            return None
        pairs.append((str(fam), float(val)))
    return sorted(pairs, key=lambda p: p[1] if math.isfinite(p[1]) else math.inf)


def format_aic(aic: Any) -> str:
    """Families by ascending AIC with the gap to the best, e.g. ``gamma 10.0 · lognormal +2.1``."""
    pairs = _aic_pairs(aic)
    if not pairs or not math.isfinite(pairs[0][1]):
        return compact(aic)
    best = pairs[0][1]
    parts = [f"{pairs[0][0]} {best:.1f}"]
    parts += [
        f"{fam} {val - best:+.1f}" if math.isfinite(val) else f"{fam} failed"
        for fam, val in pairs[1:]
    ]
    return " · ".join(parts)


@dataclass(frozen=True)
class FitRow:
    parameter: str
    family: str
    params: str
    aic: str
    ks: str
    n: str
    other: str


@dataclass
class Calibration:
    fits: list[FitRow] = field(default_factory=list)
    meta: list[tuple[str, str]] = field(default_factory=list)
    raw_json: str | None = None  # when no fit could be recognised


def _walk_fits(
    data: Mapping[str, Any], prefix: str = ""
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key, value in data.items():
        if not isinstance(value, Mapping):
            continue
        path = f"{prefix}.{key}" if prefix else str(key)
        if "family" in value:
            yield path, value
        else:
            yield from _walk_fits(value, path)


def calibration_view(data: Mapping[str, Any]) -> Calibration:
    fits = [
        FitRow(
            parameter=path,
            family=compact(fit.get("family")),
            params=compact(fit.get("params")),
            aic=format_aic(fit.get("aic")) if "aic" in fit else MISSING,
            ks=compact(fit.get("ks")),
            n=compact(fit.get("n")),
            other=compact({k: v for k, v in fit.items() if k not in _FIT_KEYS}) or MISSING,
        )
        for path, fit in _walk_fits(data)
    ]
    meta = [
        (str(k), compact(v))
        for k, v in data.items()
        if not isinstance(v, Mapping) and not (isinstance(v, list) and fits)
    ]
    raw = None if fits else to_json(data)
    return Calibration(fits=fits, meta=meta, raw_json=raw)


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


@dataclass(frozen=True)
class ManifestRow:
    key: str
    value: str
    block: bool  # render as preformatted JSON


def manifest_rows(manifest: Mapping[str, Any]) -> list[ManifestRow]:
    rows = []
    for key, value in manifest.items():
        if isinstance(value, Mapping | list | tuple):
            rows.append(ManifestRow(str(key), to_json(value), True))
        else:
            rows.append(ManifestRow(str(key), compact(value), False))
    return rows


def manifest_field(manifest: Mapping[str, Any] | None, *keys: str) -> str | None:
    """The first of ``keys`` present in the manifest, as text."""
    if not manifest:
        return None
    for key in keys:
        if manifest.get(key) not in (None, ""):
            return compact(manifest[key])
    return None
