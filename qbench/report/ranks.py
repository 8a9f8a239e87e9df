"""Rankings: solvers ordered by the suite's primary metric, per dataset and codec point and over
a codec's whole ladder.

Ranks are competition ranks that respect the confidence intervals: a solver's rank is 1 plus the
number of solvers that are better with a 95% CI that does not overlap its own, so solvers whose
intervals overlap share a rank (a tie). Without intervals (set-level metrics, means over a ladder)
only equal values tie.
"""

from __future__ import annotations

import math
from typing import Any

from .aggregate import Aggregates
from .data import GAIN_SUFFIX, KEYS, ReportData

POINT_COLUMNS = KEYS[:1] + ["codec", "quality", "rank", "tied", "mark", "solver", "n_images", "bpp", "value",
                            "ci_low", "ci_high"]
OVERALL_COLUMNS = ["dataset", "codec", "rank", "tied", "mark", "solver", "points", "by", "mean_value", "mean_gain",
                   "bd_rate", "bd_anchor"]


def primary_metric(data: ReportData) -> str | None:
    """The metric solvers are ranked by: the suite's ``primary``, else its first metric present."""
    primary = data.suite.get("primary")
    if primary in data.metrics:
        return primary
    for m in data.suite.get("metrics", []):
        label = m if isinstance(m, str) else (m.get("label") or _metric_key(m))
        if label in data.metrics:
            return label
    return next(iter(data.metrics), None)


def _metric_key(m: dict) -> str:
    crop = m.get("crop_border")
    return f"{m['name']}@crop{crop}" if crop else str(m.get("name"))


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and not math.isnan(float(v))


def ranks(values: list[float], cis: list[tuple[float, float]], higher_is_better: bool) -> list[int | None]:
    """Competition ranks of ``values`` (None for an undefined value): 1 + the number of values that
    are better and whose CI lies entirely on the better side of this one's (no CI: strictly better)."""
    sign = 1.0 if higher_is_better else -1.0
    out: list[int | None] = []
    for v, (lo, hi) in zip(values, cis):
        if not _finite(v):
            out.append(None)
            continue
        better = 0
        for w, (wlo, whi) in zip(values, cis):
            if not _finite(w) or sign * (w - v) <= 0:
                continue
            if _finite(lo) and _finite(wlo):
                separated = wlo > hi if higher_is_better else whi < lo
            else:
                separated = True
            better += separated
        out.append(1 + better)
    return out


def marks(values: list[float], higher_is_better: bool) -> list[str]:
    """``best`` for the best value, ``second`` for the next best (equal values alike), else ``""``:
    how papers mark a table row (bold, underlined), whatever the intervals say."""
    distinct = sorted({float(v) for v in values if _finite(v)}, reverse=higher_is_better)
    names = dict(zip(distinct[:2], ("best", "second")))
    return [names.get(float(v), "") if _finite(v) else "" for v in values]


def _ordered(rows: list[dict], key: str, higher_is_better: bool) -> list[dict]:
    sign = -1.0 if higher_is_better else 1.0
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0,
                                       sign * r[key] if _finite(r[key]) else 0.0))


def _mark_ties(rows: list[dict]) -> None:
    counts: dict[Any, int] = {}
    for r in rows:
        counts[r["rank"]] = counts.get(r["rank"], 0) + 1
    for r in rows:
        r["tied"] = r["rank"] is not None and counts[r["rank"]] > 1


