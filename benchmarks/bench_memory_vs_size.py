"""Peak memory of a run against dataset size: it should not grow with the number of images.

Writes N seeded photo-like 2040x1356 RGB PNGs (DIV2K's size) into a temporary folder, then runs
``qbench run`` in a child process on the first N of them, for each N of ``--sizes``: JPEG at
quality 40, one enhancer (``gaussian``), the metrics psnr_y, ssim_y, fid and kid, ``--workers 2``.
While the run goes, the process tree (the ``qbench run`` process and its worker processes) is
sampled through ``/proc`` every 50 ms: the table shows the peak of the tree's summed RSS (shared
pages counted in every process) and summed PSS (shared pages divided among them), the peak RSS of
the main process (``VmHWM``) and the largest worker peak. The slopes are least-squares growths in
MiB per image.

FID/KID need clean-fid's Inception-v3 weights, which this machine cannot download: the child uses
the same stand-in the tests use (torchvision's Inception-v3 architecture with random weights, in
clean-fid's TorchScript layout, pinned to its own sha256), so the memory and work are those of the
real network while the FID/KID values are not meaningful.

    python benchmarks/bench_memory_vs_size.py [--sizes 25 50 100] [--workers 2] [--json FILE]
        [--image-dir DIR] [--source CHECKOUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import describe  # benchmarks/provenance.py, beside this script

HEIGHT, WIDTH = 1356, 2040

# The child: pins the stand-in Inception (see the module docstring), then is ``qbench run``.
CHILD = r"""
import dataclasses, sys
from pathlib import Path
from qbench.metrics import weights as mw
from qbench.weights import sha256_file
mw.INCEPTION = dataclasses.replace(mw.INCEPTION, sha256=sha256_file(Path(sys.argv[1])))
from qbench.cli import main
sys.argv = ["qbench", "run"] + sys.argv[2:]
main()
"""

SUITE = """\
name: memory_vs_size
datasets:
  - name: folder
    params: {{path: {folder}}}
    limit: {n}
codecs:
  - name: jpeg
    qualities: [40]
solvers: [gaussian]
metrics: [psnr_y, ssim_y, fid, kid]
"""


def write_image(path: Path, seed: int) -> None:
    """A seeded photo-like RGB image: smooth gradients, texture and noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy = np.arange(HEIGHT, dtype=np.float32)[:, None]
    xx = np.arange(WIDTH, dtype=np.float32)[None, :]
    img = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    for c in range(3):
        fx, fy, gx, gy = rng.uniform(0.002, 0.02, 4)
        p = rng.uniform(0, 6, 2)
        band = 128 + 60 * np.sin(fx * xx + p[0]) * np.cos(fy * yy + p[1]) + 20 * np.sin(gx * 7 * xx) * np.sin(gy * 5 * yy)
        band += rng.normal(0, 6, band.shape).astype(np.float32)
        img[:, :, c] = np.clip(np.round(band), 0, 255)
    Image.fromarray(img).save(path, compress_level=1)


