"""RD curves: one figure per dataset and metric (mean bpp vs mean metric), PNG and SVG."""

from __future__ import annotations

import re
from pathlib import Path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def write_rd_plots(data, summary, out_dir: Path) -> list[Path]:
    """Write ``rd_<dataset>_<metric>.png/.svg``; returns the files written."""
    if summary.empty or summary.groupby(["dataset", "solver", "codec"]).size().max() < 2:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for dataset, dsub in summary.groupby("dataset", sort=False):
        for metric in data.all_metric_names:
            if dsub[metric].isna().all():
                continue
            fig, ax = plt.subplots(figsize=(6, 4.2))
            for (solver, codec), curve in dsub.groupby(["solver", "codec"], sort=False):
                curve = curve.sort_values("bpp")
                ax.plot(curve["bpp"], curve[metric], marker="o", ms=3, label=f"{codec} + {solver}")
            arrow = "↑" if data.higher_is_better.get(metric, True) else "↓"
            ax.set(xlabel="bits per pixel", ylabel=f"{metric} {arrow}", title=f"{data.suite['name']}: {dataset}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            fig.tight_layout()
            for ext in ("png", "svg"):
                path = out_dir / f"rd_{_slug(str(dataset))}_{_slug(metric)}.{ext}"
                fig.savefig(path, dpi=120)
                written.append(path)
            plt.close(fig)
    return written
