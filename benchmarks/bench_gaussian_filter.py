"""Separable 11-tap 'valid' Gaussian filtering of stacked planes, one thread: which way is fastest.

The SSIM kernels filter a stack of planes ``(H, P, W)`` (rows of planes: 3 maps x 3 channels of a
Kodak image at the first MS-SSIM scale is ``(512, 9, 768)``) along H and W and keep the valid
part. Candidates, each in float32 and float64:

* ``scipy``: ``scipy.ndimage.correlate1d`` along each axis, then the valid slice;
* ``band_numpy`` / ``band_torch``: the banded matrix products of :mod:`qbench.metrics.gaussian`
  (numpy's BLAS / torch's);
* ``torch_conv1d``: ``torch.nn.functional.conv1d`` with the planes as channels (``groups``), both axes;
* ``shifted_sum``: eleven multiply-adds of shifted views per axis (numpy).

Every candidate is checked against the float64 scipy result. Seconds are the median of
``--repeat`` calls after one warm-up.

    python benchmarks/bench_gaussian_filter.py [--shape 512 9 768] [--repeat 5] [--json benchmarks/results/gaussian_filter.json]

``--blocks`` instead times :func:`qbench.metrics.band.filter_maps` on the strips the SSIM kernels
filter (float32: 3 maps of 32 rows of 3 planes, 768 wide; float64: 2 maps, as the prepared
reference) for each band block size ``BLOCK_H x BLOCK_W`` with GEMMs along both axes, and for
each ``BLOCK_H`` with OpenCV's row filter along W, with each result's largest difference from the
8 x 8 GEMMs::

    python benchmarks/bench_gaussian_filter.py --blocks [--json benchmarks/results/gaussian_filter_blocks.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from provenance import save_json  # benchmarks/provenance.py, beside this script

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

N, SIGMA = 11, 1.5


def taps() -> np.ndarray:
    c = np.arange(N) - (N - 1) / 2.0
    g = np.exp(-(c**2) / (2 * SIGMA**2))
    return g / g.sum()


def scipy_filter(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    from scipy.ndimage import correlate1d

    r = (N - 1) // 2
    t = correlate1d(a, g.astype(a.dtype), axis=0, mode="constant")[r:a.shape[0] - r]
    return correlate1d(t, g.astype(a.dtype), axis=2, mode="constant")[:, :, r:a.shape[2] - r]


def band(n_out: int, g: np.ndarray, dtype) -> np.ndarray:
    k = np.zeros((n_out + N - 1, n_out), dtype=dtype)
    for j in range(n_out):
        k[j:j + N, j] = g
    return k


def band_numpy(a: np.ndarray, g: np.ndarray, bh: int = 8, bw: int = 24) -> np.ndarray:
    h, p, w = a.shape
    ho, wo = h - N + 1, w - N + 1
    src = a.reshape(h, p * w)
    mid = np.empty((ho, p * w), a.dtype)
    kt = band(bh, g, a.dtype).T.copy()
    for i in range(0, ho, bh):
        b = min(bh, ho - i)
        np.matmul(kt[:b, :b + N - 1], src[i:i + b + N - 1], out=mid[i:i + b])
    rows = mid.reshape(ho * p, w)
    out = np.empty((ho * p, wo), a.dtype)
    k = band(bw, g, a.dtype)
    for j in range(0, wo, bw):
        b = min(bw, wo - j)
        np.matmul(rows[:, j:j + b + N - 1], k[:b + N - 1, :b], out=out[:, j:j + b])
    return out.reshape(ho, p, wo)


def band_torch(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    import torch

    from qbench.metrics.gaussian import filter_valid

    if a.dtype == np.float64:
        return filter_valid(torch.from_numpy(a), tuple(g)).numpy()
    h, p, w = a.shape
    ho, wo = h - N + 1, w - N + 1
    t = torch.from_numpy(a).view(h, p * w)
    kt = torch.from_numpy(band(8, g, a.dtype).T.copy())
    mid = torch.empty(ho, p * w)
    for i in range(0, ho, 8):
        b = min(8, ho - i)
        torch.mm(kt[:b, :b + N - 1], t[i:i + b + N - 1], out=mid[i:i + b])
    rows = mid.view(ho * p, w)
    k = torch.from_numpy(band(24, g, a.dtype))
    out = torch.empty(ho * p, wo)
    for j in range(0, wo, 24):
        b = min(24, wo - j)
        torch.mm(rows[:, j:j + b + N - 1], k[:b + N - 1, :b], out=out[:, j:j + b])
    return out.view(ho, p, wo).numpy()


def torch_conv1d(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    h, p, w = a.shape
    t = torch.from_numpy(a)
    k = torch.from_numpy(g.astype(a.dtype))
    # along W: planes x rows as channels of length W
    x = t.reshape(1, h * p, w)
    x = F.conv1d(x, k.view(1, 1, -1).expand(h * p, 1, -1).contiguous(), groups=h * p).view(h, p, w - N + 1)
    # along H: (P * Wo) columns as channels of length H
    y = x.permute(1, 2, 0).reshape(1, -1, h)
    c = y.shape[1]
    y = F.conv1d(y, k.view(1, 1, -1).expand(c, 1, -1).contiguous(), groups=c)
    return y.view(p, w - N + 1, h - N + 1).permute(2, 0, 1).contiguous().numpy()


def shifted_sum(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    h, p, w = a.shape
    ho, wo = h - N + 1, w - N + 1
    g = g.astype(a.dtype)
    t = a[0:ho] * g[0]
    for i in range(1, N):
        t += g[i] * a[i:i + ho]
    out = t[:, :, 0:wo] * g[0]
    for i in range(1, N):
        out += g[i] * t[:, :, i:i + wo]
    return out


CANDIDATES = {"scipy": scipy_filter, "band_numpy": band_numpy, "band_torch": band_torch,
              "torch_conv1d": torch_conv1d, "shifted_sum": shifted_sum}


def blocks(repeat: int) -> list[dict]:
    """Strip filtering time of :func:`qbench.metrics.band.filter_maps` per band block size."""
    import cv2

    import qbench.metrics.band as band_mod
    from qbench.metrics.prepared_ssim import TAPS_MS_SSIM

    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    rows = []
    saved = band_mod.BLOCK_H, band_mod.BLOCK_W
    r = N // 2
    try:
        for dtype, maps in ((np.float32, 3), (np.float64, 2)):     # d, d^2, 2xd / x, x^2 of 3 planes
            stack = rng.uniform(-40, 40, size=(maps, 32 + N - 1, 3, 768)).astype(dtype)
            mid = np.empty(stack.size, dtype)
            wide = np.empty(stack.size, dtype)
            band_mod.BLOCK_H, band_mod.BLOCK_W = 8, 8
            ref = band_mod.filter_maps(stack, TAPS_MS_SSIM, rows="gemm")[..., r:-r].astype(np.float64)
            for pass_w in ("gemm", "opencv"):
                for bh in (4, 8, 16):
                    for bw in ((8, 12, 16, 24, 32) if pass_w == "gemm" else (None,)):
                        band_mod.BLOCK_H, band_mod.BLOCK_W = bh, bw or 16
                        band_mod.filter_maps(stack, TAPS_MS_SSIM, mid=mid, wide=wide, rows=pass_w)
                        times = []
                        for _ in range(repeat):
                            t0 = time.perf_counter()
                            out = band_mod.filter_maps(stack, TAPS_MS_SSIM, mid=mid, wide=wide, rows=pass_w)
                            times.append(time.perf_counter() - t0)
                        row = {"dtype": np.dtype(dtype).name, "maps": maps, "pass_along_w": pass_w, "block_h": bh,
                               "block_w": bw, "ms": round(1e3 * statistics.median(times), 3),
                               "max_abs_diff_vs_8x8": float(np.abs(out[..., r:-r].astype(np.float64) - ref).max())}
                        rows.append(row)
                        print(f"{row['dtype']:8s} {pass_w:7s} {bh:3d} x {bw!s:>4} {row['ms']:8.3f} ms  "
                              f"max|diff| {row['max_abs_diff_vs_8x8']:.2e}")
    finally:
        band_mod.BLOCK_H, band_mod.BLOCK_W = saved
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", type=int, nargs=3, default=[512, 9, 768])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--blocks", action="store_true", help="time filter_valid's band block sizes on SSIM strips")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.blocks:
        result = {"strip_rows": 32, "width": 768, "taps": N, "repeat": max(args.repeat, 50), "threads": 1,
                  "python": sys.version.split()[0], "platform": platform.platform(), "numpy": np.__version__,
                  "note": "median wall ms of one filter_valid call on one strip, one thread; shared machine",
                  "rows": blocks(max(args.repeat, 50))}
        save_json(result, args.json)
        return
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    a64 = rng.uniform(-40, 40, size=args.shape)
    g = taps()
    oracle = scipy_filter(a64, g)
    rows = []
    for dtype in (np.float32, np.float64):
        a = a64.astype(dtype)
        for name, fn in CANDIDATES.items():
            out = fn(a, g)
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                fn(a, g)
                times.append(time.perf_counter() - t0)
            row = {"method": name, "dtype": np.dtype(dtype).name, "ms": round(1e3 * statistics.median(times), 2),
                   "max_abs_diff_vs_scipy_float64": float(np.abs(out.astype(np.float64) - oracle).max())}
            rows.append(row)
            print(f"{name:14s} {row['dtype']:8s} {row['ms']:8.2f} ms  max|diff| {row['max_abs_diff_vs_scipy_float64']:.2e}")
    result = {"shape": args.shape, "taps": N, "repeat": args.repeat, "threads": 1, "python": sys.version.split()[0],
              "platform": platform.platform(), "numpy": np.__version__, "torch": torch.__version__,
              "note": "median wall ms of one call, one thread; machine shared with other jobs (noisy)",
              "rows": rows}
    save_json(result, args.json)


if __name__ == "__main__":
    main()
