"""Peak memory of a run on one large image: the resident set of the process that runs it.

Writes one seeded SIZE x SIZE RGB PNG (smooth gradients and noise, like a photo), then runs a suite
on it in a fresh child process (``--workers 0``: everything in that process, so its peak RSS is
the whole run's; with N workers each worker holds about this much): JPEG at one quality, the
identity solver, and the metrics given (default psnr_rgb, psnr_y, ssim_y, ms_ssim_rgb). Prints
the child's peak RSS (``ru_maxrss``), its wall time and the metric values (to compare before/after).

    python benchmarks/bench_large_image_memory.py [--size 8000] [--metrics psnr_rgb ssim_y ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
from qbench.runner import Runner
from qbench.suite import parse_suite
folder, out, metrics = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
suite = parse_suite({"name": "large", "datasets": [{"name": "folder", "params": {"path": folder}}],
                     "codecs": [{"name": "jpeg", "qualities": [50]}], "solvers": ["identity"],
                     "metrics": metrics})
t0 = time.perf_counter()
res = Runner(suite, out, workers=0, progress=False).run()
assert not res.failures, res.failures
import sqlite3
vals = dict(sqlite3.connect(out + "/results.sqlite").execute("SELECT metric, value FROM \"values\"").fetchall())
print(json.dumps({"seconds": time.perf_counter() - t0, "values": vals}))
"""


def write_image(path: Path, size: int, seed: int = 0) -> None:
    """A seeded photo-like RGB image, made in row bands (never a float copy of the whole image)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = np.empty((size, size, 3), dtype=np.uint8)
    fx, fy, ph = rng.uniform(0.002, 0.02, (3, 2)), rng.uniform(0.002, 0.02, (3, 2)), rng.uniform(0, 6, (3, 2))
    xx = np.arange(size, dtype=np.float64)
    for r in range(0, size, 256):
        yy = np.arange(r, min(r + 256, size), dtype=np.float64)[:, None]
        for c in range(3):
            band = 128 + 60 * np.sin(fx[c, 0] * xx + ph[c, 0]) * np.cos(fy[c, 0] * yy + ph[c, 1])
            band += 20 * np.sin(fx[c, 1] * 7 * xx) * np.sin(fy[c, 1] * 5 * yy)
            band += rng.normal(0, 6, band.shape)
            img[r:r + len(yy), :, c] = np.clip(np.round(band), 0, 255)
    Image.fromarray(img).save(path, compress_level=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=8000)
    ap.add_argument("--metrics", nargs="+", default=["psnr_rgb", "psnr_y", "ssim_y", "ms_ssim_rgb"])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        t0 = time.perf_counter()
        write_image(folder / "large.png", args.size)
        made = time.perf_counter() - t0
        env = dict(os.environ, OMP_NUM_THREADS="1")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(Path(tmp) / "run"),
                               ",".join(args.metrics)], capture_output=True, text=True, env=env)
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode:
            sys.exit(proc.stderr)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    if peak_kib <= before:
        print("warning: an earlier child had a larger peak; the figure is a lower bound", file=sys.stderr)
    peak_mib = peak_kib / 1024
    print(f"{args.size}x{args.size} RGB, metrics {' '.join(args.metrics)}: peak RSS {peak_mib:.0f} MiB, "
          f"run {result['seconds']:.1f} s (image written in {made:.1f} s)")
    for m, v in sorted(result["values"].items()):
        print(f"  {m} = {v!r}")
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "metrics": args.metrics, "peak_rss_mib": peak_mib,
                                         "run_seconds": result["seconds"], "values": result["values"]}, indent=1))


if __name__ == "__main__":
    main()
