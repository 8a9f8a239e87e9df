"""Tables of means over images with bootstrap CIs, shared by the diagnostic sections."""

from __future__ import annotations

import numpy as np

from ..suite import stored_setting
from .data import ReportData
from .document import Cell
from .formatting import fmt, is_nan


def _options(data: ReportData) -> tuple[int, int]:
    return int(stored_setting(data.suite, "bootstrap")), int(stored_setting(data.suite, "seed"))


def mean_table(data: ReportData, wide, columns: list[str], by: list[str]) -> list[dict]:
    """Rows of ``by`` + n_images + mean and bootstrap CI of each column, in plan order."""
    from ..stats import bootstrap_cis

    if wide.empty:
        return []
    n_boot, seed = _options(data)
    groups = sorted(wide.groupby(by, sort=False, dropna=False).indices.items(),
                    key=lambda kv: wide["ordinal"].to_numpy()[kv[1]].min())
    rows, series = [], []
    for key, pos in groups:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key)) | {"n_images": len(pos)}
        for c in columns:
            vals = wide[c].to_numpy(dtype=np.float64)[pos]
            finite = vals[~np.isnan(vals)]
            row[c] = float(np.mean(finite)) if len(finite) else float("nan")
            series.append(vals)
        rows.append(row)
    cis = bootstrap_cis(series, n_boot, seed)
    for i, row in enumerate(rows):
        row["ci"] = dict(zip(columns, cis[i * len(columns):(i + 1) * len(columns)]))
    return rows


def ci_cell(row: dict, col: str, digits: int, sign: str = "") -> Cell:
    """A mean with its CI (from a :func:`mean_table` row) as a table cell."""
    lo, hi = row["ci"][col]
    note = "" if is_nan(lo) or is_nan(row[col]) else f"[{fmt(lo, digits, sign)}, {fmt(hi, digits, sign)}]"
    return Cell(fmt(row[col], digits, sign), note)
