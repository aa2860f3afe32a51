"""Views benchmark: compiled SQL, the native engine and the fhirpathpy interpreter, same lake.

``python benchmarks/views_bench.py [--days 100] [--interpreted-sample 20000]``: generates RH1 for
``--days`` with ``caretwin synth``, ingests it into a fresh lake, then runs every canonical view
compiled (all resources) and interpreted (baseline; on all resources, or on at most
``--interpreted-sample`` resources of the type to keep the run short — the figure is
resources/s either way). The native engine (what ingestion runs in its parse workers) is timed
on the same sample of already parsed resources, as ingestion holds them. Prints resources/s and
the compiled/interpreted ratio per view.
Timings on a shared 2-core machine are noisy: repeat runs and compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from caretwin.ingest import ingest_paths
from caretwin.lake import Lake
from caretwin.model import REFERENCE_HOSPITAL, example_path, load_definition
from caretwin.synth import generate
from caretwin.views.catalog import shipped_views
from caretwin.views.interpreter import interpret
from caretwin.views.native import compile_native
from caretwin.views.runner import LakeSource, run_view


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--interpreted-sample", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        generate(
            load_definition(example_path(REFERENCE_HOSPITAL)), args.days, args.seed, root / "d"
        )
        report = ingest_paths(root / "lake", [root / "d"])
        print(f"RH1 {args.days} days: {report.records:,} records generated and ingested "
              f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
        source = LakeSource(Lake(root / "lake"))
        print(
            f"{'view':<18}{'resources':>10}{'rows':>9}{'compiled/s':>13}{'native/s':>11}"
            f"{'interp/s':>11}{'ratio':>8}"
        )
        total_c = total_n = 0.0
        n_all = 0
        for name, entry in shipped_views().items():
            view = entry.view
            n = source.count(view.resource)
            if n == 0:
                continue
            t = time.perf_counter()
            result = run_view(view, source, "compiled")
            compiled_s = time.perf_counter() - t
            sample = [
                r
                for _, r in zip(
                    range(args.interpreted_sample), source.resources(view.resource), strict=False
                )
            ]
            native = compile_native(view)
            t = time.perf_counter()
            for resource in sample:
                native.rows(resource)
            native_s = time.perf_counter() - t
            t = time.perf_counter()
            for _ in interpret(view, sample):
                pass
            interp_s = time.perf_counter() - t
            c_rate, i_rate = n / compiled_s, len(sample) / interp_s
            n_rate = len(sample) / native_s
            total_c += compiled_s
            total_n += interp_s * n / len(sample)
            n_all += n
            print(f"{name:<18}{n:>10,}{result.table.num_rows:>9,}{c_rate:>13,.0f}{n_rate:>11,.0f}"
                  f"{i_rate:>11,.0f}"
                  f"{c_rate / i_rate:>7.1f}x")  # fmt: skip
        rate_c, rate_i = n_all / total_c, n_all / total_n
        print(f"all views: {n_all:,} resources; compiled {total_c:.2f} s ({rate_c:,.0f}/s), "
              f"interpreted (extrapolated) {total_n:.1f} s ({rate_i:,.0f}/s), "
              f"ratio {total_n / total_c:.1f}x")  # fmt: skip
        source.close()


if __name__ == "__main__":
    main()
