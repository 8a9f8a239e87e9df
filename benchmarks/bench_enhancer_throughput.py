"""Enhancer throughput: megapixels per second, fp32 vs AMP, whole images vs tiles, on 2K inputs.

Uses randomly initialised networks of the official architectures (throughput does not depend on
the weights). On a CPU report ratios only; absolute figures are meaningful on a GPU.

    python benchmarks/bench_enhancer_throughput.py [--device cuda] [--size 2048 1080] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time


def models():
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.DnCNN import DnCNN
    from spandrel.architectures.FBCNN import FBCNN

    return {
        "dncnn3 (gray)": (DnCNN(in_nc=1, out_nc=1, nc=64, nb=20, act_mode="R"), 1),
        "fbcnn_color": (FBCNN(in_nc=3, out_nc=3, nc=[64, 128, 256, 512], nb=4), 3),
        "realesr_general_x4v3": (Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4), 3),
    }


def main() -> None:
    import torch

    from qbench.solvers.engine import EngineOptions, run_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", type=int, nargs=2, default=[2048, 1080], metavar=("W", "H"))
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--tile", type=int, default=512)
    args = ap.parse_args()
    w, h = args.size
    amp = "fp16" if args.device.startswith("cuda") else "bf16"
    configs = {"fp32 whole": EngineOptions(), f"{amp} whole": EngineOptions(amp=amp),
               f"fp32 tile {args.tile}": EngineOptions(tile=args.tile, overlap=32),
               f"{amp} tile {args.tile}": EngineOptions(tile=args.tile, overlap=32, amp=amp)}
    print(f"device {args.device}, input {w}x{h}, torch {torch.__version__}")
    for name, (net, ch) in models().items():
        net = net.eval().to(args.device)
        multiple = 8 if "fbcnn" in name else 1
        x = torch.rand(1, ch, h, w, device=args.device)
        base = None
        for label, opts in configs.items():
            try:
                run_model(net, x[..., :256, :256], opts, multiple)   # warm-up
                best = float("inf")
                for _ in range(args.repeat):
                    if args.device.startswith("cuda"):
                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    run_model(net, x, opts, multiple)
                    if args.device.startswith("cuda"):
                        torch.cuda.synchronize()
                    best = min(best, time.perf_counter() - t0)
            except Exception as exc:  # e.g. whole-image OOM on a small GPU
                print(f"{name:22s} {label:16s} failed: {type(exc).__name__}")
                continue
            mps = w * h / 1e6 / best
            base = base or mps
            print(f"{name:22s} {label:16s} {mps:8.3f} MP/s  ({mps / base:.2f}x fp32 whole)")


if __name__ == "__main__":
    main()
