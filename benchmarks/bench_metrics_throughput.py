"""Metric throughput: images/second of qbench's metric presets vs calling pyiqa directly.

Both sides measure the same decoded images on the same device, image by image, in the same
process; the figure of merit is the ratio (qbench / pyiqa), not absolute times.

    python benchmarks/bench_metrics_throughput.py [--images N] [--device cpu|cuda] [--repeat R]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

# qbench preset -> the closest pyiqa call (same images; pyiqa's protocol may differ, see README)
PAIRS = {
    "psnr_y": ("psnr", {"test_y_channel": True, "color_space": "ycbcr"}),
    "ssim_y": ("ssim", {"test_y_channel": True, "color_space": "ycbcr"}),
    "ms_ssim_rgb": ("ms_ssim", {"test_y_channel": False}),
    "fsim": ("fsim", {}),
    "gmsd": ("gmsd", {}),
}


def images(n: int):
    import skimage

    from qbench.codecs import build
    from qbench.images import read_image

    folder = Path(skimage.__file__).parent / "data"
    refs = [read_image(folder / f"{name}.png", "rgb") for name in ("astronaut", "chelsea", "coffee")]
    jpeg = build("jpeg")
    pairs = []
    for i in range(n):
        x = refs[i % len(refs)]
        pairs.append((x, jpeg.decode(jpeg.encode(x, 10 + 10 * (i % 5)).data)))
    return pairs


def timed(fn, pairs, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x, y in pairs:
            fn(x, y)
        best = min(best, time.perf_counter() - t0)
    return len(pairs) / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=15)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import pyiqa
    import torch

    from qbench.images import to_tensor
    from qbench.metrics import build

    pairs = images(args.images)
    print(f"{len(pairs)} image pairs (skimage colour samples, JPEG QF 10-50), device {args.device}")
    print(f"{'metric':14s} {'qbench img/s':>13s} {'pyiqa img/s':>12s} {'ratio':>7s}")
    for name, (pname, kw) in PAIRS.items():
        metric = build(name)
        if hasattr(metric, "device"):
            metric.device = args.device
        piq = pyiqa.create_metric(pname, device=torch.device(args.device), as_loss=False, **kw)

        def ours(x, y):
            return metric.compute(x, y)

        def theirs(x, y):
            with torch.inference_mode():
                return float(piq(to_tensor(y, args.device), to_tensor(x, args.device)))

        ours(*pairs[0]), theirs(*pairs[0])  # warm-up
        q, p = timed(ours, pairs, args.repeat), timed(theirs, pairs, args.repeat)
        print(f"{name:14s} {q:13.2f} {p:12.2f} {q / p:7.2f}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
