"""qbench vs CompressAI's codec benchmark, and qbench vs a plain scikit-image loop.

**Kodak workload**: JPEG on Kodak, quality 5..95 step 5 (456 samples), RGB PSNR and MS-SSIM.
Runs CompressAI's ``python -m compressai.utils.bench jpeg`` at its best setting (``-j WORKERS`` with
``OMP_NUM_THREADS=1`` in its environment: without it its processes oversubscribe the cores and it
takes several times longer; ``--compressai-default`` also times that) and ``qbench run`` on the same
images with the same number of worker processes, checks that mean bpp, RGB PSNR and RGB MS-SSIM
agree (max deviation below 1e-5) and reports wall times and ratios (qbench cold = empty store and
cache, qbench cached = a rerun). CompressAI is only needed here (``pip install compressai --no-deps
torch_geometric pytorch-msssim``); it is not a qbench dependency.

**Y workload** (``--classic5 DIR --live1 DIR``): JPEG quality 10, 20, 30, 40 on Classic5 and LIVE1,
psnr_y and ssim_y, ``qbench run`` vs a plain loop over the same images with the same number of
processes (Pillow encode/decode, MATLAB BT.601 Y, ``skimage.metrics.peak_signal_noise_ratio`` and
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``): wall
times, ratio and the max deviation of every per-image value.

    python benchmarks/bench_codecs_vs_compressai.py --kodak DIR [--classic5 DIR --live1 DIR] [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from provenance import save_json  # benchmarks/provenance.py, beside this script

QUALITIES = list(range(5, 100, 5))
Y_QUALITIES = [10, 20, 30, 40]
TOLERANCE = 1e-5


def run_compressai(kodak: Path, workers: int, omp_threads: int | None = 1) -> tuple[float, dict]:
    """Wall seconds and results of CompressAI's JPEG benchmark; ``omp_threads`` goes to its
    environment as OMP_NUM_THREADS (None: the environment as it is)."""
    cmd = [sys.executable, "-m", "compressai.utils.bench", "jpeg", str(kodak), "-j", str(workers),
           "-q", ",".join(map(str, QUALITIES)), "--metrics", "psnr-rgb", "ms-ssim-rgb"]
    env = dict(os.environ)
    if omp_threads is None:
        env.pop("OMP_NUM_THREADS", None)
    else:
        env["OMP_NUM_THREADS"] = str(omp_threads)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    seconds = time.perf_counter() - t0
    return seconds, json.loads(proc.stdout)["results"]


def run_qbench(suite: dict, workers: int, out: Path, fresh: bool) -> tuple[float, float | None]:
    """Wall seconds of ``qbench run`` (CLI, reports included) of ``suite`` into ``out``, and the
    seconds of its sample phase (the runner's ``computed in`` line; None when nothing was computed)."""
    path = out.parent / f"{suite['name']}.yaml"
    path.write_text(yaml.safe_dump(suite))
    cmd = [sys.executable, "-m", "qbench.cli", "run", str(path), "--out", str(out), "--workers", str(workers),
           "--quiet"] + (["--fresh"] if fresh else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    samples = [float(line.rsplit("computed in", 1)[1].split()[0]) for line in proc.stderr.splitlines()
               if "computed in" in line]
    return wall, (samples[0] if samples else None)


def kodak_suite(kodak: Path) -> dict:
    return {"name": "bench_jpeg_kodak",
            "datasets": [{"name": "folder", "params": {"path": str(kodak)}, "mode": "rgb"}],
            "codecs": [{"name": "jpeg", "qualities": QUALITIES}],
            "solvers": ["identity"], "metrics": ["psnr_rgb", "ms_ssim_rgb"],
            "output": {"bootstrap": 0}}


def kodak_workload(kodak: Path, workers: int, compressai_default: bool) -> dict:
    """CompressAI (best setting) vs qbench on Kodak: seconds, ratios, per-quality values, deviations."""
    import pandas as pd

    ca_s, ca = run_compressai(kodak, workers, omp_threads=1)
    default_s = run_compressai(kodak, workers, omp_threads=None)[0] if compressai_default else None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cold, cold_samples = run_qbench(kodak_suite(kodak), workers, out, fresh=True)
        cached, _ = run_qbench(kodak_suite(kodak), workers, out, fresh=False)
        summary = pd.read_csv(out / "summary.csv").sort_values("quality")
    worst = {"bpp": 0.0, "psnr_rgb": 0.0, "ms_ssim_rgb": 0.0}
    print(f"{'q':>3s} {'bpp qbench':>12s} {'bpp compressai':>15s} {'psnr qbench':>12s} {'psnr cai':>10s} "
          f"{'ms-ssim qbench':>15s} {'ms-ssim cai':>12s}")
    for i, q in enumerate(QUALITIES):
        row = summary[summary.quality == q].iloc[0]
        b, p, m = ca["bpp"][i], ca["psnr-rgb"][i], ca["ms-ssim-rgb"][i]
        worst["bpp"] = max(worst["bpp"], abs(row.bpp - b))
        worst["psnr_rgb"] = max(worst["psnr_rgb"], abs(row.psnr_rgb - p))
        worst["ms_ssim_rgb"] = max(worst["ms_ssim_rgb"], abs(row.ms_ssim_rgb - m))
        print(f"{q:3d} {row.bpp:12.6f} {b:15.6f} {row.psnr_rgb:12.6f} {p:10.6f} {row.ms_ssim_rgb:15.8f} {m:12.8f}")
    same = all(v < TOLERANCE for v in worst.values())
    print(f"max |difference|: bpp {worst['bpp']:.2e}, PSNR {worst['psnr_rgb']:.2e} dB, MS-SSIM "
          f"{worst['ms_ssim_rgb']:.2e} ({'identical' if same else 'DIFFERENT'} at {TOLERANCE:g})")
    extra = f"; CompressAI default environment {default_s:.1f} s" if default_s is not None else ""
    print(f"wall time, {workers} workers: CompressAI (OMP_NUM_THREADS=1) {ca_s:.1f} s; qbench cold {cold:.1f} s "
          f"(ratio {cold / ca_s:.2f}), cached {cached:.1f} s (ratio {cached / ca_s:.3f}){extra}")
    return {"workers": workers, "qualities": QUALITIES, "max_abs_diff": worst, "identical_within": TOLERANCE,
            "identical": same,
            "seconds": {"compressai_omp1": ca_s, "compressai_default_env": default_s, "qbench_cold": cold,
                        "qbench_cold_sample_phase": cold_samples, "qbench_cached": cached},
            "ratio": {"qbench_cold_vs_compressai_omp1": cold / ca_s, "qbench_cached_vs_compressai_omp1": cached / ca_s},
            "qbench": {"bpp": summary.bpp.tolist(), "psnr_rgb": summary.psnr_rgb.tolist(),
                       "ms_ssim_rgb": summary.ms_ssim_rgb.tolist()},
            "compressai": {k: ca[k] for k in ("bpp", "psnr-rgb", "ms-ssim-rgb")}}


# -- Y workload: qbench vs a plain scikit-image loop ---------------------------------------------------
def _y(img: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr luma (float64, 16..235) of RGB; a gray image as it is."""
    f = img.astype(np.float64)
    if f.ndim == 2:
        return f
    return 16.0 + (65.481 * f[..., 0] + 128.553 * f[..., 1] + 24.966 * f[..., 2]) / 255.0


def skimage_image(path: str) -> list[tuple[int, float, float]]:
    """(quality, PSNR-Y, SSIM-Y) of one image at every Y_QUALITIES point: Pillow JPEG, skimage metrics."""
    import io

    from PIL import Image
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    with Image.open(path) as im:
        im = im.convert("L" if im.mode in ("L", "P", "1", "I;16") else "RGB")
        x = np.asarray(im)
    xy = _y(x)
    rows = []
    for q in Y_QUALITIES:
        buf = io.BytesIO()
        Image.fromarray(x).save(buf, format="JPEG", quality=q)
        y = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
        yy = _y(y)
        rows.append((q, peak_signal_noise_ratio(xy, yy, data_range=255),
                     structural_similarity(xy, yy, data_range=255, gaussian_weights=True, sigma=1.5,
                                           use_sample_covariance=False)))
    return rows


def skimage_loop(folders: dict[str, Path], workers: int) -> tuple[float, dict]:
    """Wall seconds and {(dataset, image, quality): (psnr_y, ssim_y)} of the plain loop."""
    files = [(name, p) for name, folder in folders.items() for p in sorted(folder.iterdir())
             if p.suffix.lower() in (".png", ".bmp", ".jpg", ".tif", ".tiff")]
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(workers, initializer=os.environ.setdefault, initargs=("OMP_NUM_THREADS", "1")) as pool:
        results = list(pool.map(skimage_image, [str(p) for _, p in files]))
    seconds = time.perf_counter() - t0
    values = {(name, p.stem, float(q)): (ps, ss) for (name, p), rows in zip(files, results) for q, ps, ss in rows}
    return seconds, values


def y_workload(classic5: Path, live1: Path, workers: int) -> dict:
    """qbench vs the scikit-image loop on Classic5 + LIVE1: seconds, ratio, max deviations."""
    import pandas as pd

    folders = {classic5.name: classic5, live1.name: live1}
    suite = {"name": "bench_jpeg_y", "datasets": [{"name": "folder", "params": {"path": str(f)}} for f in folders.values()],
             "codecs": [{"name": "jpeg", "qualities": Y_QUALITIES}], "solvers": ["identity"],
             "metrics": ["psnr_y", "ssim_y"], "output": {"bootstrap": 0}}
    sk_s, sk = skimage_loop(folders, workers)
    with tempfile.TemporaryDirectory() as tmp:
        qb_s, qb_samples = run_qbench(suite, workers, Path(tmp) / "run", fresh=True)
        per = pd.read_csv(Path(tmp) / "run" / "per_image.csv")
    worst = {"psnr_y": 0.0, "ssim_y": 0.0}
    for row in per.itertuples():
        ps, ss = sk[(row.dataset, str(row.image), float(row.quality))]
        worst["psnr_y"] = max(worst["psnr_y"], abs(row.psnr_y - ps))
        worst["ssim_y"] = max(worst["ssim_y"], abs(row.ssim_y - ss))
    same = len(per) == len(sk) and all(v < TOLERANCE for v in worst.values())
    print(f"Y workload ({len(sk)} samples, {workers} processes each): scikit-image loop {sk_s:.1f} s, "
          f"qbench cold {qb_s:.1f} s (ratio {qb_s / sk_s:.2f}; its sample phase {qb_samples} s); max |difference| PSNR-Y {worst['psnr_y']:.2e} dB, "
          f"SSIM-Y {worst['ssim_y']:.2e} ({'identical' if same else 'DIFFERENT'} at {TOLERANCE:g})")
    return {"datasets": list(folders), "qualities": Y_QUALITIES, "samples": len(sk), "workers": workers,
            "seconds": {"skimage_loop": sk_s, "qbench_cold": qb_s, "qbench_cold_sample_phase": qb_samples},
            "ratio_qbench_vs_skimage": qb_s / sk_s,
            "max_abs_diff": worst, "identical_within": TOLERANCE, "identical": same}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kodak", type=Path, required=True)
    ap.add_argument("--classic5", type=Path, help="also the Y workload: Classic5 folder")
    ap.add_argument("--live1", type=Path, help="also the Y workload: LIVE1 folder (live1_color or live1_gray)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--compressai-default", action="store_true",
                    help="also time CompressAI with the environment as it is (no OMP_NUM_THREADS=1)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    result = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
              "note": "wall seconds, one run each, on a machine shared with other jobs: noisy",
              "kodak": kodak_workload(args.kodak, args.workers, args.compressai_default)}
    if args.classic5 and args.live1:
        result["y"] = y_workload(args.classic5, args.live1, args.workers)
    save_json(result, args.json)


if __name__ == "__main__":
    main()
