"""Cached rerun cost: the work a second ``qbench run`` does when everything is in the store.

Runs the suite once (cold) into a temporary folder, then times reruns in the same process after
the imports are done, split into the runner (index, plan, resume check) and the reports. The
quickstart suite runs on the embedded images, so this needs no data.

    python benchmarks/bench_cached_rerun.py [--suite suites/quickstart.yaml] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", type=Path, default=Path(__file__).resolve().parents[1] / "suites" / "quickstart.yaml")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    import matplotlib  # noqa: F401  (the imports a cold CLI start pays; excluded from the figures)
    import pandas  # noqa: F401
    import torch  # noqa: F401

    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import load_suite

    imports = time.perf_counter() - t0
    suite = load_suite(args.suite)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        t0 = time.perf_counter()
        Runner(suite, out, workers=args.workers, progress=False).run()
        write_reports(out)
        cold = time.perf_counter() - t0
        runs, reports = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = Runner(suite, out, workers=args.workers, progress=False).run()
            t1 = time.perf_counter()
            write_reports(out)
            t2 = time.perf_counter()
            assert not res.computed_anything, "the rerun computed something"
            runs.append(t1 - t0)
            reports.append(t2 - t1)
    run_s, rep_s = statistics.median(runs), statistics.median(reports)
    print(f"suite {suite.name}: imports {imports:.2f} s, cold run + reports {cold:.1f} s")
    print(f"cached rerun (median of {args.repeat}): runner {run_s:.3f} s + reports {rep_s:.3f} s "
          f"= {run_s + rep_s:.3f} s of work beyond imports")
    if args.json:
        args.json.write_text(json.dumps({"suite": suite.name, "imports_s": imports, "cold_s": cold,
                                         "rerun_runner_s": runs, "rerun_reports_s": reports}, indent=1))


if __name__ == "__main__":
    main()