def point_ranks(data: ReportData, agg: Aggregates, metric: str | None = None):
    """One row per dataset x codec point x solver, ranked within its dataset and codec point by
    ``metric`` (default :func:`primary_metric`); points in plan order."""
    import pandas as pd

    metric = metric or primary_metric(data)
    summary = agg.summary
    if metric is None or summary.empty or metric not in summary.columns:
        return pd.DataFrame(columns=POINT_COLUMNS)
    higher = data.higher_is_better.get(metric, True)
    out: list[dict] = []
    for (dataset, codec, quality), sub in summary.groupby(["dataset", "codec", "quality"], sort=False):
        rows = []
        for r in sub.to_dict(orient="records"):
            lo, hi = agg.ci.get(tuple(r[k] for k in KEYS), {}).get(metric, (math.nan, math.nan))
            rows.append({"dataset": dataset, "codec": codec, "quality": float(quality), "solver": r["solver"],
                         "n_images": int(r["n_images"]), "bpp": r["bpp"], "value": r[metric],
                         "ci_low": lo, "ci_high": hi})
        for row, rank in zip(rows, ranks([r["value"] for r in rows], [(r["ci_low"], r["ci_high"]) for r in rows],
                                         higher)):
            row["rank"] = rank
        for row, mark in zip(rows, marks([r["value"] for r in rows], higher)):
            row["mark"] = mark
        rows = _ordered(rows, "value", higher)
        _mark_ties(rows)
        out += rows
    return pd.DataFrame(out, columns=POINT_COLUMNS)


def overall_ranks(data: ReportData, agg: Aggregates, metric: str | None = None):
    """One row per dataset x codec x solver over the codec's whole ladder: the mean of ``metric``
    over the points, the mean gain over the compressed input (when the solver has one) and the
    BD-rate against the first anchor (RD suites); ranked within dataset and codec by the mean gain
    when every solver there has one, else by the mean value (``by`` names which)."""
    import pandas as pd

    metric = metric or primary_metric(data)
    summary = agg.summary
    if metric is None or summary.empty or metric not in summary.columns:
        return pd.DataFrame(columns=OVERALL_COLUMNS)
    higher = data.higher_is_better.get(metric, True)
    gain = metric + GAIN_SUFFIX
    gains = agg.gains if gain in agg.gains.columns else None
    bd = agg.bd
    out: list[dict] = []
    for (dataset, codec), sub in summary.groupby(["dataset", "codec"], sort=False):
        rows = []
        for solver, part in sub.groupby("solver", sort=False):
            row = {"dataset": dataset, "codec": codec, "solver": solver, "points": int(part[metric].notna().sum()),
                   "mean_value": float(part[metric].mean()) if part[metric].notna().any() else math.nan,
                   "mean_gain": math.nan, "bd_rate": math.nan, "bd_anchor": ""}
            if gains is not None and len(gains):
                g = gains[(gains["dataset"] == dataset) & (gains["codec"] == codec) & (gains["solver"] == solver)]
                if len(g) and g[gain].notna().any():
                    row["mean_gain"] = float(g[gain].mean())
            if bd is not None and len(bd):
                b = bd[(bd["dataset"] == dataset) & (bd["codec"] == codec) & (bd["solver"] == solver)
                       & (bd["metric"] == metric)]
                if len(b):
                    row["bd_rate"], row["bd_anchor"] = float(b["bd_rate"].iloc[0]), str(b["anchor"].iloc[0])
            rows.append(row)
        passthrough = {s for s, i in data.solvers.items() if i.passthrough}
        by_gain = all(_finite(r["mean_gain"]) or r["solver"] in passthrough for r in rows) and any(
            _finite(r["mean_gain"]) for r in rows)
        key = "mean_gain" if by_gain else "mean_value"
        for r in rows:
            if by_gain and not _finite(r["mean_gain"]):
                r["mean_gain"] = 0.0                   # a pass-through solver: its output is its input
            r["by"] = "gain" if by_gain else "value"
        for row, rank in zip(rows, ranks([r[key] for r in rows], [(math.nan, math.nan)] * len(rows),
                                         True if by_gain else higher)):
            row["rank"] = rank
        for row, mark in zip(rows, marks([r[key] for r in rows], True if by_gain else higher)):
            row["mark"] = mark
        rows = _ordered(rows, key, True if by_gain else higher)
        _mark_ties(rows)
        out += rows
    return pd.DataFrame(out, columns=OVERALL_COLUMNS)
