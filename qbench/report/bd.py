"""The BD-rate table: every solver x codec curve against the suite's anchor curve(s).

An anchor curve is a suite ``anchor`` codec (one label or a list: each gives its own rows) with
its pass-through solver (``identity``; the first solver when there is none). So for an enhancer, "JPEG + enhancer" against plain JPEG measures the
bits the enhancer saves at equal quality; for another codec with identity, codec against codec.
Per metric, BD-rate (pchip, percent, negative = fewer bits) with a bootstrap 95% CI over the
images both curves share, and BD-metric (the average metric difference, test minus anchor, at
equal rate, in the metric's own direction). Metrics where lower is better are negated while the
curves are integrated, so BD-rate is negative for a better test in every metric.
Each curve point is the mean bpp and mean metric over the images at one ladder setting (or one
``target_bpp``); images missing a point in either curve (or with an infinite value, as PSNR of an
exact image) are left out of both.

A delta is an average over a range: when the two mean curves cross inside their shared rate range,
or BD-rate and BD-metric disagree in sign (one says better, the other worse), the row is marked
(``crossing`` true, ``cross_bpp`` the rates where they cross, ``;``-separated) and every report
says so beside its overlap.

A published curve (a suite ``reference``, :mod:`qbench.references`) may be an anchor, and every
reference of a dataset is also compared with the measured anchors, as solver ``published``. Only
its mean points exist, so such a row compares mean curves (the measured one over every image it
has) with :func:`qbench.rd.bd_rate` / :func:`~qbench.rd.bd_psnr` and has no confidence interval;
its ``anchor_source`` says which file and dataset the published anchor came from (the column is
present when the suite lists references).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import QbenchError
from ..rd import OverlapWarning, RDCurve, bd_with_ci, crossings, curves_from_rows
from ..references import PUBLISHED
from ..suite import stored_setting
from .data import ReportData

LOW_OVERLAP = 0.75
BD_COLUMNS = ["dataset", "anchor", "solver", "codec", "metric", "bd_rate", "bd_rate_ci_low", "bd_rate_ci_high",
              "bd_metric", "n_images", "overlap", "crossing", "cross_bpp"]


def anchors_of(data: ReportData) -> list[tuple[str, str]]:
    """(solver, codec) of each anchor curve: every suite anchor codec with the pass-through solver
    (``identity``), else the first solver; a published reference as (``published``, its label);
    empty without an anchor."""
    codecs = data.suite.get("anchor")
    if not codecs:
        return []
    codecs = [codecs] if isinstance(codecs, str) else list(codecs)
    solvers = list(data.solvers) or [s.get("label") or s["name"] for s in data.suite["solvers"]]
    passthrough = [s for s, info in data.solvers.items() if info.passthrough]
    solver = passthrough[0] if passthrough else ("identity" if "identity" in solvers else solvers[0])
    return [(PUBLISHED, codec) if codec in data.references else (solver, codec) for codec in codecs]


def anchor_source(data: ReportData, anchor: tuple[str, str]) -> str:
    """``published: <file> (<dataset>)`` for a published anchor, else empty."""
    ref = data.references.get(anchor[1]) if anchor[0] == PUBLISHED else None
    return f"{PUBLISHED}: {ref.source} ({ref.dataset})" if ref is not None else ""


def _reference_curves(data: ReportData, metric: str) -> dict[tuple, RDCurve]:
    """Each published curve that has ``metric``, as a one-row (mean) curve keyed like measured ones."""
    out = {}
    for ref in data.references.values():
        curve = ref.curve(metric)
        if curve is not None:
            bpp, vals = curve
            out[(ref.dataset, PUBLISHED, ref.label)] = RDCurve(("mean",), tuple(range(len(bpp))),
                                                             np.asarray([bpp]), np.asarray([vals]))
    return out


def bd_table(data: ReportData, method: str = "pchip", n_boot: int | None = None, seed: int | None = None):
    """A DataFrame of BD results (empty when the suite has no anchor or too few points)."""
    import pandas as pd

    anchors = anchors_of(data)
    df = data.per_image
    columns = BD_COLUMNS + (["anchor_source"] if data.references else [])
    if not anchors or df.empty:
        return pd.DataFrame(columns=columns)
    n_boot = stored_setting(data.suite, "bd_bootstrap") if n_boot is None else n_boot
    seed = stored_setting(data.suite, "seed") if seed is None else seed
    keys = df[["dataset", "solver", "codec"]].drop_duplicates().itertuples(index=False, name=None)
    group_order = {key: i for i, key in enumerate(keys)}
    rows = []
    for m_index, metric in enumerate(data.metric_names):
        sign = 1.0 if data.higher_is_better.get(metric, True) else -1.0
        finite = df[metric].where(np.isfinite(df[metric].to_numpy(np.float64)))    # +inf (exact image): no point
        curves = curves_from_rows(df.assign(**{metric: finite}), metric)
        published = _reference_curves(data, metric)
        for key in published:
            group_order.setdefault(key, len(group_order))
        for a_index, anchor in enumerate(anchors):
            rows += _rows_against(curves, published, anchor, a_index, m_index, metric, sign, group_order, method,
                                  n_boot, seed, anchor_source(data, anchor) if data.references else None)
    return pd.DataFrame([row for _, row in sorted(rows, key=lambda t: t[0])], columns=columns)


def _rows_against(curves, published, anchor, a_index, m_index, metric, sign, group_order, method, n_boot, seed,
                  source: str | None) -> list:
    """BD rows of every curve (measured, then published) against one anchor curve, with their sort keys.
    A pair with a published curve compares the mean curves, without a CI; ``source`` (None: no
    references in the suite) fills the ``anchor_source`` column."""
    rows = []
    for (dataset, solver, codec), test in list(curves.items()) + list(published.items()):
        base = (published if anchor[0] == PUBLISHED else curves).get((dataset, *anchor))
        if base is None or (solver, codec) == anchor:
            continue
        if PUBLISHED in (anchor[0], solver):      # a published curve: mean curves, no CI
            measured = test if solver != PUBLISHED else (base if anchor[0] != PUBLISHED else None)
            ra, da = base.rates.mean(0)[None, :], base.dists.mean(0)[None, :]
            rt, dt = test.rates.mean(0)[None, :], test.dists.mean(0)[None, :]
            common, boot = range(len(measured.images) if measured is not None else 0), 0
        else:
            shared = set(test.images)
            common = [name for name in base.images if name in shared]
            if not common:
                continue
            a_c, t_c = base.subset(common), test.subset(common)
            ra, da, rt, dt = a_c.rates, a_c.dists, t_c.rates, t_c.dists
            boot = n_boot
        if len(base.settings) < 2 or len(test.settings) < 2:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OverlapWarning)
                r = bd_with_ci(ra, sign * da, rt, sign * dt, "rate", method, boot, seed)
                p = bd_with_ci(ra, sign * da, rt, sign * dt, "dist", method, 0, seed)
                cross = crossings(ra.mean(0), da.mean(0), rt.mean(0), dt.mean(0), method)
        except (QbenchError, ValueError):  # too few or non-monotone points: no BD here
            continue
        row = [dataset, anchor[1], solver, codec, metric, r.value, r.ci_low, r.ci_high, sign * p.value,
               len(common), r.overlap, bool(cross) or signs_disagree(r.value, p.value),
               ";".join(f"{b:.3g}" for b in cross)]
        rows.append(((a_index, group_order[(dataset, solver, codec)], m_index),
                     row + ([source] if source is not None else [])))
    return rows


def signs_disagree(bd_rate: float, bd_dist: float) -> bool:
    """Whether BD-rate (negative: better) and BD-distortion (positive: better, in the integrated
    direction) contradict each other; never for a zero or undefined value."""
    if not (np.isfinite(bd_rate) and np.isfinite(bd_dist)) or bd_rate == 0 or bd_dist == 0:
        return False
    return (bd_rate < 0) != (bd_dist > 0)
