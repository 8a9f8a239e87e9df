"""Metric throughput: images/second of qbench's metric presets vs calling pyiqa directly.

Both sides measure the same decoded images on the same device, image by image, in the same
process; the figure of merit is the ratio (qbench / pyiqa), not absolute times.

    python benchmarks/bench_metrics_throughput.py [--images N] [--device cpu|cuda] [--repeat R]
        [--threads T] [--json PATH]

``--json`` writes the table (and the machine it ran on) for the record; ``--threads`` sets torch's
intra-op threads (on a busy machine one thread per process avoids slow thread barriers).
"""

from __future__ import annotations

import argparse
import json
import platform
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
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    import pyiqa
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from qbench.images import to_tensor
    from qbench.metrics import build

    pairs = images(args.images)
    print(f"{len(pairs)} image pairs (skimage colour samples, JPEG QF 10-50), device {args.device}")
    print(f"{'metric':14s} {'qbench img/s':>13s} {'pyiqa img/s':>12s} {'ratio':>7s}")
    rows = []
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
        print(f"{name:14s} {q:13.2f} {p:12.2f} {q / p:7.2f}", flush=True)
        rows.append({"metric": name, "pyiqa_metric": pname, "qbench_img_s": round(q, 3),
                     "pyiqa_img_s": round(p, 3), "ratio": round(q / p, 3)})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "images": len(pairs), "image_sizes": sorted({x.shape for x, _ in pairs}), "device": args.device,
            "torch_threads": torch.get_num_threads(), "repeat": args.repeat, "torch": torch.__version__,
            "pyiqa": pyiqa.__version__, "machine": platform.platform(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
