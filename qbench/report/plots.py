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
_STYLE = 2                      # bump when the drawing code changes, so cached figures are redrawn
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
    errors: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = ()   # per curve: CI low, CI high
    anchor: str = ""                      # the label of the anchor curve, drawn distinctly

    def files(self, out_dir: Path) -> list[Path]:
        """The figure's files in ``out_dir`` (one per format)."""
        return [Path(out_dir) / f"{self.stem}.{ext}" for ext in EXTENSIONS]

    def signature(self) -> str:
        """A hash of what the figure shows (it is redrawn when this changes)."""
        drawn = [_STYLE, self.title, self.ylabel, self.curves, self.errors, self.anchor]
        if self.references:                  # only figures with published curves hash their style
            drawn += [_REF_STYLE, self.references]
        blob = json.dumps(drawn, allow_nan=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def curve_label(data: ReportData, solver: str, codec: str) -> str:
    """A curve's label: ``codec + solver``, or the codec alone in a codec-only suite (every
    solver a pass-through)."""
    return codec if codec_only(data) else f"{codec} + {solver}"


def codec_only(data: ReportData) -> bool:
    """True when every solver of the run passes the compressed image through (codecs compared alone)."""
    return bool(data.solvers) and all(info.passthrough for info in data.solvers.values())


def plot_specs(data: ReportData, summary, ci: dict | None = None) -> list[PlotSpec]:
    """The figures of a summary (with error bars from ``ci``, the bootstrap 95% CIs per row and
    metric): none when no curve has two points."""
    from .bd import anchors_of

    if summary.empty or summary.groupby(["dataset", "solver", "codec"]).size().max() < 2:
        return []
    anchors = {(solver, codec) for solver, codec in anchors_of(data)}
    specs = []
    for dataset, dsub in summary.groupby("dataset", sort=False):
        for metric in data.all_metric_names:
            if dsub[metric].isna().all():
                continue
            curves, errors, anchor = [], [], ""
            for (solver, codec), curve in dsub.groupby(["solver", "codec"], sort=False):
                curve = curve.sort_values("bpp", kind="stable")
                label = curve_label(data, solver, codec)
                if (solver, codec) in anchors:
                    label, anchor = f"{label} (anchor)", f"{label} (anchor)"
                curves.append((label, tuple(float(v) for v in curve["bpp"]), tuple(float(v) for v in curve[metric])))
                bounds = [(ci or {}).get((dataset, solver, codec, q), {}).get(metric, (np.nan, np.nan))
                          for q in curve["quality"]]
                errors.append((tuple(float(b[0]) for b in bounds), tuple(float(b[1]) for b in bounds)))
            arrow = "↑" if data.higher_is_better.get(metric, True) else "↓"
            refs = [(ref.caption, tuple(c[0]), tuple(c[1])) for ref in data.references.values()
                    if ref.dataset == str(dataset) and (c := ref.curve(metric)) is not None]
            specs.append(PlotSpec(str(dataset), metric, f"rd_{file_slug(str(dataset))}_{file_slug(metric)}",
                                  f"{data.suite['name']}: {metric} on {dataset}", f"{metric} {arrow}", tuple(curves),
                                  tuple(refs), tuple(errors), anchor))
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


def legend_covers_curves(fig, ax, legend, spec: PlotSpec) -> bool:
    """True when a drawn point of ``spec`` (or a segment's midpoint) lies under ``legend``'s box."""
    fig.draw_without_rendering()          # lays out the legend; no pixels drawn
    box = legend.get_window_extent()
    for _, xs, ys in spec.curves + spec.references:
        x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        if len(x) > 1:
            x, y = np.concatenate([x, (x[1:] + x[:-1]) / 2]), np.concatenate([y, (y[1:] + y[:-1]) / 2])
        ok = np.isfinite(x) & np.isfinite(y)
        pts = ax.transData.transform(np.column_stack([x[ok], y[ok]])) if ok.any() else np.empty((0, 2))
        if any(box.contains(px, py) for px, py in pts):
            return True
    return False


def draw(spec: PlotSpec, out_dir: Path) -> list[Path]:
    """Draw one figure to its PNG and SVG files."""
    from .canvas import new_figure

    fig = new_figure(figsize=(6, 4.2))
    ax = fig.subplots()
    errors = spec.errors or tuple(((), ()) for _ in spec.curves)
    for (label, xs, ys), (lo, hi) in zip(spec.curves, errors):
        x, y = np.asarray(xs), np.asarray(ys)
        style = ({"color": "black", "lw": 2.2, "marker": "s", "ms": 4, "zorder": 5} if label == spec.anchor
                 else {"marker": "o", "ms": 3, "zorder": 3})
        (line,) = ax.plot(x, y, label=label, **style)
        if len(lo) == len(y) and np.isfinite(np.asarray(lo, dtype=float)).any():
            yerr = np.vstack([np.clip(y - np.asarray(lo), 0, None), np.clip(np.asarray(hi) - y, 0, None)])
            yerr = np.nan_to_num(yerr, nan=0.0, posinf=0.0, neginf=0.0)
            ax.errorbar(x, y, yerr=yerr, fmt="none", ecolor=line.get_color(), elinewidth=0.8, capsize=2,
                        zorder=style["zorder"])
    for label, xs, ys in spec.references:
        ax.plot(np.asarray(xs), np.asarray(ys), linestyle="--", marker="s", ms=4, fillstyle="none",
                lw=1.2, label=label)
    if spec.references:
        _frame_measured(ax, spec)
    ax.set(xlabel="bits per pixel", ylabel=spec.ylabel, title=spec.title)
    ax.grid(alpha=0.3)
    outside = bool(spec.references)
    if outside:              # many long labels: below the axes, not over the curves
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    else:
        legend = ax.legend(fontsize=7)
        if legend_covers_curves(fig, ax, legend, spec):
            legend.remove()
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
            outside = True
    fig.tight_layout()
    paths = spec.files(out_dir)
    for path in paths:
        fig.savefig(path, dpi=120, **({"bbox_inches": "tight"} if outside else {}))
    return paths
