"""Paired comparison of two sets of per-image values (run A, run B; or baseline, run).

Values are paired by (dataset, image pixel hash, codec, quality, solver, metric). Per row
(dataset x solver x codec point x metric): the number of paired images, the mean difference
B - A, its paired bootstrap 95% CI (seeded, images resampled with replacement), the exact sign
test and the Wilcoxon signed-rank p-values, and a status:

* ``same``: ``|mean difference| <= tolerance``;
* ``better`` / ``worse``: beyond the tolerance, in the metric's own direction (higher_is_better).

A value of +inf (PSNR of an exact image) is a value: equal to +inf on the other side it is no
change; a change to or from +inf makes the mean difference infinite, the row better or worse
whatever the tolerance (worse when images went both ways), and its CI undefined (NaN).

The tolerance is absolute for metrics in dB (``tol_db``, default 0.02 dB) and relative for the
others, including bpp (``tol_rel`` times ``|mean of A|``, default 0.5%). With ``significant``,
a row is better or worse only when, in addition, its CI excludes zero (n >= 2 images).

Per-image limits (off by default): ``max_drop_db`` bounds the loss of any single image in every
metric in dB, ``max_drop`` the loss of any single image in a named metric (in its own unit). A loss
is a difference in the metric's bad direction: a drop of a higher-is-better metric (PSNR), a rise
of a lower-is-better one (LPIPS, bpp). A row whose worst image loses more than its limit is
``worse`` whatever its mean and ``significant``.

A ``worse`` row is a regression. Values of A (the reference) absent from B are *missing*: a metric
measured in A only, a series (dataset x solver x codec point x metric) in A only, images of a row
in A only. Missing values fail the comparison unless ``allow_missing``; values in B only are
listed but fail nothing (A cannot judge them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..stats import bootstrap_cis, sign_test_p, wilcoxon_p
from .values import KEY, RATE, Quantity, Values

ROW = ["dataset", "solver", "codec", "quality", "metric"]
COLUMNS = ROW + ["n", "only_a", "only_b", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "p_sign",
                 "p_wilcoxon", "tolerance", "status", "significant", "worst", "worst_image", "max_drop",
                 "image_drop"]


@dataclass(frozen=True)
class CompareOptions:
    """What decides a regression: tolerances, statistics and which metrics."""

    metrics: tuple[str, ...] = ()          # empty: every metric (and bpp) both sides have
    tol_db: float = 0.02
    tol_rel: float = 0.005
    bootstrap: int = 1000
    seed: int = 0
    significant: bool = False
    allow_missing: bool = False            # values of A absent from B do not fail the comparison
    max_drop_db: float | None = None       # largest loss of any one image in a dB metric
    max_drop: tuple[tuple[str, float], ...] = ()   # (metric, largest loss of any one image, own unit)

    def image_limit(self, metric: str, q: Quantity) -> float:
        """The largest loss allowed to any one image of ``metric`` (NaN: no limit)."""
        own = dict(self.max_drop)
        if metric in own:
            return float(own[metric])
        if q.is_db and self.max_drop_db is not None:
            return float(self.max_drop_db)
        return float("nan")


@dataclass
class Comparison:
    """The result: one row per compared series, the unpaired series, warnings, regressions."""

    a: str
    b: str
    rows: Any                                   # DataFrame with COLUMNS
    unpaired: Any                               # DataFrame: ROW + side (A|B) + images
    warnings: list[str] = field(default_factory=list)
    options: CompareOptions = field(default_factory=CompareOptions)

    @property
    def worse(self):
        """The rows that regressed beyond the tolerance."""
        return self.rows[self.rows["status"] == "worse"]

    @property
    def missing(self):
        """Series present in A only (whole rows, metrics measured in A only included)."""
        return self.unpaired[self.unpaired["side"] == "A"]

    @property
    def partial(self):
        """Compared rows with images in A only."""
        return self.rows[self.rows["only_a"] > 0]

    @property
    def n_missing(self) -> int:
        """Series of A absent from B, plus compared rows that lack some of A's images."""
        return len(self.missing) + len(self.partial)

    @property
    def regressions(self) -> int:
        """Rows worse than A beyond tolerance or beyond a per-image limit."""
        return len(self.worse)

    @property
    def verdict(self) -> str:
        """``regression`` (some row is worse), else ``missing`` (values of A absent from B and not
        allowed), else ``ok``."""
        if self.regressions:
            return "regression"
        if self.n_missing and not self.options.allow_missing:
            return "missing"
        return "ok"


