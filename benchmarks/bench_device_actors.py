"""Device actors: throughput of 1 vs 2 device actors on a local Ray cluster, and GPU busy fraction.

A JPEG point and a DnCNN-like enhancer (spandrel's DnCNN architecture, seeded random weights:
throughput does not depend on the weights) over synthetic images, run with ``--executor ray``
and N device actors. On a machine with GPUs each actor takes ``1/N`` of a GPU when there is one,
or one GPU each when there are N (``nvidia-smi`` is sampled every 200 ms for the busy fraction);
on a CPU-only machine the actors are CPU actors (one core and one intra-op thread each).

    python benchmarks/bench_device_actors.py [--actors 1 2] [--images 24] [--size 256]
        [--depth 8] [--width 32] [--workers 1] [--json benchmarks/results/device_actors_cpu.json]

Reported per actor count: solver outputs per second from the moment the actors are ready to the
end of the run (``images_per_s``; actor start-up, which loads torch and the model, is reported
apart as ``startup_s``), the steps each actor ran, the mean solver seconds per image as the
actors measured them (``solver_s_per_image``: it grows when actors compete for cores), and the
mean GPU utilisation while running (``gpu_busy_fraction``; null without ``nvidia-smi``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from qbench.solvers import Context, Enhancer, SolverCard  # noqa: E402


class RandomDnCNN(Enhancer):
    """DnCNN architecture (spandrel), weights drawn from a fixed seed; residual output."""

    card = SolverCard(name="random_dncnn", task="enhance", channels=("rgb",))
    defaults = {"depth": 8, "width": 32}

    def setup(self, device: str) -> None:
        import torch
        from spandrel.architectures.DnCNN import DnCNN

        torch.manual_seed(0)
        self.net = DnCNN(in_nc=3, out_nc=3, nc=int(self.params["width"]), nb=int(self.params["depth"]),
                         act_mode="R").eval().to(device)
        for p in self.net.parameters():
            p.data.mul_(0.1)

    def modules(self) -> list:
        return [self.net]

    def enhance(self, batch, ctx: Context):
        return (batch - 0.01 * self.net(batch)).clamp(0, 1)


class GpuSampler:
    """Mean utilisation of every GPU (nvidia-smi, every 200 ms) between start() and stop()."""

    def __init__(self):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.available = shutil.which("nvidia-smi") is not None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5, check=True).stdout
                vals = [float(v) for v in out.split()]
                if vals:
                    self.samples.append(sum(vals) / len(vals))
            except (OSError, subprocess.SubprocessError, ValueError):
                pass
            self._stop.wait(0.2)

    def start(self) -> None:
        if self.available:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def stop(self) -> float | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return round(sum(self.samples) / len(self.samples) / 100, 3) if self.samples else None


def make_images(folder: Path, n: int, size: int) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        base = np.stack([np.sin(6 * xx + i), np.cos(5 * yy - i), np.sin(4 * (xx + yy) + 0.3 * i)], -1)
        img = np.clip(127.5 + 90 * base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i:03d}.png")


def run_once(actors: int, gpus_per_actor: float, folder: Path, out: Path, args) -> dict:
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    suite = parse_suite({
        "name": "device_actors_bench",
        "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
        "codecs": [{"name": "jpeg", "qualities": [30]}],
        "solvers": [{"name": "bench_device_actors:RandomDnCNN", "label": "dncnn",
                     "params": {"depth": args.depth, "width": args.width}}],
        "metrics": ["psnr_rgb"],
        "output": {"cost_probe": 16, "cost_repeats": 1},   # a negligible cost probe
    })
    ready: list[float] = []
    sampler = GpuSampler()

    def log(msg: str) -> None:
        if "device worker(s)" in msg and not ready:
            ready.append(time.perf_counter())
            sampler.start()

    t0 = time.perf_counter()
    res = Runner(suite, out, workers=args.workers, progress=False, executor="ray", device_actors=actors,
                 gpus_per_actor=gpus_per_actor, device="auto", log=log).run()
    t1 = time.perf_counter()
    busy = sampler.stop()
    if res.failures:
        raise SystemExit(f"benchmark run failed: {res.failures[:3]}")
    start = ready[0] if ready else t0
    import sqlite3

    db = sqlite3.connect(out / "results.sqlite")
    solver_s = db.execute("SELECT AVG(seconds) FROM artefacts WHERE role = 'enhanced'").fetchone()[0]
    db.close()
    return {"actors": actors, "gpus_per_actor": gpus_per_actor, "devices": res.devices,
            "device_steps": res.device_steps, "outputs": res.outputs_computed,
            "startup_s": round(start - t0, 2), "run_s": round(t1 - start, 2),
            "images_per_s": round(res.outputs_computed / (t1 - start), 3),
            "solver_s_per_image": round(solver_s, 4) if solver_s is not None else None, "gpu_busy_fraction": busy}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1, help="CPU workers for encode/decode/measure tasks")
    ap.add_argument("--repeat", type=int, default=1, help="runs per actor count (the best is kept)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    load = [round(v, 2) for v in os.getloadavg()]

    import ray
    import torch

    gpus = torch.cuda.device_count()
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    most = max(args.actors)
    ray.init(num_cpus=args.workers + (0 if gpus else most), include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory(prefix="qbench_actors_") as tmp:
        folder = Path(tmp) / "imgs"
        make_images(folder, args.images, args.size)
        warm = Path(tmp) / "warm"
        make_images(warm, 2, 32)
        run_once(1, 1.0 if gpus else 0.0, warm, Path(tmp) / "out_warm", args)   # starts the CPU task workers
        for n in args.actors:
            share = (1.0 if gpus >= n else round(gpus / n, 3)) if gpus else 0.0
            best = None
            for r in range(args.repeat):
                row = run_once(n, share, folder, Path(tmp) / f"out_{n}_{r}", args)
                print(json.dumps(row), flush=True)
                if best is None or row["images_per_s"] > best["images_per_s"]:
                    best = row
            rows.append(best)
    ray.shutdown()
    one = next((r for r in rows if r["actors"] == 1), None)
    for r in rows:
        r["speedup_vs_1"] = round(r["images_per_s"] / one["images_per_s"], 2) if one else None
    result = {
        "benchmark": "bench_device_actors", "machine": platform.platform(), "cpus": os.cpu_count(),
        "load_average_at_start": load,
        "gpus": [torch.cuda.get_device_name(i) for i in range(gpus)], "torch": torch.__version__,
        "ray": ray.__version__, "python": sys.version.split()[0],
        "config": {"images": args.images, "size": args.size, "depth": args.depth, "width": args.width,
                   "workers": args.workers, "codec": "jpeg q30", "metrics": ["psnr_rgb"], "repeat": args.repeat},
        "results": rows,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
