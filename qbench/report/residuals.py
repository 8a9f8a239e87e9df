"""The "Residual analysis" section: how far, and toward what, each solver moves the compressed image.

Built from the values of ``residual`` diagnostics (:mod:`qbench.diagnostics.residual`) in the
store: per dataset x solver x codec point the mean over images, with a bootstrap 95% CI, of
``||E-C|| / ||O-C||``, of the fraction of the compression error removed and of the cosine
between ``E-C`` and ``O-C``; a histogram of the ratio across images per dataset; and, for a few
example images per solver (the diagnostic's ``examples``, default 3), ``|E-C|`` and ``|O-C|``
maps, amplified, at each codec's lowest-rate point.

Figures are written under ``<out_dir>/figures/residuals/`` by :func:`residual_figures` (the
report's figure pass), before any section is built. A histogram is
redrawn only when what it shows changed (its signature is kept in the report cache).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .cache import ReportCache
from .data import KEYS, ReportData
from .document import Figure, Paragraph, Section, Table
from .formatting import file_slug, quality_text
from .tables import ci_cell, mean_table

if TYPE_CHECKING:
    from .figure_pass import FigurePass

FOLDER = Path("figures") / "residuals"
RESIDUAL_VALUES = {"ratio", "removed", "cosine"}
_STYLE = 1



def residual_labels(data: ReportData) -> list[str]:
    """Labels of the stored diagnostics that give residual values."""
    diag = data.diagnostics
    if diag is None:
        return []
    return [label for label, info in diag.info.items() if RESIDUAL_VALUES <= set(info.get("values", ()))]


def _histograms(data: ReportData, label: str, wide, out_dir: Path, drawer: FigurePass | None = None) -> list[Figure]:
    """One ratio histogram per dataset (a step curve per solver x codec), drawn when changed (by
    ``drawer``, default here and now)."""
    folder = out_dir / FOLDER
    figures, drawings = [], []
    passthrough = {s for s, i in data.solvers.items() if i.passthrough}
    for dataset, sub in wide.groupby("dataset", sort=False):
        curves = []
        for (solver, codec), part in sub.groupby(["solver", "codec"], sort=False):
            if solver in passthrough:
                continue
            vals = part["ratio"].to_numpy(dtype=np.float64)
            curves.append((f"{codec} + {solver}", [round(float(v), 6) for v in vals[np.isfinite(vals)]]))
        if not any(v for _, v in curves):
            continue
        name = f"ratio_hist_{file_slug(label)}_{file_slug(dataset)}.png"
        sig = hashlib.sha256(json.dumps([_STYLE, str(dataset), curves]).encode()).hexdigest()[:20]
        title = f"{data.suite.get('name', '')}: {dataset}"
        drawings.append((name, sig, [folder / name], partial(_draw_histogram, curves, title, folder / name)))
        figures.append(Figure((FOLDER / name).as_posix(), f"Histogram of ||E-C|| / ||O-C|| across images: {dataset}"))
    ReportCache(out_dir).redraw_changed(f"residuals_{file_slug(label)}", drawings, drawer)
    return figures


def _draw_histogram(curves: list[tuple[str, list[float]]], title: str, path: Path) -> None:
    from .canvas import new_figure

    path.parent.mkdir(parents=True, exist_ok=True)
    every = [v for _, vals in curves for v in vals]
    hi = max(1.0, max(every)) if every else 1.0
    bins = np.linspace(0.0, hi, 31)
    fig = new_figure(figsize=(6, 4))
    ax = fig.subplots()
    for lab, vals in curves:
        if vals:
            ax.hist(vals, bins=bins, histtype="step", label=lab)
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="||E - C|| / ||O - C||  (0 = returns C, 1 = moved as far as O)", ylabel="images", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _examples(data: ReportData, label: str, out_dir: Path, limit: int | None) -> list[Figure]:
    """|E-C| and |O-C| maps of up to ``limit`` example images per solver x codec (lowest-rate point)."""
    images = data.diagnostics.images
    images = images[images["diagnostic"] == label]
    if images.empty:
        return []
    params = data.diagnostics.info[label].get("params", {}) or {}
    limit = int(params.get("examples", 3)) if limit is None else int(limit)
    amp = params.get("amplify", "")
    folder = out_dir / FOLDER
    figures = []
    for (dataset, solver, codec), sub in images.groupby(["dataset", "solver", "codec"], sort=False):
        rates = data.per_image[(data.per_image["dataset"] == dataset) & (data.per_image["solver"] == solver)
                               & (data.per_image["codec"] == codec)].groupby("quality")["bpp"].mean()
        if rates.empty:
            continue
        point = rates.idxmin()
        sub = sub[sub["quality"] == point]
        for image in list(dict.fromkeys(sub.sort_values("ordinal")["image"]))[:limit]:
            for name, what in (("ec", "|E - C|"), ("oc", "|O - C|")):
                row = sub[(sub["image"] == image) & (sub["name"] == name)]
                if row.empty or not Path(row["path"].iloc[0]).is_file():
                    continue
                src = Path(row["path"].iloc[0])
                dest = folder / (file_slug(f"{label}_{dataset}_{solver}_{codec}_{point:g}_{image}_{name}") + ".png")
                if not dest.is_file() or dest.stat().st_size != src.stat().st_size:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dest)
                figures.append(Figure((FOLDER / dest.name).as_posix(),
                                      f"{what} x{amp}: {dataset}/{image}, {codec}@{point:g} + {solver}"))
    return figures


def _wide(data: ReportData, label: str):
    """The diagnostic's per-image values, or None when it has no ratio values."""
    wide = data.diagnostics.of(label)
    return None if wide.empty or "ratio" not in wide.columns else wide