def tolerance(q: Quantity, mean_a: float, options: CompareOptions) -> float:
    """The tolerance of a row: absolute in dB, else relative to A's mean."""
    if q.is_db:
        return float(options.tol_db)
    return float(options.tol_rel) * abs(mean_a) if np.isfinite(mean_a) else float("nan")


def _check_metrics(a: Values, b: Values, options: CompareOptions) -> tuple[list[str], list[str], list[str]]:
    """The metrics compared, those of A absent from B (missing), and the warnings."""
    wanted = list(options.metrics) or [m for m in a.quantities] + [m for m in b.quantities if m not in a.quantities]
    unknown = [m for m in options.metrics if m not in a.quantities]
    if unknown:
        raise ConfigError(f"metric(s) {', '.join(unknown)} not measured in {a.source or 'A'} (the reference); "
                          f"it has: {', '.join(a.quantities) or 'none'}")
    limited = [m for m, _ in options.max_drop if m not in a.quantities]
    if limited:
        raise ConfigError(f"--max-drop names metric(s) {', '.join(limited)} not measured in {a.source or 'A'} "
                          f"(the reference); it has: {', '.join(a.quantities) or 'none'}")
    common = [m for m in wanted if m in a.quantities and m in b.quantities]
    absent = [m for m in wanted if m in a.quantities and m not in b.quantities]
    warnings = [f"{m} is measured in A only: its values are missing from B" for m in absent]
    warnings += [f"{m} is measured in B only and not compared" for m in wanted if m not in a.quantities]
    bad = [f"{m}: {a.quantities[m].version or '?'} (A) vs {b.quantities[m].version or '?'} (B)"
           for m in common if a.quantities[m].version != b.quantities[m].version]
    bad += [f"{m}: higher_is_better differs" for m in common
            if a.quantities[m].higher_is_better != b.quantities[m].higher_is_better]
    if bad:
        raise ConfigError("the two sides measured metrics with different versions, so their values are not "
                          "comparable: " + "; ".join(bad) + ". Rerun A, or regenerate the baseline if the "
                          "change is intended")
    for k in sorted(set(a.env) & set(b.env)):
        if a.env[k] != b.env[k]:
            warnings.append(f"{k} differs: {a.env[k]} (A) vs {b.env[k]} (B)")
    if a.suite_hash and b.suite_hash and a.suite_hash != b.suite_hash:
        warnings.insert(0, f"suite hashes differ: {a.suite_hash} ({a.name}, A) vs {b.suite_hash} ({b.name}, B); "
                           "only what both share is compared")
    return common, absent, warnings


