"""The "Branches and cost per image class" section: samples grouped by the branch that ran.

Two kinds of per-image branch reach the store: a codec that picks a coding branch per image
records it in its side_info (``branch``: ``adaptive_sr`` codes ``full`` or ``x0.5``...; the
column ``codec_branch``), and a solver reports through ``ctx.report`` which exit or branch it
took and what it cost (columns ``solver_exit``, ``solver_branch``, ``solver_flops``,
``solver_seconds``...). Each leaderboard row (dataset x solver x codec point) is split by
(codec branch, solver branch or exit); each group shows its image count and share, mean bpp,
the mean of the suite's first PSNR metric and its gain over the compressed input, the mean
reported cost, and the latency the runner measured (solver seconds per image of its batch,
codec encode + decode seconds). Read from :class:`ReportData` (the store only).
"""

from __future__ import annotations

import math

from .data import GAIN_SUFFIX, KEYS, ReportData
from .document import Paragraph, Section, Table
from .formatting import fmt, is_nan, quality_text

NONE = "–"
#: (column of :func:`branch_table`, header, digits) of the optional columns, in order
OPTIONAL = (("pre_psnr", "Pre-PSNR (dB)", 2), ("gflops", "GFLOPs/image (reported)", 3),
            ("reported_s", "s/image (reported)", 4), ("solve_s", "solver s/image (measured)", 4),
            ("encode_s", "codec s/image (measured)", 4))


def _metric(data: ReportData) -> str | None:
    """The metric the table shows: the suite's first PSNR metric, else its first per-image one."""
    names = data.metric_names
    return next((m for m in names if m.startswith("psnr")), names[0] if names else None)


def _solver_class(row) -> str:
    branch, exit_ = row.get("solver_branch"), row.get("solver_exit")
    if not is_nan(branch):
        return str(branch)
    if not is_nan(exit_):
        return f"exit {int(exit_)}" if float(exit_).is_integer() else f"exit {exit_}"
    return NONE


def branch_table(data: ReportData):
    """One row per leaderboard row x (codec branch, solver branch/exit): ``images``, ``share``
    of the row's images, mean ``bpp``, ``metric`` (its name in ``metric_name``), ``gain``,
    ``pre_psnr``, ``gflops``, ``reported_s``, ``solve_s``, ``encode_s`` (NaN where absent).
    Empty when no codec branch and no solver report is in the store."""
    import numpy as np
    import pandas as pd

    per = data.per_image
    cols = KEYS + ["codec_branch", "solver_class", "images", "share", "bpp", "metric_name", "metric", "gain"]
    cols += [c for c, _, _ in OPTIONAL]
    reported = [c for c in per.columns if c.startswith("solver_")]
    if per.empty or ("codec_branch" not in per.columns and not reported):
        return pd.DataFrame(columns=cols)
    df = per.copy()
    # only the leaderboard rows with something to split: a codec branch or a solver report
    marked = df[[c for c in ["codec_branch"] + reported if c in df]].notna().any(axis=1)
    keep = marked.groupby([df[k] for k in KEYS], sort=False, dropna=False).transform("any")
    df = df[keep].reset_index(drop=True)
    df["codec_branch"] = df["codec_branch"].fillna(NONE) if "codec_branch" in df else NONE
    df["solver_class"] = df.apply(_solver_class, axis=1) if reported else NONE
    timings = data.timings if data.timings is not None else pd.DataFrame(columns=["ordinal"])
    df = df.merge(timings, on="ordinal", how="left")
    metric = _metric(data)
    nan = pd.Series(np.nan, index=df.index)

    def num(col: str, scale: float = 1.0):
        return pd.to_numeric(df[col], errors="coerce") / scale if col in df else nan

    passthrough = df["solver"].map(lambda s: bool(getattr(data.solvers.get(s), "passthrough", False)))
    gain = num(metric + GAIN_SUFFIX).mask(passthrough) if metric else nan     # no solver step: no gain
    values = {"bpp": num("bpp"), "metric": num(metric) if metric else nan, "gain": gain,
              "pre_psnr": num("pre_psnr"),
              "gflops": num("solver_flops", 1e9), "reported_s": num("solver_seconds"),
              "solve_s": num("solve_seconds"), "encode_s": num("encode_seconds")}
    totals = df.groupby(KEYS, sort=False, dropna=False).size()
    first = df.groupby(KEYS, sort=False, dropna=False)["ordinal"].min()
    rows = []
    for key, pos in df.groupby(KEYS + ["codec_branch", "solver_class"], sort=False, dropna=False).indices.items():
        row = dict(zip(KEYS + ["codec_branch", "solver_class"], key))
        row["images"] = len(pos)
        row["share"] = len(pos) / int(totals.loc[tuple(key[:len(KEYS)])])
        row["metric_name"] = metric or ""
        for name, series in values.items():
            v = series.to_numpy(dtype=np.float64)[pos]
            v = v[~np.isnan(v)]                  # +inf (identical images) counts, as in the leaderboard
            row[name] = float(v.mean()) if len(v) else math.nan
        row["_o"] = int(first.loc[tuple(key[:len(KEYS)])])
        rows.append(row)
    out = pd.DataFrame(rows).sort_values(["_o", "codec_branch", "solver_class"], kind="stable")
    return out.drop(columns="_o")[cols].reset_index(drop=True)


def branches_section(data: ReportData, table=None) -> list[Section]:
    """The section (of ``table``, default :func:`branch_table`), or nothing when no codec branch
    and no solver report is in the store."""
    table = branch_table(data) if table is None else table
    if table.empty:
        return []
    metric = table["metric_name"].iloc[0]
    optional = [(c, h, d) for c, h, d in OPTIONAL if table[c].notna().any()]
    gain = table["gain"].notna().any()
    headers = ["dataset", "solver", "codec", "quality", "codec branch", "solver branch/exit", "images", "share",
               "bpp ↓"] + ([f"{metric} ↑"] if metric else []) + ([f"{metric} gain"] if gain else [])
    headers += [h for _, h, _ in optional]
    rows = []
    for r in table.to_dict(orient="records"):
        row = [r["dataset"], r["solver"], r["codec"], quality_text(data, r["codec"], r["quality"]), r["codec_branch"],
               r["solver_class"], str(int(r["images"])), f"{100 * r['share']:.0f}%", fmt(r["bpp"], 4)]
        row += [fmt(r["metric"], 2)] if metric else []
        row += [fmt(r["gain"], 2, "+")] if gain else []
        row += [fmt(r[c], d) for c, _, d in optional]
        rows.append(row)
    text = ("Images of each row grouped by the branch that ran: the codec's per-image branch (adaptive "
            "down-sampling codes an image at full size or at a smaller scale) and the exit or branch a "
            "solver reported through ctx.report. Means over the images of each group: the gain is over "
            "the compressed input; reported cost is what the solver reported, measured latency is what "
            "the runner timed (solver time per image of its batch; codec encode + decode, branch choice included).")
    return [Section("Branches and cost per image class", [Paragraph.of(text), Table.of(headers, rows, 6)],
                    "branches")]
