"""The BD-rate section: every solver x codec curve against the suite's anchor curve.

The anchor curve is the suite's ``anchor`` codec with the ``identity`` solver (or the first solver
when there is no identity). So for an enhancer, "JPEG + enhancer" against plain JPEG measures the
bits the enhancer saves at equal quality; for another codec with identity, codec against codec.
Per metric, BD-rate (pchip, percent, negative = fewer bits) with a bootstrap 95% CI over the
images both curves share, and BD-metric (the average metric difference, test minus anchor, at
equal rate, in the metric's own direction). Metrics where lower is better are negated while the
curves are integrated, so BD-rate is negative for a better test in every metric.
Each curve point is the mean bpp and mean metric over the images at one ladder setting (or one
``target_bpp``); images missing a point in either curve are left out of both.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import QbenchError
from ..rd import OverlapWarning, bd_with_ci, curves_from_rows

LOW_OVERLAP = 0.75


def anchor_of(data) -> tuple[str, str] | None:
    codec = data.suite.get("anchor")
    if not codec:
        return None
    solvers = [s.get("label") or s["name"] for s in data.suite["solvers"]]
    solver = "identity" if "identity" in solvers else solvers[0]
    return solver, codec


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
    keys = df[["dataset", "solver", "codec"]].drop_duplicates().itertuples(index=False, name=None)
    group_order = {key: i for i, key in enumerate(keys)}
    rows = []
    for metric in data.metric_names:
        sign = 1.0 if data.higher_is_better.get(metric, True) else -1.0
        curves = curves_from_rows(df, metric)
        for (dataset, solver, codec), test in curves.items():
            base = curves.get((dataset, *anchor))
            if base is None or (solver, codec) == anchor:
                continue
            common = [name for name in base.images if name in set(test.images)]
            if not common or len(base.settings) < 2 or len(test.settings) < 2:
                continue
            a_c, t_c = base.subset(common), test.subset(common)
            ra, da, rt, dt = a_c.rates, a_c.dists, t_c.rates, t_c.dists
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", OverlapWarning)
                    r = bd_with_ci(ra, sign * da, rt, sign * dt, "rate", method, n_boot, seed)
                    p = bd_with_ci(ra, sign * da, rt, sign * dt, "dist", method, 0, seed)
            except (QbenchError, ValueError):  # too few or non-monotone points: no BD here
                continue
            order = (group_order[(dataset, solver, codec)], data.metric_names.index(metric))
            rows.append((order, [dataset, solver, codec, metric, r.value, r.ci_low, r.ci_high,
                                 sign * p.value, len(common), r.overlap]))
    return pd.DataFrame([row for _, row in sorted(rows, key=lambda t: t[0])], columns=cols)


def bd_markdown(data, table) -> list[str]:
    from tabulate import tabulate

    anchor = anchor_of(data)
    if anchor is None or table.empty:
        return []
    lines = [f"## BD-rate against {anchor[1]} + {anchor[0]}", "",
             "Bjontegaard delta rate (pchip, percent; negative = fewer bits at equal quality) with a "
             "bootstrap 95% CI over images, and BD-metric, the average metric difference at equal rate. "
             f"An overlap marked (!) is below {LOW_OVERLAP:.2f}: the curves share little of their quality "
             "range and the delta covers only that part.", ""]
    body = []
    for _, r in table.iterrows():
        ci = "" if np.isnan(r.bd_rate_ci_low) else f" [{r.bd_rate_ci_low:+.2f}, {r.bd_rate_ci_high:+.2f}]"
        rate = "–" if np.isnan(r.bd_rate) else f"{r.bd_rate:+.2f}%{ci}"
        gain = "–" if np.isnan(r.bd_metric) else f"{r.bd_metric:+.4f}"
        body.append([r.dataset, r.solver, r.codec, r.metric, rate, gain, int(r.n_images),
                     f"{r.overlap:.2f}" + (" (!)" if r.overlap < LOW_OVERLAP else "")])
    lines += [tabulate(body, headers=["dataset", "solver", "codec", "metric", "BD-rate", "BD-metric",
                                      "images", "overlap"], tablefmt="github", disable_numparse=True), ""]
    return lines
