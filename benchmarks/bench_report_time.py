"""Report time of a results folder: ``write_reports`` in a fresh interpreter, cold and cached.

*cold*: the report cache (``cache/report/``) and the figure files removed first, so aggregates,
bootstrap CIs, BD tables and every figure are computed; *cached*: run again right after (only the
text reports are rendered); *cold_forkserver* (``--forkserver``): cold, with a forkserver already
running in the interpreter as a local worker pool leaves it after ``qbench run`` (one pool worker
started and stopped first, not timed), so the figures are drawn in child processes. Each case runs
in a new interpreter (imports included, as after a ``qbench run``) and reports its wall seconds
and the heavy modules it imported (scipy.stats, matplotlib.pyplot). The folder is copied first,
so the original stays as it was.

``--run SUITE``: also time whole ``qbench run SUITE --workers N --fresh --quiet`` runs (the CLI in
a fresh interpreter, ``--repeat`` times), their wall seconds and the seconds of the report inside.
``--source CHECKOUT``: every case also with the qbench of another checkout (put first on the
children's ``PYTHONPATH``; e.g. the commit before a change), interleaved with this one's.

    python benchmarks/bench_report_time.py RESULTS_DIR [--repeat 3] [--forkserver] [--run SUITE --workers 2]
        [--source CHECKOUT] [--json benchmarks/results/report_time_kodak.json]

RESULTS_DIR is the ``--out`` folder of a run, e.g. the Kodak JPEG run of ``profile_kodak_run.py``
(456 samples, psnr_rgb + ms_ssim_rgb). The load average before and after is recorded: the
figures compare only on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from provenance import (  # benchmarks/provenance.py, beside this script
    describe,
    save_json,
)

CHILD = r"""
import json, sys, time
if sys.argv[2] == "forkserver":            # as a local pool leaves it: its worker gone, the forkserver up
    from qbench.runner.executor import LocalExecutor
    pool = LocalExecutor(1)
    pool.result(pool.submit(int, "1"))
    pool.close()
t0 = time.perf_counter()
from qbench.report import write_reports
files = write_reports(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t0, "files": len(files),
                  "scipy.stats": "scipy.stats" in sys.modules, "matplotlib.pyplot": "matplotlib.pyplot" in sys.modules}))
"""


RUN = r"""
import json, sys, time
import qbench.report
real = qbench.report.write_reports
seconds = []
def timed(*args, **kwargs):
    t = time.perf_counter()
    try:
        return real(*args, **kwargs)
    finally:
        seconds.append(time.perf_counter() - t)
qbench.report.write_reports = timed
from qbench.cli import main
t0 = time.perf_counter()
main(["run", sys.argv[1], "--out", sys.argv[2], "--workers", sys.argv[3], "--fresh", "--quiet"], standalone_mode=False)
print(json.dumps({"seconds": time.perf_counter() - t0, "report_seconds": seconds[0],
                  "scipy.stats": "scipy.stats" in sys.modules, "matplotlib.pyplot": "matplotlib.pyplot" in sys.modules}))
"""


def _child(code: str, args: list[str], source: Path | None) -> dict:
    """Run ``code`` in a fresh interpreter (with ``source``'s qbench first on its path); its JSON line."""
    env = dict(os.environ)
    if source is not None:                # another checkout's qbench (e.g. the commit before a change)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    # run outside any checkout: ``-c`` puts the working directory first on the path
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env,
                          cwd=tempfile.gettempdir())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _summary(runs: list[dict]) -> dict:
    out = {"median_s": round(statistics.median(r["seconds"] for r in runs), 3),
           "runs_s": [round(r["seconds"], 3) for r in runs],
           "imports": {m: runs[0][m] for m in ("scipy.stats", "matplotlib.pyplot")}}
    if "report_seconds" in runs[0]:
        out["report_median_s"] = round(statistics.median(r["report_seconds"] for r in runs), 3)
        out["report_runs_s"] = [round(r["report_seconds"], 3) for r in runs]
    return out


def _cold(folder: Path) -> None:
    shutil.rmtree(folder / "cache" / "report", ignore_errors=True)
    for f in folder.iterdir():
        if f.suffix in (".png", ".svg"):
            f.unlink()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--forkserver", action="store_true", help="also the cold case after a pool run")
    ap.add_argument("--run", type=Path, metavar="SUITE", help="also time whole qbench runs of SUITE")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--source", type=Path, default=None,
                    help="also run every case with the qbench of this checkout (e.g. the commit before a "
                         "change), interleaved with this one's")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    names = ["cold", "cached"] + ["cold_forkserver"] * args.forkserver + ["run"] * bool(args.run)
    versions = {"this": None} if args.source is None else {"source": args.source, "this": None}
    cases: dict[str, dict[str, list[dict]]] = {v: {n: [] for n in names} for v in versions}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "results"
        shutil.copytree(args.results, folder, ignore=shutil.ignore_patterns("outputs", "decoded", "bitstreams"))
        for _ in range(args.repeat):         # cases and versions interleaved, so a change of load hits them alike
            for version, source in versions.items():
                got = cases[version]
                _cold(folder)
                got["cold"].append(_child(CHILD, [str(folder), "plain"], source))
                got["cached"].append(_child(CHILD, [str(folder), "plain"], source))
                if args.forkserver:
                    _cold(folder)
                    got["cold_forkserver"].append(_child(CHILD, [str(folder), "forkserver"], source))
                if args.run:
                    got["run"].append(_child(RUN, [str(args.run), str(Path(tmp) / "run"), str(args.workers)], source))
    result = {"results": str(args.results), "python": sys.version.split()[0], "platform": platform.platform(),
              "cpus": os.cpu_count(), "repeat": args.repeat,
              "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
              "note": "wall seconds in a fresh interpreter, imports included; shared machine"}
    if args.run:
        result["run"] = {"suite": str(args.run), "workers": args.workers}
    if args.source is None:
        result["cases"] = {k: _summary(v) for k, v in cases["this"].items()}
    else:
        result["versions"] = {version: {"qbench": describe(source),
                                        "cases": {k: _summary(v) for k, v in cases[version].items()}}
                              for version, source in versions.items()}
    print(json.dumps(result, indent=1))
    save_json(result, args.json)


if __name__ == "__main__":
    main()
