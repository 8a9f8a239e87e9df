"""The "No-reference values by role" section: each no-reference metric's mean over images on the
original, compressed and enhanced images of every dataset x solver x codec point, and the shifts
enhanced - original and compressed - original (the compression-bias table: e.g. a discriminator's
0.76 / 0.28 / 0.84). Read from :attr:`ReportData.role_values` (the store only).
"""

from __future__ import annotations

from ..vocabulary import COMPRESSED, ENHANCED, ORIGINAL
from .data import KEYS, ReportData
from .document import Paragraph, Section, Table
from .formatting import arrow, fmt, quality_text

ROLES = (ORIGINAL, COMPRESSED, ENHANCED)


def role_means(data: ReportData):
    """One row per dataset x solver x codec point x metric: ``images`` (those with all three
    roles measured) and the means over them of each role and of the two differences."""
    import pandas as pd

    long = data.role_values
    cols = KEYS + ["metric", "images", *ROLES, "enhanced_minus_original", "compressed_minus_original"]
    if long is None or long.empty:
        return pd.DataFrame(columns=cols)
    wide = long.pivot_table(index=KEYS + ["image", "metric"], columns="role", values="value", aggfunc="first")
    wide = wide.reindex(columns=list(ROLES)).dropna()          # paired: images with every role
    if wide.empty:
        return pd.DataFrame(columns=cols)
    wide["enhanced_minus_original"] = wide["enhanced"] - wide["original"]
    wide["compressed_minus_original"] = wide["compressed"] - wide["original"]
    g = wide.groupby(level=KEYS + ["metric"], sort=False)
    out = g.mean()
    out.insert(0, "images", g.size())
    order = {m: i for i, m in enumerate(data.metrics)}
    out = out.reset_index()
    out["_o"] = out["metric"].map(order)
    return out.sort_values(["_o"] + KEYS, kind="stable").drop(columns="_o")[cols].reset_index(drop=True)


def roles_section(data: ReportData, table=None) -> list[Section]:
    """The section of ``table`` (default :func:`role_means`), or nothing when it is empty."""
    table = role_means(data) if table is None else table
    if table.empty:
        return []
    rows = []
    for r in table.to_dict(orient="records"):
        rows.append([r["dataset"], r["solver"], r["codec"], quality_text(data, r["codec"], r["quality"]),
                     f"{r['metric']} {arrow(data, r['metric'])}", str(int(r["images"]))]
                    + [fmt(r[k], 4) for k in ROLES]
                    + [fmt(r["enhanced_minus_original"], 4, "+"), fmt(r["compressed_minus_original"], 4, "+")])
    text = ("Mean over images of each no-reference metric on the original, compressed and enhanced "
            "images, and the mean differences enhanced − original and compressed − original (only images "
            "with all three values). For a pass-through solver the enhanced image is the compressed one.")
    headers = ["dataset", "solver", "codec", "quality", "metric", "images", *ROLES,
               "enhanced − original", "compressed − original"]
    return [Section("No-reference values by role", [Paragraph.of(text), Table.of(headers, rows, 5)], "roles")]
