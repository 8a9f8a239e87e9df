"""The "Region-stratified gains" section: PSNR-Y / SSIM-Y of C and E per class of pixels.

Built from the values of region diagnostics (:mod:`qbench.diagnostics.regions`) in the store:
one table per diagnostic with a row per dataset x solver x codec point x class: the class's mean
share of the image, mean PSNR-Y of C and of E over images and the mean gain E − C with a bootstrap
95% CI, and the same for the SSIM map's mean. Pass-through solvers (gain 0 by construction) are
left out.
"""

from __future__ import annotations

import re

from .data import KEYS, ReportData
from .document import Paragraph, Section, Table
from .formatting import fmt, quality_text
from .tables import ci_cell, mean_table

_SPLIT = {
    "defocus": "classes by quantiles (default tertiles) of each original's local Laplacian energy; "
               "c0 = least sharp (defocused / blurred), the last class = sharpest",
    "texture": "flat (low local standard deviation), edge (strong smoothed Sobel gradient), texture (the rest)",
}


def region_labels(data: ReportData) -> list[str]:
    """Labels of the stored diagnostics that give per-class gains."""
    diag = data.diagnostics
    if diag is None:
        return []
    return [label for label, info in diag.info.items()
            if any(str(v).startswith("psnr_gain/") for v in info.get("values", ()))]


def _classes(values: list[str]) -> list[str]:
    return [v.split("/", 1)[1] for v in values if v.startswith("psnr_gain/")]


def region_tables(data: ReportData) -> dict[str, list[tuple[dict, str, list[str]]]]:
    """Per region diagnostic: its mean rows (:func:`~qbench.report.tables.mean_table`, one per
    dataset x solver x codec point x class, in leaderboard order), each with its class and value columns."""
    out = {}
    passthrough = {s for s, i in data.solvers.items() if i.passthrough}
    for label in region_labels(data):
        info = data.diagnostics.info[label]
        wide = data.diagnostics.of(label)
        if wide.empty:
            continue
        wide = wide[~wide["solver"].isin(passthrough)]
        rows = []
        for cls in _classes(list(info.get("values", ()))):
            cols = [f"{v}/{cls}" for v in ("share", "psnr_c", "psnr_e", "psnr_gain", "ssim_c", "ssim_e", "ssim_gain")]
            if not set(cols) <= set(wide.columns):
                continue
            part = wide[["ordinal"] + KEYS + cols]
            for r in mean_table(data, part, cols, KEYS):
                rows.append((r, cls, cols))
        if not rows:
            continue
        order = {k: i for i, k in enumerate(dict.fromkeys(tuple(r[k] for k in KEYS) for r, _, _ in rows))}
        rows.sort(key=lambda t: order[tuple(t[0][k] for k in KEYS)])
        out[label] = rows
    return out


def region_sections(data: ReportData, tables: dict[str, list[tuple[dict, str, list[str]]]] | None = None
                    ) -> list[Section]:
    """One section per region diagnostic in the store (``tables``, default :func:`region_tables`;
    empty when there is none)."""
    tables = region_tables(data) if tables is None else tables
    sections = []
    for label, rows in tables.items():
        info = data.diagnostics.info[label]
        table = []
        for r, cls, cols in rows:
            share, pc, pe, pg, sc, se, sg = cols
            table.append([r["dataset"], r["solver"], r["codec"], quality_text(data, r["codec"], r["quality"]), cls,
                          str(r["n_images"]), fmt(r[share], 2), fmt(r[pc], 2), fmt(r[pe], 2), ci_cell(r, pg, 2, "+"),
                          fmt(r[sc], 4), fmt(r[se], 4), ci_cell(r, sg, 4, "+")])
        strat = str((info.get("params") or {}).get("stratifier", ""))
        text = (f"Pixels of each original split by the {strat or 'region'} map ({_SPLIT.get(strat, 'see the diagnostic')}). "
                "Per class: its mean share of the image, PSNR on BT.601 Y (MATLAB rgb2ycbcr) of the compressed "
                "input C and the output E, and the mean of the SSIM map (11x11 Gaussian, as ssim_y) over the "
                "class's pixels; gains E − C are means over images with a bootstrap 95% CI. Pass-through "
                "solvers are left out.")
        headers = ["dataset", "solver", "codec", "quality", "class", "images", "share", "PSNR-Y C", "PSNR-Y E",
                   "PSNR gain", "SSIM C", "SSIM E", "SSIM gain"]
        sections.append(Section(f"Region-stratified gains ({label})", [Paragraph.of(text), Table.of(headers, table, 5)],
                                f"regions-{re.sub(r'[^A-Za-z0-9_-]+', '-', label)}"))
    return sections