def compare(a: Values, b: Values, options: CompareOptions = CompareOptions()) -> Comparison:
    """Compare B against A (see the module docstring)."""
    import pandas as pd

    metrics, absent, warnings = _check_metrics(a, b, options)
    fa = a.frame[a.frame["metric"].isin(metrics + absent)]      # A's values of absent metrics: missing
    fb = b.frame[b.frame["metric"].isin(metrics)]
    names = dict(zip(b.frame["image_hash"], b.frame["image"])) | dict(zip(a.frame["image_hash"], a.frame["image"]))
    merged = fa[KEY + ["value"]].merge(fb[KEY + ["value"]], on=KEY, how="outer", suffixes=("_a", "_b"),
                                       sort=False)
    paired = bool(len(merged)) and bool((merged["value_a"].notna() & merged["value_b"].notna()).any())
    if not paired and (len(fb) or not len(fa)):     # disjoint sides; B lacking A's metrics is missing values
        raise ConfigError(f"nothing to compare: no (dataset, image, codec point, solver, metric) has a value in "
                          f"both {a.source or 'A'} and {b.source or 'B'}")
    order = {m: i for i, m in enumerate(metrics + absent)}
    merged["_m"] = merged["metric"].map(order)
    merged = merged.sort_values(["dataset", "solver", "codec", "quality", "_m", "image_hash"], kind="stable")
    rows, series, unpaired = [], [], []
    for key, g in merged.groupby(ROW, sort=False, dropna=False):
        va, vb = g["value_a"].to_numpy(np.float64), g["value_b"].to_numpy(np.float64)
        has_a, has_b = ~np.isnan(va), ~np.isnan(vb)          # +inf (PSNR of an exact image) is a value
        both = has_a & has_b
        only_a, only_b = int((has_a & ~has_b).sum()), int((has_b & ~has_a).sum())
        if not both.any():
            for side, count in (("A", only_a), ("B", only_b)):
                if count:
                    unpaired.append(dict(zip(ROW, key)) | {"side": side, "images": count})
            continue
        with np.errstate(invalid="ignore"):
            d = np.where(va[both] == vb[both], 0.0, vb[both] - va[both])  # inf == inf: no change
        q = a.quantities[key[4]]
        mean_a, mean_b = float(va[both].mean()), float(vb[both].mean())
        loss = np.nan_to_num(-d if q.higher_is_better else d, nan=np.inf)   # > 0: this image got worse
        k = int(np.argmax(loss))
        limit = options.image_limit(key[4], q)
        rows.append(dict(zip(ROW, key)) | {"n": int(both.sum()), "only_a": only_a, "only_b": only_b,
                                          "mean_a": mean_a, "mean_b": mean_b, "diff": float(d.mean()),
                                          "tolerance": tolerance(q, mean_a, options), "worst": float(d[k]),
                                          "worst_image": names.get(g["image_hash"].to_numpy()[both][k], ""),
                                          "max_drop": limit,
                                          "image_drop": bool(np.isfinite(limit) and loss[k] > limit)})
        series.append(d)
    cis = bootstrap_cis(series, options.bootstrap, options.seed)
    p_sign, p_wil = sign_test_p(series), wilcoxon_p(series)
    for row, (lo, hi), ps, pw in zip(rows, cis, p_sign, p_wil):
        row.update(ci_low=lo, ci_high=hi, p_sign=float(ps), p_wilcoxon=float(pw))
        row["status"], row["significant"] = _status(row, a.quantities[row["metric"]], options)
    table = pd.DataFrame(rows, columns=COLUMNS)
    miss = pd.DataFrame(unpaired, columns=ROW + ["side", "images"])
    for side, what in (("A", "missing from B"), ("B", "in B only, not compared")):
        n = int((miss["side"] == side).sum()) if len(miss) else 0
        if n:
            warnings.append(f"{n} series {what} (listed as unpaired)")
    return Comparison(a.source or "A", b.source or "B", table, miss, warnings, options)


def _status(row: dict, q: Quantity, options: CompareOptions) -> tuple[str, bool]:
    sign = 1.0 if q.higher_is_better else -1.0
    gain = sign * row["diff"]                       # > 0: B is better
    lo, hi = sorted((sign * row["ci_low"], sign * row["ci_high"])) if np.isfinite(row["ci_low"]) else (np.nan, np.nan)
    significant = bool(np.isfinite(lo) and (lo > 0 or hi < 0))
    tol = row["tolerance"]
    if row["image_drop"]:                           # one image lost more than its limit
        return "worse", significant
    if np.isnan(gain):                              # images went both to and from +inf: an exact image
        return "worse", significant
    if np.isinf(gain):                              # some image reached or lost +inf (an exact image)
        return ("better" if gain > 0 else "worse"), significant
    if abs(gain) <= tol:
        return "same", significant
    if options.significant and not significant:
        return "same", significant
    return ("better" if gain > 0 else "worse"), significant


__all__ = ["COLUMNS", "RATE", "CompareOptions", "Comparison", "compare", "tolerance"]
