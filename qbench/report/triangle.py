"""The FID triangle: where a solver's output set E lies between the originals O and the
compressed inputs C, from the three set-level distances O–C, O–E and C–E.

Following the enhancement-bias analysis of compressed-image enhancement (Xing et al., CVPR 2024,
"Enhancing Quality of Compressed Images by Mitigating Enhancement Bias Towards Compression
Domain"), a solver that only polishes its input leaves E next to C; a perfect restoration puts E
on O. The three sides are **distances**, not FID values: FID is the squared Fréchet (2-Wasserstein)
distance between Gaussian fits of the feature sets, so ``sqrt(FID)`` is a metric and obeys the
triangle inequality (up to estimation noise); KID is an unbiased estimate of MMD², so its side is
``sqrt(max(KID, 0))`` (a negative estimate is clamped to 0 and flagged).

Embedding: O at (0, 0), C at (|OC|, 0), E by trilateration above the base. The vertex offset is
E's position along the base relative to the base's midpoint M, divided by |OC|: −0.5 = E at O
(perfect restoration), 0 = halfway, +0.5 = E at C (the solver returned its input); values beyond
±0.5 mean E lies past O or C. The height is E's distance from the base line divided by |OC|
(equilateral: √3/2). When the distances violate the triangle inequality, E is put on the base
line where its two distances fit best (least squares), height 0, flagged ``inequality``; with
|OC| = 0 there is no base and the row is flagged ``no base``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..vocabulary import COMPRESSED, ENHANCED, ORIGINAL
from .cache import ReportCache
from .data import KEYS, ReportData
from .document import Figure, Paragraph, Section, Table
from .formatting import file_slug, fmt, is_nan, quality_text

if TYPE_CHECKING:
    from .figure_pass import FigurePass

#: set-metric types that have a triangle, and how a value becomes a side length
SIDES = {"fid": "sqrt(FID) (Fréchet distance)", "kid": "sqrt(max(KID, 0)) (MMD)"}
COLUMNS = KEYS + ["metric", "oc", "oe", "ce", "offset", "height", "flag", "n_images"]
_STYLE = 2                      # bump when the drawing changes, so cached figures are redrawn
_REL_TOL = 1e-9                 # rounding slack of the triangle inequality, relative to the sides squared


@dataclass(frozen=True)
class Triangle:
    """E's place in the O–C–E triangle: coordinates with O = (0, 0), C = (oc, 0), the normalised
    offset from the base midpoint and height, and a flag (``""`` when the triangle is proper)."""

    oc: float
    oe: float
    ce: float
    x: float
    y: float
    offset: float
    height: float
    flag: str = ""


def _on_line(a: float, b: float, c: float) -> float:
    """The point x of the O–C line (O = 0, C = a) whose distances best fit b (to O) and c (to C):
    minimises (|x| − b)² + (|x − a| − c)² piecewise (x < 0, 0 ≤ x ≤ a, x > a)."""
    candidates = [min((a - b - c) / 2, 0.0), min(max((a + b - c) / 2, 0.0), a), max((a + b + c) / 2, a)]
    return min(candidates, key=lambda x: (abs(x) - b) ** 2 + (abs(x - a) - c) ** 2)


def triangle(oc: float, oe: float, ce: float) -> Triangle:
    """Embed the triangle of side lengths |OC| = ``oc``, |OE| = ``oe``, |CE| = ``ce``.

    Raises ValueError for a negative or non-finite side."""
    for name, v in (("oc", oc), ("oe", oe), ("ce", ce)):
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"side {name} must be a finite non-negative distance, got {v}")
    if oc == 0:
        nan = float("nan")
        return Triangle(oc, oe, ce, 0.0, nan, nan, nan, "no base")
    x = (oe * oe - ce * ce + oc * oc) / (2 * oc)
    y2 = oe * oe - x * x
    if y2 < -_REL_TOL * max(oc, oe, ce) ** 2:
        x = _on_line(oc, oe, ce)
        return Triangle(oc, oe, ce, x, 0.0, x / oc - 0.5, 0.0, "inequality")
    y = math.sqrt(max(y2, 0.0))
    return Triangle(oc, oe, ce, x, y, x / oc - 0.5, y / oc)


def side(metric_type: str, value: float) -> tuple[float, str]:
    """(side length, flag) of a set-metric value: sqrt(FID), sqrt(max(KID, 0))."""
    if metric_type == "kid" and value < 0:
        return 0.0, "KID < 0"
    return math.sqrt(max(value, 0.0)), ""


def _metric_type(data: ReportData, metric: str) -> str | None:
    """fid | kid for a set metric of a triangle type (by its preset name), else None."""
    info = data.metrics.get(metric)
    name = (info.name if info is not None else metric).split("@")[0]
    for t in SIDES:
        if name == t or name.startswith(t + "_"):
            return t
    return None


def triangle_table(data: ReportData):
    """One row per dataset × solver × codec point × FID/KID metric with all three pairs measured:
    the three side lengths, the normalised offset and height of E, a flag and the image count."""
    import pandas as pd

    sets = data.set_values
    if sets is None or sets.empty:
        return pd.DataFrame(columns=COLUMNS)
    values: dict[tuple, dict[frozenset, tuple[float, float]]] = {}
    for r in sets.to_dict(orient="records"):
        if r["ref_role"] == r["test_role"] or _metric_type(data, r["metric"]) is None:
            continue
        key = (r["dataset"], r["solver"], r["codec"], float(r["quality"]), r["metric"])
        pair = frozenset((r["ref_role"], r["test_role"]))
        values.setdefault(key, {}).setdefault(pair, (float(r["value"]), float(r["n_images"])))
    rows = []
    for key, pairs in values.items():
        need = [frozenset(p) for p in ((ORIGINAL, COMPRESSED), (ORIGINAL, ENHANCED), (COMPRESSED, ENHANCED))]
        if not all(p in pairs for p in need):
            continue
        kind = _metric_type(data, key[-1])
        flags, sides = [], []
        for p in need:
            length, flag = side(kind, pairs[p][0])
            sides.append(length)
            flags.append(flag)
        t = triangle(*sides)
        flag = ", ".join(dict.fromkeys(f for f in [*flags, t.flag] if f))
        n = min(pairs[p][1] for p in need)
        rows.append([*key, t.oc, t.oe, t.ce, t.offset, t.height, flag, n])
    df = pd.DataFrame(rows, columns=COLUMNS)
    order = {m: i for i, m in enumerate(data.metrics)}
    df["_o"] = df["metric"].map(order)
    return df.sort_values(["_o", "dataset"], kind="stable").drop(columns="_o").reset_index(drop=True)


# -- figures -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TriangleFigure:
    """One figure: a dataset's E vertices (normalised coordinates), one panel per metric."""

    dataset: str
    stem: str
    title: str
    panels: tuple[tuple[str, tuple[tuple[str, float, float, str], ...]], ...]   # metric, (label, x, y, flag)

    @property
    def file(self) -> str:
        """The figure's file name."""
        return f"{self.stem}.png"

    def signature(self) -> str:
        """A hash of what the figure shows (it is redrawn when this changes)."""
        blob = json.dumps([_STYLE, self.title, self.panels], allow_nan=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def figure_specs(data: ReportData, table) -> list[TriangleFigure]:
    """The figures of a triangle table: one per dataset with a drawable (based) row."""
    out = []
    usable = table[table["offset"].notna()] if len(table) else table
    for dataset in dict.fromkeys(usable["dataset"]) if len(usable) else []:
        sub = usable[usable["dataset"] == dataset]
        panels = []
        for metric in dict.fromkeys(sub["metric"]):
            points = tuple((f"{r['solver']} · {r['codec']} {quality_text(data, r['codec'], r['quality'])}",
                            float(r["offset"]) + 0.5, float(r["height"]), str(r["flag"]))
                           for r in sub[sub["metric"] == metric].to_dict(orient="records"))
            panels.append((str(metric), points))
        out.append(TriangleFigure(str(dataset), f"triangle_{file_slug(str(dataset))}",
                                  f"{data.suite.get('name', '')}: {dataset}", tuple(panels)))
    return out


def draw(spec: TriangleFigure, out_dir: Path) -> Path:
    """Draw one figure to ``out_dir/<stem>.png``: O at (0, 0), C at (1, 0), each row's E."""
    from .canvas import new_figure

    n = len(spec.panels)
    fig = new_figure(figsize=(7.2 * n, 4.4))
    axes = fig.subplots(1, n, squeeze=False)
    for ax, (metric, points) in zip(axes[0], spec.panels):
        xs = [0.0, 1.0] + [p[1] for p in points]
        ys = [0.0, 0.0] + [p[2] for p in points]
        ax.plot([0, 1], [0, 0], color="0.3", lw=1.5, zorder=1)
        ax.plot([0.5, 0.5], [0, max(ys + [0.5])], color="0.8", lw=0.8, ls=":", zorder=0)
        ax.scatter([0, 1], [0, 0], c="black", marker="s", s=50, zorder=3)
        ax.annotate("O", (0, 0), textcoords="offset points", xytext=(-12, 4), fontsize=11, weight="bold")
        ax.annotate("C", (1, 0), textcoords="offset points", xytext=(6, 4), fontsize=11, weight="bold")
        for i, (label, x, y, flag) in enumerate(points):
            colour = f"C{i % 10}"
            ax.plot([0, x, 1], [0, y, 0], color=colour, lw=0.6, alpha=0.5, zorder=1)
            ax.scatter([x], [y], color=colour, marker="x" if flag else "o", s=36, zorder=4,
                       label=label + (f" ({flag})" if flag else ""))
        pad = 0.15
        ax.set_xlim(min(xs) - pad, max(xs) + pad)
        ax.set_ylim(-0.12, max(ys + [0.5]) + pad)
        ax.set_aspect("equal", adjustable="box")
        ax.set(title=f"{metric}: E relative to O–C", xlabel="position along O→C (|OC| = 1)",
               ylabel="height / |OC|")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.suptitle(spec.title, fontsize=10)
    fig.tight_layout()
    path = Path(out_dir) / spec.file
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def write_triangle_plots(data: ReportData, table, out_dir: str | Path,
                         drawer: FigurePass | None = None) -> list[TriangleFigure]:
    """Draw the figures whose signature changed or whose file is missing (by ``drawer``, default
    here and now); return all of them."""
    out_dir = Path(out_dir)
    specs = figure_specs(data, table)
    ReportCache(out_dir).redraw_changed("triangle", [(s.stem, s.signature(), [out_dir / s.file],
                                                      partial(draw, s, out_dir)) for s in specs], drawer)
    return specs


# -- the section --------------------------------------------------------------------------------
def _sig(v) -> str:
    """A side length with 4 significant digits (FID distances span many orders of magnitude)."""
    return "–" if is_nan(v) else f"{float(v):.4g}"


def triangle_sections(data: ReportData, table=None, figures: list[TriangleFigure] = ()) -> list[Section]:
    """The "FID triangle" section: a table per metric row (``table``, default :func:`triangle_table`)
    and the ``figures`` drawn by :func:`write_triangle_plots`."""
    table = triangle_table(data) if table is None else table
    if table.empty:
        return []
    rows = [[r["dataset"], r["solver"], r["codec"], quality_text(data, r["codec"], r["quality"]), r["metric"],
             _sig(r["oc"]), _sig(r["oe"]), _sig(r["ce"]), fmt(r["offset"], 3, "+"),
             fmt(r["height"], 3), "–" if is_nan(r["n_images"]) else str(int(r["n_images"])), r["flag"] or "–"]
            for r in table.to_dict(orient="records")]
    kinds = sorted({_metric_type(data, m) for m in table["metric"]})
    text = ("Each row places the enhanced set E in the triangle of the original set O and the compressed "
            "set C, with sides " + "; ".join(SIDES[k] for k in kinds) + " (FID is a squared distance). "
            "O is at (0, 0) and C at (|OC|, 0). Offset: E's position along the base relative to its "
            "midpoint, divided by |OC| (−0.5 = E at O, a perfect restoration; +0.5 = E at C, the "
            "compressed input returned; > 0 = E closer to C than to O, the enhancement bias towards the "
            "compression domain). Height: E's distance from the base divided by |OC|. Flags: "
            "'inequality' = the distances violate the triangle inequality (E put on the base where its "
            "two distances fit best), 'no base' = |OC| is 0, 'KID < 0' = a negative KID estimate taken as 0.")
    headers = ["dataset", "solver", "codec", "quality", "metric", "|OC|", "|OE|", "|CE|", "offset",
               "height", "images", "flag"]
    blocks: list = [Paragraph.of(text), Table.of(headers, rows, 5, "triangle")]
    blocks += [Figure(spec.file, f"E vertices relative to O and C: {spec.dataset}") for spec in figures]
    return [Section("FID triangle: enhanced set between original and compressed", blocks, "fid-triangle")]
