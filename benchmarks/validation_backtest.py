"""The RH1 backtest of docs/validation.md: 24 months of synthetic RH1 data, calibrate on 12 months,
predict each of the next 12 months with a rolling origin, and report the coverage of the 90 %
prediction intervals per KPI, per unit and per arrival hour.

    python benchmarks/validation_backtest.py                       # fresh workspace in /tmp
    python benchmarks/validation_backtest.py --workspace WS        # reuse WS's lake if it has one
    python benchmarks/validation_backtest.py --plan my-plan.yaml

Prints markdown tables and the path of the scorecard's run folder (``scorecard.json``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from caretwin.access import Actor
from caretwin.services.context import ServiceContext
from caretwin.services.demo import add_months
from caretwin.services.ingestion import ingest
from caretwin.services.synth import synthesize
from caretwin.services.validation import run_validation
from caretwin.services.workspace import init_workspace
from caretwin.synth import DEFAULT_START_DATE
from caretwin.workspace import Workspace


def _workspace(path: Path | None, seed: int) -> ServiceContext:
    actor = Actor.os_user()
    if path is not None and (path / "caretwin.yaml").exists():
        ctx = ServiceContext(Workspace.open(path), actor)
        if any((path / "lake").glob("**/*.parquet")):
            return ctx
    else:
        root = path or Path(tempfile.mkdtemp(prefix="caretwin-backtest-"))
        ctx = init_workspace(root, actor)
    days = (add_months(DEFAULT_START_DATE, 24) - DEFAULT_START_DATE).days + 14
    out = ctx.workspace.root / "incoming" / f"rh1-24m-seed{seed}"
    t0 = time.perf_counter()
    synthesize(ctx, "reference-hospital", days=days, seed=seed, out_dir=out)
    ingest(ctx, [out])
    print(f"synthesized and ingested {days} days in {time.perf_counter() - t0:.0f} s")
    return ctx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, default=None)
    ap.add_argument("--plan", default="rh1-backtest")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    ctx = _workspace(args.workspace, args.seed)
    t0 = time.perf_counter()
    run = run_validation(ctx, args.plan, workers=args.workers, on_step=print)
    sc = run.scorecard
    print(f"\nvalidation run {run.run_id} in {time.perf_counter() - t0:.0f} s: {run.report}\n")
    for scope, title in (("per_kpi", "KPI"), ("by_unit", "unit"), ("by_hour", "arrival hour")):
        print(f"| {title} | covered | coverage | mean z |\n|---|---|---|---|")
        for r in sc.coverage_table(scope):
            cov = "-" if r.coverage is None else f"{100 * r.coverage:.0f} %"
            z = "-" if r.mean_z is None else f"{r.mean_z:+.2f}"
            print(f"| {r.subject} | {r.hits}/{r.n} | {cov} | {z} |")
        print()
    print("| criterion | result | finding |\n|---|---|---|")
    for c in sc.criteria:
        print(f"| {c.id} | {c.passed} | {c.summary} |")
    print("\n| KPI | can predict | why not |\n|---|---|---|")
    for v in sc.verdicts:
        print(f"| {v.kpi} | {v.can_predict} | {'; '.join(v.reasons)} |")


if __name__ == "__main__":
    main()
