"""qbench vs CompressAI's codec benchmark: JPEG on Kodak, quality 5..95 step 5.

Runs both on the same images with the same number of worker processes, checks that mean bpp,
RGB PSNR and RGB MS-SSIM agree, and reports wall times (qbench cold = empty store and cache,
qbench cached = a rerun). CompressAI is only needed here (``pip install compressai --no-deps
torch_geometric pytorch-msssim``); it is not a qbench dependency.

    python benchmarks/bench_codecs_vs_compressai.py --kodak /path/to/kodak [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

QUALITIES = list(range(5, 100, 5))


def run_compressai(kodak: Path, workers: int) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "compressai.utils.bench", "jpeg", str(kodak), "-j", str(workers),
           "-q", ",".join(map(str, QUALITIES)), "--metrics", "psnr-rgb", "ms-ssim-rgb"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - t0
    return seconds, json.loads(proc.stdout)["results"]


def run_qbench(kodak: Path, workers: int, out: Path, fresh: bool) -> float:
    suite = {"name": "bench_jpeg_kodak",
             "datasets": [{"name": "folder", "params": {"path": str(kodak)}, "mode": "rgb"}],
             "codecs": [{"name": "jpeg", "qualities": QUALITIES}],
             "solvers": ["identity"], "metrics": ["psnr_rgb", "ms_ssim_rgb"],
             "output": {"bootstrap": 0}}
    path = out.parent / "bench_suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    cmd = [sys.executable, "-m", "qbench.cli", "run", str(path), "--out", str(out), "--workers", str(workers),
           "--quiet"] + (["--fresh"] if fresh else [])
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kodak", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    import pandas as pd

    ca_s, ca = run_compressai(args.kodak, args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cold = run_qbench(args.kodak, args.workers, out, fresh=True)
        cached = run_qbench(args.kodak, args.workers, out, fresh=False)
        summary = pd.read_csv(out / "summary.csv").sort_values("quality")
    worst = {"bpp": 0.0, "psnr": 0.0, "ms_ssim": 0.0}
    print(f"{'q':>3s} {'bpp qbench':>12s} {'bpp compressai':>15s} {'psnr qbench':>12s} {'psnr cai':>10s} "
          f"{'ms-ssim qbench':>15s} {'ms-ssim cai':>12s}")
    for i, q in enumerate(QUALITIES):
        row = summary[summary.quality == q].iloc[0]
        b, p, m = ca["bpp"][i], ca["psnr-rgb"][i], ca["ms-ssim-rgb"][i]
        worst["bpp"] = max(worst["bpp"], abs(row.bpp - b))
        worst["psnr"] = max(worst["psnr"], abs(row.psnr_rgb - p))
        worst["ms_ssim"] = max(worst["ms_ssim"], abs(row.ms_ssim_rgb - m))
        print(f"{q:3d} {row.bpp:12.6f} {b:15.6f} {row.psnr_rgb:12.6f} {p:10.6f} {row.ms_ssim_rgb:15.8f} {m:12.8f}")
    print(f"max |difference|: bpp {worst['bpp']:.2e}, PSNR {worst['psnr']:.2e} dB, MS-SSIM {worst['ms_ssim']:.2e}")
    print(f"wall time, {args.workers} workers: CompressAI {ca_s:.1f} s; qbench cold {cold:.1f} s "
          f"(ratio {cold / ca_s:.2f}), cached {cached:.1f} s (ratio {cached / ca_s:.3f})")
    if args.json:
        args.json.write_text(json.dumps({
            "workers": args.workers, "qualities": QUALITIES, "max_abs_diff": worst,
            "seconds": {"compressai": ca_s, "qbench_cold": cold, "qbench_cached": cached},
            "qbench": {"bpp": summary.bpp.tolist(), "psnr_rgb": summary.psnr_rgb.tolist(),
                       "ms_ssim_rgb": summary.ms_ssim_rgb.tolist()},
            "compressai": {k: ca[k] for k in ("bpp", "psnr-rgb", "ms-ssim-rgb")}}, indent=1))


if __name__ == "__main__":
    main()
