"""Where the time of a Kodak JPEG run goes, stage by stage.

The workload of ``bench_codecs_vs_compressai.py``: 24 Kodak images, JPEG q5..95 step 5 (456
samples), psnr_rgb + ms_ssim_rgb, ``--workers 2``. Two parts:

* **the run** (``qbench run --workers 2 --fresh``, twice: plain for the wall time and the marks on
  stderr, then under ``cProfile`` for the main process): start-up (to the ``samples to compute``
  line), the sample phase, reports (after it), and in the main process the store writes, the
  waiting and the report functions (results arrive on the pool's own thread, which cProfile does
  not see: their size and (de)serialisation time come from the worker-side part);
* **the worker side, in this process on one thread**: per image the read and each metric's
  ``prepare``; per sample encode, decode, bitstream write, each metric's ``compute_prepared``
  (and for MS-SSIM each scale of the kernel), and the pickled size and (de)serialisation time
  of a real :class:`~qbench.runner.stages.CodeJob` and of the :class:`StageResult` it returns.

    python benchmarks/profile_kodak_run.py --kodak /path/to/kodak [--images 24] [--json benchmarks/results/profile_kodak_run.json]
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml
from provenance import save_json  # benchmarks/provenance.py, beside this script

QUALITIES = list(range(5, 100, 5))
METRICS = ("psnr_rgb", "ms_ssim_rgb")
MARK = "samples to compute"


def suite_file(kodak: Path, tmp: Path) -> Path:
    suite = {"name": "profile_jpeg_kodak",
             "datasets": [{"name": "folder", "params": {"path": str(kodak)}, "mode": "rgb"}],
             "codecs": [{"name": "jpeg", "qualities": QUALITIES}], "solvers": ["identity"], "metrics": list(METRICS)}
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def timed_run(suite: Path, out: Path, workers: int, profile: Path | None = None) -> dict:
    """Wall seconds of one fresh run, to its first sample, of its sample phase, and after it."""
    pre = ["-m", "cProfile", "-o", str(profile)] if profile else []
    cmd = [sys.executable, *pre, "-m", "qbench.cli", "run", str(suite), "--out", str(out), "--workers",
           str(workers), "--fresh", "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = samples_s = None
    for line in proc.stderr:
        if first is None and MARK in line:
            first = time.perf_counter() - t0
        if "computed in" in line:
            samples_s = float(line.rsplit("computed in", 1)[1].split()[0])
    if proc.wait() != 0:
        raise SystemExit(f"qbench run failed ({proc.returncode})")
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 3), "to_first_sample_s": round(first, 3), "samples_s": samples_s,
            "after_samples_s": round(wall - first - samples_s, 3)}


def main_process_profile(path: Path) -> dict:
    """Cumulative seconds of the main process's functions of interest (cProfile)."""
    st = pstats.Stats(str(path))
    groups: dict[str, float] = defaultdict(float)
    names = {"store writes (Store.put_*)": ("qbench/store.py", "put_"),
             "report (write_reports)": ("qbench/report/write.py", "write_reports"),
             "aggregates + bootstrap": ("qbench/report/aggregate.py", "compute_aggregates"),
             "figures (draw_figures)": ("qbench/report/model.py", "draw_figures"),
             "waiting for figures drawn in child processes (FigurePass.wait)": ("qbench/report/figure_pass.py", "wait"),
             "waiting for workers (cf.wait)": ("concurrent/futures/_base.py", "wait"),
             "plan": ("qbench/runner/plan.py", "plan"),
             "run set-up (Runner.__init__)": ("qbench/runner/run.py", "__init__")}
    for (file, _line, fn), (_cc, _nc, _tt, ct, _callers) in st.stats.items():      # type: ignore[attr-defined]
        for label, (f, prefix) in names.items():
            if file.endswith(f) and fn.startswith(prefix):
                if label.startswith("store"):
                    groups[label] += ct
                else:
                    groups[label] = max(groups[label], ct)
    total = max(ct for (_f, _l, _n), (_cc, _nc, _tt, ct, _c) in st.stats.items())   # type: ignore[attr-defined]
    return {"total_s": round(total, 3), **{k: round(v, 3) for k, v in sorted(groups.items())}}


class ScaleTimer:
    """Wraps the MS-SSIM kernel's per-scale function to add up seconds per scale."""

    def __init__(self):
        from qbench.metrics import prepared_ssim

        self.mod, self.orig = prepared_ssim, prepared_ssim._scale
        self.seconds: dict[str, float] = defaultdict(float)
        self.i = 0

        def wrapped(*a, **k):
            t = time.perf_counter()
            out = self.orig(*a, **k)
            self.seconds[f"scale{self.i % 5 + 1}"] += time.perf_counter() - t
            self.i += 1
            return out

        prepared_ssim._scale = wrapped

    def close(self):
        self.mod._scale = self.orig


