"""Start-up cost of the CLI: ``qbench --help``, ``qbench validate`` and a JPEG-only run up to its
first sample, each in a fresh interpreter, wall time as the median of ``--repeat`` runs.

"First sample" is the moment the runner logs ``N of M samples to compute`` (set-up done: suite
checked, device resolved, store opened, images indexed, plan written; the next step computes).
One extra run of each under ``python -X importtime`` lists which heavy modules (torch, pyiqa,
matplotlib, pandas, scipy) the main process imported by then. The JPEG-only suite (JPEG q10/q30,
identity, PSNR RGB and Y) runs on the embedded images, so this needs no data.

    python benchmarks/bench_startup.py [--repeat 7] [--json benchmarks/results/startup.json] [--root DIR]

``--root`` times the qbench of another checkout (``python -m qbench.cli`` run in that folder), e.g.
an earlier commit extracted with ``git archive``, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "pyiqa", "matplotlib", "pandas", "scipy")
MARK = "samples to compute"
SUITE = """name: jpeg_only_startup
datasets: [skimage-samples]
codecs:
  - name: jpeg
    qualities: [10, 30]
solvers: [identity]
metrics: [psnr_rgb, psnr_y]
"""


ROOT_RUN = ROOT


def _cmd(args: list[str], importtime: bool = False) -> list[str]:
    return [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "qbench.cli", *args]


def _until(args: list[str], mark: str | None, importtime: bool = False) -> tuple[float, float, list[str]]:
    """Seconds to the stderr line holding ``mark`` (None: to the exit), seconds to the exit, and
    the heavy top-level modules imported (per ``-X importtime``) before the mark."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(_cmd(args, importtime), cwd=ROOT_RUN, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    at, heavy = None, []
    for line in proc.stderr:
        if at is None and mark and mark in line:
            at = time.perf_counter() - t0
        if at is None and line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip()
            if name in HEAVY:
                heavy.append(name)
    if proc.wait() != 0:
        raise SystemExit(f"{args} failed with exit status {proc.returncode}")
    end = time.perf_counter() - t0
    if mark and at is None:
        raise SystemExit(f"{args}: no line with {mark!r} on stderr")
    return (end if at is None else at), end, sorted(set(heavy))


def _case(args: list[str], mark: str | None, repeat: int) -> dict:
    marks, ends = [], []
    for _ in range(repeat):
        t_mark, t_end, _ = _until(args, mark)
        marks.append(t_mark)
        ends.append(t_end)
    _, _, heavy = _until(args, mark, importtime=True)
    out = {"command": "qbench " + " ".join(args), "median_s": round(statistics.median(marks), 3),
           "min_s": round(min(marks), 3), "runs_s": [round(t, 3) for t in marks],
           "heavy_imports": heavy}
    if mark:
        out["median_total_s"] = round(statistics.median(ends), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", type=Path, help="also write the figures here as JSON")
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout whose qbench is timed")
    args = ap.parse_args()
    global ROOT_RUN
    ROOT_RUN = args.root.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "jpeg_only.yaml"
        suite.write_text(SUITE)
        cases = {
            "help": _case(["--help"], None, args.repeat),
            "validate_quickstart": _case(["validate", "suites/quickstart.yaml"], None, args.repeat),
        }
        for workers in (0, 2):
            run = ["run", str(suite), "--out", str(Path(tmp) / f"out{workers}"), "--fresh", "--quiet",
                   "--device", "auto", "--workers", str(workers)]
            case = _case(run, MARK, args.repeat)
            case["command"] = case["command"].replace(str(suite), "<jpeg_only.yaml>").replace(tmp, "<tmp>")
            cases[f"run_jpeg_only_to_first_sample_workers{workers}"] = case
    result = {"root": str(ROOT_RUN), "python": sys.version.split()[0], "platform": platform.platform(), "repeat": args.repeat,
              "note": "wall seconds in a fresh interpreter, median of repeats; run_*: to the first sample "
                      "(median_total_s: to the exit, reports included)", "cases": cases}
    for name, c in cases.items():
        extra = f"  (whole run {c['median_total_s']:.2f} s)" if "median_total_s" in c else ""
        print(f"{name:45s} {c['median_s']:6.3f} s median  heavy: {','.join(c['heavy_imports']) or '-'}{extra}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
