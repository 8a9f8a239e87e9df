"""The BD-rate section: every solver x codec curve against the suite's anchor curve.

The anchor curve is the suite's ``anchor`` codec with the ``identity`` solver (or the first solver
when there is no identity). So for an enhancer, "JPEG + enhancer" against plain JPEG measures the
bits the enhancer saves at equal quality; for another codec with identity, codec against codec.
Per metric, BD-rate (pchip, percent, negative = fewer bits) with a bootstrap 95% CI over the
images both curves share, and BD-metric (the average metric gain at equal rate). Metrics where
lower is better are negated for the computation, so a gain is always positive.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..rd import OverlapWarning, bd_with_ci


def anchor_of(data) -> tuple[str, str] | None:
    codec = data.suite.get("anchor")
    if not codec:
        return None
    solvers = [s.get("label") or s["name"] for s in data.suite["solvers"]]
    solver = "identity" if "identity" in solvers else solvers[0]
    return solver, codec


def _matrix(df, metric: str):
    """Images x qualities matrices of bpp and metric (images with every point only)."""
    rates = df.pivot_table(index="image", columns="quality", values="bpp", aggfunc="first")
    dists = df.pivot_table(index="image", columns="quality", values=metric, aggfunc="first")
    keep = rates.notna().all(axis=1) & dists.notna().all(axis=1)
    return rates[keep], dists[keep]


def bd_table(data, method: str = "pchip", n_boot: int | None = None, seed: int | None = None):
    """A DataFrame of BD results (empty when the suite has no anchor or too few points)."""
    import pandas as pd

    cols = ["dataset", "solver", "codec", "metric", "bd_rate", "bd_rate_ci_low", "bd_rate_ci_high",
            "bd_metric", "n_images", "overlap"]
    anchor = anchor_of(data)
    df = data.per_image
    if anchor is None or df.empty:
        return pd.DataFrame(columns=cols)
    n_boot = data.suite.get("output", {}).get("bd_bootstrap", 200) if n_boot is None else n_boot
    seed = data.suite.get("seed", 0) if seed is None else seed
    rows = []
    for dataset, dsub in df.groupby("dataset", sort=False):
        a_rows = dsub[(dsub.solver == anchor[0]) & (dsub.codec == anchor[1])]
        if a_rows.empty:
            continue
        for (solver, codec), t_rows in dsub.groupby(["solver", "codec"], sort=False):
            if (solver, codec) == anchor:
                continue
            for metric in data.metric_names:
                sign = 1.0 if data.higher_is_better.get(metric, True) else -1.0
                ra, da = _matrix(a_rows, metric)
                rt, dt = _matrix(t_rows, metric)
                common = ra.index.intersection(rt.index)
                if len(common) == 0 or ra.shape[1] < 2 or rt.shape[1] < 2:
                    continue
                ra, da, rt, dt = (m.loc[common].to_numpy(dtype=np.float64) for m in (ra, da, rt, dt))
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", OverlapWarning)
                        r = bd_with_ci(ra, sign * da, rt, sign * dt, "rate", method, n_boot, seed)
                        p = bd_with_ci(ra, sign * da, rt, sign * dt, "dist", method, 0, seed)
                except Exception:  # too few or non-monotone points: no BD for this pair
                    continue
                rows.append([dataset, solver, codec, metric, r.value, r.ci_low, r.ci_high,
                             sign * p.value, len(common), r.overlap])
    return pd.DataFrame(rows, columns=cols)


def bd_markdown(data, table) -> list[str]:
    from tabulate import tabulate

    anchor = anchor_of(data)
    if anchor is None or table.empty:
        return []
    lines = [f"## BD-rate against {anchor[1]} + {anchor[0]}", "",
             "Bjontegaard delta rate (pchip, percent; negative = fewer bits at equal quality) with a "
             "bootstrap 95% CI over images, and the average metric gain at equal rate. Overlap below "
             "0.75 means the curves share little of their quality range.", ""]
    body = []
    for _, r in table.iterrows():
        ci = "" if np.isnan(r.bd_rate_ci_low) else f" [{r.bd_rate_ci_low:+.2f}, {r.bd_rate_ci_high:+.2f}]"
        rate = "–" if np.isnan(r.bd_rate) else f"{r.bd_rate:+.2f}%{ci}"
        gain = "–" if np.isnan(r.bd_metric) else f"{r.bd_metric:+.4f}"
        body.append([r.dataset, r.solver, r.codec, r.metric, rate, gain, int(r.n_images), f"{r.overlap:.2f}"])
    lines += [tabulate(body, headers=["dataset", "solver", "codec", "metric", "BD-rate", "BD-metric",
                                      "images", "overlap"], tablefmt="github", disable_numparse=True), ""]
    return lines