def worker_side(kodak: Path, n_images: int, tmp: Path) -> dict:
    """Per-stage seconds of the worker's work, one thread, in this process."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from qbench import codecs, metrics
    from qbench.cachefile import write_bytes
    from qbench.images import ImageSource
    from qbench.runner.stages import CodeJob, MetricRef, run_code

    codec = codecs.build("jpeg", {})
    built = {m: metrics.build(m) for m in METRICS}
    t: dict[str, float] = defaultdict(float)
    files = sorted(kodak.glob("*.png"))[:n_images]
    scales = ScaleTimer()
    try:
        for f in files:
            c0 = time.perf_counter()
            src = ImageSource(str(f), "rgb")
            img = src.read()
            t["read original"] += time.perf_counter() - c0
            preps = {}
            for m, metric in built.items():
                c0 = time.perf_counter()
                preps[m] = metric.prepare(img)
                t[f"prepare {m} (per image)"] += time.perf_counter() - c0
            for q in QUALITIES:
                c0 = time.perf_counter()
                enc = codec.encode(img, q)
                c1 = time.perf_counter()
                dec = codec.decode(enc.data, channels=3)
                c2 = time.perf_counter()
                write_bytes(enc.data, tmp / "bits" / f"{f.stem}_{q}.bin")
                c3 = time.perf_counter()
                t["encode"] += c1 - c0
                t["decode"] += c2 - c1
                t["bitstream write"] += c3 - c2
                for m, metric in built.items():
                    c0 = time.perf_counter()
                    metric.compute_prepared(preps[m], dec)
                    t[f"compute {m}"] += time.perf_counter() - c0
        per_scale = dict(scales.seconds)
    finally:
        scales.close()
    # IPC: one real job and its result, as the pool pickles them
    refs = tuple(MetricRef(m, None, m, built[m].version) for m in METRICS)
    src = ImageSource(str(files[0]), "rgb")
    img = src.read()
    job = CodeJob("k" * 64, "h" * 64, "jpeg", "jpeg", {}, 50.0, False, src, img.shape[0] * img.shape[1],
                  str(tmp / "cache"), src, metrics=refs)
    result = run_code(job)
    ipc = {}
    for name, obj in (("CodeJob", job), ("StageResult", result)):
        blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        c0 = time.perf_counter()
        for _ in range(100):
            pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        ipc[name] = {"bytes": len(blob), "roundtrip_ms": round((time.perf_counter() - c0) * 10, 4)}
    ipc["arrays_in_result"] = [k for k, v in vars(result).items() if isinstance(v, np.ndarray)]
    n = len(files) * len(QUALITIES)
    sample_s = sum(v for k, v in t.items() if k not in ("read original",) and not k.startswith("prepare"))
    return {"images": len(files), "samples": n,
            "seconds": {k: round(v, 3) for k, v in sorted(t.items())},
            "ms_per_sample": {k: round(1e3 * v / n, 3) for k, v in sorted(t.items())
                              if not k.startswith("prepare") and k != "read original"},
            "ms_per_image": {k: round(1e3 * v / len(files), 3) for k, v in sorted(t.items())
                             if k.startswith("prepare") or k == "read original"},
            "ms_ssim_ms_per_sample_by_scale": {k: round(1e3 * v / n, 3) for k, v in sorted(per_scale.items())},
            "per_sample_total_ms": round(1e3 * sample_s / n, 3), "ipc": ipc}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kodak", type=Path, required=True)
    ap.add_argument("--images", type=int, default=24, help="images for the worker-side profile")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        suite = suite_file(args.kodak, tmp)
        run = timed_run(suite, tmp / "run", args.workers)
        prof = tmp / "main.prof"
        profiled = timed_run(suite, tmp / "run_prof", args.workers, prof)
        main_proc = main_process_profile(prof)
        worker = worker_side(args.kodak, args.images, tmp)
    result = {"workload": "Kodak, JPEG q5..95 step 5, psnr_rgb + ms_ssim_rgb", "workers": args.workers,
              "command": "python benchmarks/profile_kodak_run.py " + " ".join(sys.argv[1:]),
              "python": sys.version.split()[0], "platform": platform.platform(),
              "note": "wall seconds on a machine shared with other jobs: noisy; rerun on a quiet machine",
              "run": run, "run_under_cprofile": profiled, "main_process_cprofile_s": main_proc,
              "worker_side_one_thread": worker}
    print(json.dumps(result, indent=1))
    save_json(result, args.json)


if __name__ == "__main__":
    main()
