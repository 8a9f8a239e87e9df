"""Report time of a results folder: ``write_reports`` in a fresh interpreter, cold and cached.

*cold*: the report cache (``cache/report/``) and the figure files removed first, so aggregates,
bootstrap CIs, BD tables and every figure are computed; *cached*: run again right after (only the
text reports are rendered). Each case runs in a new interpreter (imports included, as after a
``qbench run``) and reports its wall seconds and the heavy modules it imported (scipy.stats,
matplotlib.pyplot). The folder is copied first, so the original stays as it was.

    python benchmarks/bench_report_time.py RESULTS_DIR [--repeat 3] [--json benchmarks/results/report_time_kodak.json]

RESULTS_DIR is the ``--out`` folder of a run, e.g. the Kodak JPEG run of ``profile_kodak_run.py``
(456 samples, psnr_rgb + ms_ssim_rgb).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from qbench.report import write_reports
files = write_reports(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t0, "files": len(files),
                  "scipy.stats": "scipy.stats" in sys.modules, "matplotlib.pyplot": "matplotlib.pyplot" in sys.modules}))
"""


def _once(folder: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cold(folder: Path) -> None:
    shutil.rmtree(folder / "cache" / "report", ignore_errors=True)
    for f in folder.iterdir():
        if f.suffix in (".png", ".svg"):
            f.unlink()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    cases: dict[str, list[dict]] = {"cold": [], "cached": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "results"
        shutil.copytree(args.results, folder, ignore=shutil.ignore_patterns("outputs", "decoded", "bitstreams"))
        for _ in range(args.repeat):
            _cold(folder)
            cases["cold"].append(_once(folder))
            cases["cached"].append(_once(folder))
    result = {"results": str(args.results), "python": sys.version.split()[0], "platform": platform.platform(),
              "repeat": args.repeat, "note": "wall seconds in a fresh interpreter, imports included; shared machine",
              "cases": {k: {"median_s": round(statistics.median(r["seconds"] for r in v), 3),
                            "runs_s": [round(r["seconds"], 3) for r in v],
                            "imports": {m: v[0][m] for m in ("scipy.stats", "matplotlib.pyplot")}}
                        for k, v in cases.items()}}
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