def residual_tables(data: ReportData) -> dict[str, tuple[list[str], list[dict]]]:
    """Per residual diagnostic: (the value columns, the :func:`~qbench.report.tables.mean_table` rows)."""
    out = {}
    for label in residual_labels(data):
        wide = _wide(data, label)
        if wide is None:
            continue
        cols = [c for c in ("ratio", "removed", "cosine", "rms_oc") if c in wide.columns]
        out[label] = (cols, mean_table(data, wide, cols, KEYS))
    return out


def residual_figures(data: ReportData, out_dir: str | Path, examples: int | None = None,
                     drawer: FigurePass | None = None) -> dict[str, list[Figure]]:
    """Draw into ``out_dir`` (when changed; by ``drawer``, default here and now) the ratio
    histograms and copy the example residual maps (``examples`` per solver x codec; default the
    diagnostic's own setting) of every residual diagnostic; returns the figures per diagnostic label."""
    out = {}
    for label in residual_labels(data):
        wide = _wide(data, label)
        if wide is not None:
            out[label] = (_histograms(data, label, wide, Path(out_dir), drawer)
                          + _examples(data, label, Path(out_dir), examples))
    return out


def residual_sections(data: ReportData, figures: dict[str, list[Figure]] | None = None,
                      tables: dict[str, tuple[list[str], list[dict]]] | None = None) -> list[Section]:
    """One section per residual diagnostic in the store: the mean table (``tables``, default
    :func:`residual_tables`) and its figures (``figures``, from :func:`residual_figures`; none by default)."""
    tables = residual_tables(data) if tables is None else tables
    sections = []
    for label, (cols, means) in tables.items():
        rows = []
        for r in means:
            rows.append([r["dataset"], r["solver"], r["codec"], quality_text(data, r["codec"], r["quality"]),
                         str(r["n_images"])] + [ci_cell(r, c, 2 if c == "rms_oc" else 3) for c in cols])
        headers = ["dataset", "solver", "codec", "quality", "images", "||E−C|| / ||O−C||", "error removed ↑",
                   "cos(E−C, O−C) ↑", "||O−C|| (RMS)"][:5 + len(cols)]
        text = ("Per image, with O the original, C the decoded bitstream the solver saw (a rescaler's "
                "low-res decode brought to full size by bicubic interpolation) and E the output, RMS over "
                "pixels and channels on the 0-255 scale: the ratio ||E−C|| / ||O−C|| (0 = the solver "
                "returns C), the fraction of the compression error removed 1 − ||O−E|| / ||O−C|| (1 = "
                "returns O) and the cosine between E−C and O−C (1 = moves straight toward O). Means "
                "over images with a bootstrap 95% CI.")
        blocks: list = [Paragraph.of(text), Table.of(headers, rows, 4, "residuals")]
        blocks += (figures or {}).get(label, [])
        title = "Residual analysis" + ("" if label == "residual" else f" ({label})")
        sections.append(Section(title, blocks, f"residuals-{file_slug(label)}"))
    return sections
