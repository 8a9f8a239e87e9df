"""What the per-image triplet diagnostics cost on top of a run's metrics.

Runs one suite twice into fresh folders in this process, one after the other: the same datasets,
codec ladder, solvers and metrics, once plain and once with ``diagnostics.per_image`` (residual
analysis and both region stratifiers). Reports both wall times (runner + reports) and their ratio,
and the added time per (image, codec point, solver) sample. Default data: Kodak from
``--kodak DIR`` (the first ``--images`` files), else the embedded scikit-image samples.

    python benchmarks/bench_diagnostics_overhead.py [--kodak ../shared/datasets/kodak] [--images 8]
        [--workers 2] [--repeat 3] [--json benchmarks/results/diagnostics_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

DIAGNOSTICS = ["residual", "region_defocus", "region_texture"]


def suite_data(kodak: Path | None, images: int, diagnostics: bool) -> dict:
    dataset = ({"name": "folder", "params": {"path": str(kodak)}, "limit": images}
               if kodak else {"name": "skimage-samples", "limit": images})
    data = {"name": "diag_overhead", "datasets": [dataset],
            "codecs": [{"name": "jpeg", "qualities": [10, 20, 30, 40]}],
            "solvers": ["identity", "gaussian", "dct_deblock"],
            "metrics": ["psnr_y", "ssim_y"], "output": {"bootstrap": 200, "bd_bootstrap": 50}}
    if diagnostics:
        data["diagnostics"] = {"per_image": DIAGNOSTICS}
    return data


def timed(data: dict, workers: int) -> float:
    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    suite = parse_suite(data)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = Runner(suite, Path(tmp) / "run", workers=workers, progress=False).run()
        write_reports(Path(tmp) / "run")
        seconds = time.perf_counter() - t0
    assert not res.failures, res.failures[:3]
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kodak", type=Path)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="pairs of runs, alternating; medians are reported")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import torch  # noqa: F401  (imports excluded from both figures)

    import qbench.report  # noqa: F401
    import qbench.runner  # noqa: F401

    import statistics

    plains, diags = [], []
    for _ in range(args.repeat):
        plains.append(timed(suite_data(args.kodak, args.images, False), args.workers))
        diags.append(timed(suite_data(args.kodak, args.images, True), args.workers))
    plain, diag = statistics.median(plains), statistics.median(diags)
    samples = args.images * 4 * 2                  # images x points x non-pass-through solvers
    print(f"{'kodak' if args.kodak else 'skimage-samples'}, {args.images} images, JPEG x4, 3 solvers, "
          f"workers {args.workers}")
    print(f"median of {args.repeat}: plain run {plain:.1f} s, with {'+'.join(DIAGNOSTICS)} {diag:.1f} s: ratio {diag / plain:.2f}, "
          f"+{(diag - plain) / samples * 1000:.0f} ms per enhanced sample")
    if args.json:
        args.json.write_text(json.dumps({"dataset": "kodak" if args.kodak else "skimage-samples",
                                         "images": args.images, "workers": args.workers,
                                         "plain_s": plains, "diagnostics_s": diags, "ratio": diag / plain,
                                         "diagnostics": DIAGNOSTICS}, indent=1))


if __name__ == "__main__":
    main()
