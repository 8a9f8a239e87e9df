"""Leaderboard aggregates: mean of per-image values (never pooled MSE) with a seeded bootstrap 95%
confidence interval over images, and the solvers' gains over their compressed inputs (paired
per image, with a sign-test p-value beside the CI).

Every series (one metric of one leaderboard row) is resampled with ``default_rng(seed)``, as if
bootstrapped on its own; series of equal length share their index draws, so all of them are
evaluated together with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..stats import bootstrap_ci, bootstrap_cis, sign_test_p
from ..suite import stored_setting
from . import bd
from .data import GAIN_SUFFIX, KEYS, LEADERBOARD_PAIR, ReportData

CI = dict[tuple, dict[str, tuple[float, float]]]


@dataclass(frozen=True)
class ReportOptions:
    """What the aggregates depend on besides the data: resamples, seed, BD method."""

    bootstrap: int = 1000
    bd_bootstrap: int = 200
    seed: int = 0
    bd_method: str = "pchip"

    @classmethod
    def of(cls, suite: dict[str, Any]) -> ReportOptions:
        """The options a stored suite sets (the schema's defaults where it does not)."""
        return cls(int(stored_setting(suite, "bootstrap")), int(stored_setting(suite, "bd_bootstrap")),
                   int(stored_setting(suite, "seed")))


@dataclass
class Aggregates:
    """The expensive part of a report: the summary with CIs, the gains and the BD table."""

    summary: Any                # DataFrame
    ci: CI
    gains: Any                  # DataFrame
    gains_ci: CI
    bd: Any                     # DataFrame


def compute_aggregates(data: ReportData, options: ReportOptions) -> Aggregates:
    """Summary, gains and BD table of ``data`` (see :func:`summarize`, :func:`summarize_gains`,
    :func:`qbench.report.bd.bd_table`)."""
    summary, ci = summarize(data, options.bootstrap, options.seed)
    gains, gains_ci = summarize_gains(data, options.bootstrap, options.seed)
    table = bd.bd_table(data, options.bd_method, options.bd_bootstrap, options.seed)
    return Aggregates(summary, ci, gains, gains_ci, table)


def _groups(df) -> list[tuple[tuple, np.ndarray]]:
    """(key, row positions) of each leaderboard row, in order of first appearance in the plan."""
    if df.empty:
        return []
    codes = df.groupby(KEYS, sort=False, dropna=False).indices
    order = sorted(codes.items(), key=lambda kv: df["ordinal"].to_numpy()[kv[1]].min())
    return [(tuple(k), np.asarray(v)) for k, v in order]


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _table(df, columns: list[str], n_boot: int, seed: int, groups=None):
    """Rows of KEYS + n_images + bpp + column means, and the CI of each (row, column)."""
    groups = _groups(df) if groups is None else groups
    arrays = {c: df[c].to_numpy(dtype=np.float64) for c in columns}
    bpp = df["bpp"].to_numpy(dtype=np.float64)
    rows, series = [], []
    for key, pos in groups:
        row = dict(zip(KEYS, key))
        row["n_images"], row["bpp"] = len(pos), _mean(bpp[pos])
        for c in columns:
            vals = np.ascontiguousarray(arrays[c][pos])
            row[c] = _mean(vals)
            series.append(vals)
        rows.append(row)
    flat = bootstrap_cis(series, n_boot, seed)
    ci: CI = {}
    for i, (key, _) in enumerate(groups):
        ci[key] = dict(zip(columns, flat[i * len(columns):(i + 1) * len(columns)]))
    return rows, ci


def measured(data: ReportData):
    """Boolean mask of ``data.per_image``: samples measured in full (a value for every per-image
    metric the run did not skip). The others failed somewhere (solver, metric) and are counted
    in ``n_failed`` instead of ``n_images``."""
    cols = [m for m in data.metric_names if m not in data.skipped_metrics and m in data.per_image.columns]
    df = data.per_image
    return df[cols].notna().all(axis=1) if cols else df["ordinal"].notna()


def summarize(data: ReportData, n_boot: int | None = None, seed: int | None = None):
    """One row per dataset x solver x codec x quality: n_images (the images measured in full),
    n_failed (planned images without an output or a metric value), mean bpp and mean of each
    metric over the measured images, and the set-level value of each set metric (reference
    original, test enhanced); plus the CIs. A row whose every image failed is kept (n_images 0)."""
    import pandas as pd

    n_boot = stored_setting(data.suite, "bootstrap") if n_boot is None else n_boot
    seed = stored_setting(data.suite, "seed") if seed is None else seed
    columns = KEYS + ["n_images", "n_failed", "bpp"] + data.metric_names + data.set_metric_names
    df = data.per_image
    df = df[measured(data)].reset_index(drop=True) if len(df) else df
    rows, ci = _table(df, data.metric_names, n_boot, seed)
    rows, ci = _with_failed(data, rows, ci)
    sets = data.set_values
    lead = sets[(sets["ref_role"] == LEADERBOARD_PAIR[0]) & (sets["test_role"] == LEADERBOARD_PAIR[1])]
    lookup = {(r.dataset, r.solver, r.codec, float(r.quality), r.metric): r.value for r in lead.itertuples()}
    for row in rows:
        key = tuple(row[k] for k in KEYS)
        for m in data.set_metric_names:
            row[m] = lookup.get((*key[:3], float(key[3]), m), float("nan"))
            ci[key][m] = (float("nan"), float("nan"))
    return pd.DataFrame(rows, columns=columns), ci


def _with_failed(data: ReportData, rows: list[dict], ci: CI) -> tuple[list[dict], CI]:
    """Add ``n_failed`` to each row and a row for each planned group with no measured image, in
    plan order. An image that could not be read (never planned) counts as failed in every row of
    its dataset."""
    unread: dict[str, int] = {}
    fails = data.failures
    if fails is not None and len(fails):
        for detail in fails.loc[fails["stage"] == "read", "detail"]:
            unread[str(detail).split("/", 1)[0]] = unread.get(str(detail).split("/", 1)[0], 0) + 1
    planned = data.planned
    if planned is None or not len(planned):
        for row in rows:
            row["n_failed"] = unread.get(row["dataset"], 0)
        return rows, ci
    info = {(r.dataset, r.solver, r.codec, float(r.quality)): (int(r.n_planned), int(r.first_ordinal))
            for r in planned.itertuples()}
    have = {(r["dataset"], r["solver"], r["codec"], float(r["quality"])): r for r in rows}
    for key, (n, _) in info.items():
        if key not in have:
            row = dict(zip(KEYS, key)) | {"n_images": 0, "bpp": float("nan")}
            row.update({m: float("nan") for m in data.metric_names})
            ci[key] = {m: (float("nan"), float("nan")) for m in data.metric_names}
            have[key] = row
        have[key]["n_failed"] = max(0, n - int(have[key]["n_images"])) + unread.get(key[0], 0)
    order = sorted(have, key=lambda k: info.get(k, (0, 1 << 60))[1])
    return [have[k] for k in order], ci


def summarize_gains(data: ReportData, n_boot: int | None = None, seed: int | None = None):
    """Mean gain of each solver over its compressed input per leaderboard row (positive = the
    solver improved the metric, in the metric's own direction), with CIs; pass-through solvers
    and rows without a comparable compressed image are left out. The per-image gains are paired
    differences (output vs its own compressed input), so each ``<metric>_gain`` column has a
    ``<metric>_gain_p`` column beside it: the two-sided exact sign-test p-value that the gain is zero."""
    import pandas as pd

    gains = data.gain_names
    columns = KEYS + ["n_images", "bpp"] + gains + [g + P_SUFFIX for g in gains]
    df = data.per_image
    if not gains or df.empty:
        return pd.DataFrame(columns=columns), {}
    passthrough = {s for s, info in data.solvers.items() if info.passthrough}
    df = df[~df["solver"].isin(passthrough) & df[gains].notna().any(axis=1)].reset_index(drop=True)
    n_boot = stored_setting(data.suite, "bootstrap") if n_boot is None else n_boot
    seed = stored_setting(data.suite, "seed") if seed is None else seed
    groups = _groups(df)
    rows, ci = _table(df, gains, n_boot, seed, groups)
    _gain_p_values(df, gains, groups, rows)
    return pd.DataFrame(rows, columns=columns), ci


P_SUFFIX = "_p"


def _gain_p_values(df, gains: list[str], groups, rows: list[dict]) -> None:
    """Add ``<gain>_p`` to each row: the exact sign-test p-value over the row's per-image gains."""
    series = [df[g].to_numpy(dtype=np.float64)[pos] for _, pos in groups for g in gains]
    p = sign_test_p(series)
    for i, row in enumerate(rows):
        for j, g in enumerate(gains):
            row[g + P_SUFFIX] = float(p[i * len(gains) + j])


def ci_records(summary, ci: CI, metrics: list[str]) -> list[dict[str, Any]]:
    """``summary`` as JSON-ready records, each with its ``ci95`` per metric."""
    out = []
    for r in summary.to_dict(orient="records"):
        rec = {k: (v.item() if isinstance(v, (np.floating, np.integer)) else v) for k, v in r.items()}
        rec["ci95"] = {m: list(ci[tuple(r[k] for k in KEYS)][m]) for m in metrics}
        out.append(rec)
    return out


__all__ = ["CI", "GAIN_SUFFIX", "P_SUFFIX", "Aggregates", "ReportOptions", "bootstrap_ci", "bootstrap_cis",
           "ci_records", "compute_aggregates", "summarize", "summarize_gains"]
