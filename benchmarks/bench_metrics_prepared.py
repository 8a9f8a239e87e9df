"""Full-reference metrics for "one pristine image against many distorted versions".

A 768x512 RGB image (scikit-image's ``coffee``, resized: the size of a Kodak image) is JPEG-coded
at 19 qualities (5, 10, ..., 95). For every full-reference preset it times, per pair:

* ``old``: the functional implementation, unprepared (``FullReferenceMetric.compute_functional``,
  what ``compute`` ran before prepared references);
* ``prepared``: ``compute_prepared`` against a reference prepared once (``prepare`` is timed
  apart, and ``amortised`` adds its cost shared over the 19 pairs).

Times are the median of ``--repeat`` passes over the 19 pairs; the last column is the largest
difference between the two paths' values (they must agree to rounding).

    python benchmarks/bench_metrics_prepared.py [--threads 1] [--repeat 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

QUALITIES = tuple(range(5, 100, 5))


def pairs() -> tuple[np.ndarray, list[np.ndarray]]:
    """The reference and its 19 JPEG versions (Pillow, 4:2:0)."""
    import skimage
    from PIL import Image

    src = Image.open(Path(skimage.__file__).parent / "data" / "coffee.png").convert("RGB")
    ref = np.asarray(src.resize((768, 512), Image.Resampling.BICUBIC))
    outs = []
    for q in QUALITIES:
        buf = io.BytesIO()
        Image.fromarray(ref).save(buf, format="JPEG", quality=q)
        outs.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    return ref, outs


def per_pair(fn, n: int, repeat: int) -> float:
    """Median over ``repeat`` passes of one pass's time divided by ``n``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from qbench.metrics import PRESETS, build

    ref, outs = pairs()
    n = len(outs)
    print(f"768x512 RGB vs {n} JPEG qualities, torch threads {torch.get_num_threads()}, "
          f"median of {args.repeat}; ms per pair")
    print(f"{'metric':12s} {'old':>8s} {'prepared':>9s} {'prepare':>8s} {'amortised':>10s} "
          f"{'speed-up':>9s} {'max |diff|':>11s}")
    rows = []
    for name in PRESETS:
        m = build(name)
        old_vals = [m.compute_functional([ref], [y])[0] for y in outs]       # also warms up
        prep = m.prepare(ref)
        new_vals = [m.compute_prepared(prep, y) for y in outs]
        diff = max(abs(a - b) for a, b in zip(old_vals, new_vals) if a != b) if old_vals != new_vals else 0.0
        old = per_pair(lambda m=m: [m.compute_functional([ref], [y]) for y in outs], n, args.repeat)
        new = per_pair(lambda m=m, p=prep: [m.compute_prepared(p, y) for y in outs], n, args.repeat)
        setup = per_pair(lambda m=m: m.prepare(ref), 1, args.repeat)
        amortised = new + setup / n
        print(f"{name:12s} {old * 1e3:8.2f} {new * 1e3:9.2f} {setup * 1e3:8.2f} {amortised * 1e3:10.2f} "
              f"{old / amortised:8.1f}x {diff:11.1e}", flush=True)
        rows.append({"metric": name, "old_ms": round(old * 1e3, 3), "prepared_ms": round(new * 1e3, 3),
                     "prepare_ms": round(setup * 1e3, 3), "amortised_ms": round(amortised * 1e3, 3),
                     "speedup": round(old / amortised, 2), "max_abs_diff": diff,
                     "prepared_mib": round(prep.nbytes / 2**20, 1)})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "image": "skimage coffee resized to 768x512", "qualities": list(QUALITIES),
            "torch_threads": torch.get_num_threads(), "repeat": args.repeat, "torch": torch.__version__,
            "numpy": np.__version__, "machine": platform.platform(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