def make_inception(folder: Path) -> Path:
    """The tests' random-weight Inception-v3 in clean-fid's TorchScript layout."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.test_metrics_distribution import make_random_inception

    return make_random_inception(folder)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from ``/proc/<pid>/task/*/children``)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM and Pss (proportional share: shared pages divided among the processes
    mapping them) of ``pid`` in KiB (empty when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            st = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if k in ("VmRSS", "VmHWM")}
        with open(f"/proc/{pid}/smaps_rollup") as f:
            st |= {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f if ":" in line) if k == "Pss"}
        return st
    except (OSError, ValueError):
        return {}


def run_one(n: int, images: Path, inception: Path, cache: Path, workers: int, work: Path,
            source: Path | None = None) -> dict:
    """Run the suite on the first ``n`` images; the peaks of the process tree while it ran."""
    suite = work / f"suite_{n}.yaml"
    suite.write_text(SUITE.format(folder=json.dumps(str(images)), n=n))
    out = work / f"out_{n}"
    env = dict(os.environ, QBENCH_CACHE=str(cache), OMP_NUM_THREADS="1")
    if source is not None:                # another checkout's qbench (e.g. the commit before a change)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-c", CHILD, str(inception), str(suite), "--out", str(out),
           "--workers", str(workers), "--quiet", "--fresh"]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree_peak, pss_peak, hwm = 0, 0, {}
    while child.poll() is None:
        total = pss = 0
        for pid in _tree(child.pid):
            st = _status(pid)
            total += st.get("VmRSS", 0)
            pss += st.get("Pss", 0)
            if st:
                hwm[pid] = max(hwm.get(pid, 0), st.get("VmHWM", 0))
        tree_peak, pss_peak = max(tree_peak, total), max(pss_peak, pss)
        time.sleep(0.05)
    stdout, stderr = child.communicate()
    seconds = time.perf_counter() - t0
    if child.returncode != 0:
        raise SystemExit(f"qbench run failed ({child.returncode}) for n={n}:\n{stderr[-3000:]}")
    import sqlite3

    con = sqlite3.connect(out / "results.sqlite")
    sets = dict(con.execute("SELECT metric, value FROM set_values").fetchall())
    main_hwm = hwm.pop(child.pid, 0)
    return {"images": n, "seconds": round(seconds, 1), "tree_peak_rss_mib": round(tree_peak / 1024, 1),
            "tree_peak_pss_mib": round(pss_peak / 1024, 1),
            "main_peak_rss_mib": round(main_hwm / 1024, 1),
            "worker_peak_rss_mib": round(max(hwm.values(), default=0) / 1024, 1),
            "set_values": sets}


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ``ys`` over ``xs``."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "memory_vs_size.json")
    ap.add_argument("--image-dir", type=Path, default=None,
                    help="where the images are written (and reused from by a later call); default: a temporary folder")
    ap.add_argument("--source", type=Path, default=None,
                    help="run the qbench of this checkout (put first on the child's PYTHONPATH)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="qbench_mem_") as tmp:
        work = Path(tmp)
        images = args.image_dir or work / "images"
        images.mkdir(parents=True, exist_ok=True)
        for i in range(max(args.sizes)):
            if not (images / f"img_{i:04d}.png").is_file():
                write_image(images / f"img_{i:04d}.png", seed=i)
        extra = sorted(set(images.glob("*.png")) - {images / f"img_{i:04d}.png" for i in range(max(args.sizes))})
        if extra:
            raise SystemExit(f"{images} holds other images than this benchmark's ({extra[0].name}, ...)")
        cache = work / "cache"
        inception = make_inception(cache / "weights" / "metrics" / "cleanfid")
        rows = []
        for n in sorted(args.sizes):
            rows.append(run_one(n, images, inception, cache, args.workers, work, args.source))
            r = rows[-1]
            print(f"{n:5d} images  tree peak RSS {r['tree_peak_rss_mib']:7.1f} MiB  PSS {r['tree_peak_pss_mib']:7.1f} MiB  main {r['main_peak_rss_mib']:8.1f} MiB"
                  f"  worker {r['worker_peak_rss_mib']:7.1f} MiB  {r['seconds']:6.1f} s", flush=True)
    xs = [r["images"] for r in rows]
    result = {
        "benchmark": "peak RSS of `qbench run` against dataset size",
        "suite": "folder of seeded 2040x1356 RGB PNGs; jpeg q40; gaussian enhancer; psnr_y, ssim_y, fid, kid",
        "workers": args.workers,
        "qbench": describe(args.source),
        "inception": "random-weight Inception-v3 (torchvision architecture, clean-fid TorchScript layout); "
                     "FID/KID values are not meaningful",
        "machine": f"{os.cpu_count()} cores",
        "rows": rows,
        "slope_tree_mib_per_image": round(slope(xs, [r["tree_peak_rss_mib"] for r in rows]), 2),
        "slope_tree_pss_mib_per_image": round(slope(xs, [r["tree_peak_pss_mib"] for r in rows]), 2),
        "slope_main_mib_per_image": round(slope(xs, [r["main_peak_rss_mib"] for r in rows]), 2),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"slope: tree RSS {result['slope_tree_mib_per_image']:+.2f} MiB/image, "
          f"tree PSS {result['slope_tree_pss_mib_per_image']:+.2f} MiB/image, "
          f"main {result['slope_main_mib_per_image']:+.2f} MiB/image -> {args.json}")


if __name__ == "__main__":
    main()
