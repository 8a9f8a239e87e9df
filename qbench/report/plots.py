"""RD curves: one figure per dataset and metric (mean bpp vs mean metric), PNG and SVG.

Published curves (suite ``references``) of the figure's dataset and metric are drawn dashed with
open square markers, labelled ``<label> (published: <file>, <dataset>)``.

Each figure has a signature (a hash of what it draws); a figure whose signature is unchanged and
whose files exist is not drawn again, so matplotlib is not even imported on a cached rerun.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .data import ReportData
from .formatting import file_slug, unique_stems

EXTENSIONS = ("png", "svg")
_STYLE = 1                      # bump when the drawing code changes, so cached figures are redrawn
_REF_STYLE = 4                  # the same for figures with published curves (only they hash it)



@dataclass(frozen=True)
class PlotSpec:
    """One figure: its file stem, labels and curves (label, bpp values, metric values)."""

    dataset: str
    metric: str
    stem: str
    title: str
    ylabel: str
    curves: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...]
    references: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...] = ()

    def files(self, out_dir: Path) -> list[Path]:
        """The figure's files in ``out_dir`` (one per format)."""
        return [Path(out_dir) / f"{self.stem}.{ext}" for ext in EXTENSIONS]

    def signature(self) -> str:
        """A hash of what the figure shows (it is redrawn when this changes)."""
        drawn = [_STYLE, self.title, self.ylabel, self.curves]
        if self.references:                  # only figures with published curves hash their style
            drawn += [_REF_STYLE, self.references]
        blob = json.dumps(drawn, allow_nan=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def plot_specs(data: ReportData, summary) -> list[PlotSpec]:
    """The figures of a summary: none when no curve has two points."""
    if summary.empty or summary.groupby(["dataset", "solver", "codec"]).size().max() < 2:
        return []
    specs = []
    for dataset, dsub in summary.groupby("dataset", sort=False):
        for metric in data.all_metric_names:
            if dsub[metric].isna().all():
                continue
            curves = []
            for (solver, codec), curve in dsub.groupby(["solver", "codec"], sort=False):
                curve = curve.sort_values("bpp", kind="stable")
                curves.append((f"{codec} + {solver}", tuple(float(v) for v in curve["bpp"]),
                               tuple(float(v) for v in curve[metric])))
            arrow = "↑" if data.higher_is_better.get(metric, True) else "↓"
            refs = [(ref.caption, tuple(c[0]), tuple(c[1])) for ref in data.references.values()
                    if ref.dataset == str(dataset) and (c := ref.curve(metric)) is not None]
            specs.append(PlotSpec(str(dataset), metric, f"rd_{file_slug(str(dataset))}_{file_slug(metric)}",
                                  f"{data.suite['name']}: {dataset}", f"{metric} {arrow}", tuple(curves),
                                  tuple(refs)))
    stems = unique_stems({(s.dataset, s.metric): s.stem for s in specs})
    return [replace(s, stem=stems[(s.dataset, s.metric)]) for s in specs]


def _frame_measured(ax, spec: PlotSpec) -> None:
    """Limit the axes to the measured curves' rates (plus a margin): published curves often reach
    far higher rates, which would squeeze the measured ones into a corner."""
    measured = [x for _, xs, _ in spec.curves for x in xs if np.isfinite(x)]
    if not measured:
        return
    x_max = 1.1 * max(measured)
    ys = [y for _, xs, ys in spec.curves + spec.references for x, y in zip(xs, ys) if x <= x_max and np.isfinite(y)]
    ax.set_xlim(0, x_max)
    if ys:
        pad = 0.04 * (max(ys) - min(ys) or 1.0)
        ax.set_ylim(min(ys) - pad, max(ys) + pad)


def draw(spec: PlotSpec, out_dir: Path) -> list[Path]:
    """Draw one figure to its PNG and SVG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    try:
        for label, xs, ys in spec.curves:
            ax.plot(np.asarray(xs), np.asarray(ys), marker="o", ms=3, label=label)
        for label, xs, ys in spec.references:
            ax.plot(np.asarray(xs), np.asarray(ys), linestyle="--", marker="s", ms=4, fillstyle="none",
                    lw=1.2, label=label)
        if spec.references:
            _frame_measured(ax, spec)
        ax.set(xlabel="bits per pixel", ylabel=spec.ylabel, title=spec.title)
        ax.grid(alpha=0.3)
        if spec.references:      # many long labels: below the axes, not over the curves
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
        else:
            ax.legend(fontsize=7)
        fig.tight_layout()
        paths = spec.files(out_dir)
        for path in paths:
            fig.savefig(path, dpi=120, **({"bbox_inches": "tight"} if spec.references else {}))
    finally:
        plt.close(fig)
    return paths
