"""Paired statistics on per-image differences, vectorised over many series.

* :func:`sign_test_p`: the exact two-sided binomial sign test (zero differences dropped);
* :func:`wilcoxon_p`: the two-sided Wilcoxon signed-rank test (SciPy, zeros dropped);
* :func:`paired_cis`: the seeded percentile bootstrap CI of the mean difference, resampling
  images (pairs) with replacement; the same draws as :func:`qbench.report.aggregate.bootstrap_cis`.

A series whose differences are all zero has p = 1 in both tests.
"""

from __future__ import annotations

import warnings

import numpy as np


def _clean(d) -> np.ndarray:
    """The differences without NaN (a missing value); an infinite difference (a value that went to or
    from +inf, as PSNR of an exact image) is kept: it has a sign and the largest rank."""
    d = np.asarray(d, dtype=np.float64)
    return d[~np.isnan(d)]


def sign_test_p(series: list[np.ndarray]) -> np.ndarray:
    """Exact two-sided sign-test p-value of each series of paired differences:
    ``min(1, 2 * P[X <= min(k+, k-)])`` with ``X ~ Binomial(n, 1/2)``, ``n`` the non-zero
    differences; NaN for an empty series, 1 when every difference is zero."""
    from scipy.stats import binom

    pos = np.array([(_clean(d) > 0).sum() for d in series], dtype=np.float64)
    neg = np.array([(_clean(d) < 0).sum() for d in series], dtype=np.float64)
    size = np.array([len(_clean(d)) for d in series])
    n = pos + neg
    with np.errstate(invalid="ignore"):
        p = np.minimum(1.0, 2.0 * binom.cdf(np.minimum(pos, neg), n, 0.5))
    p = np.where(n == 0, 1.0, p)
    return np.where(size == 0, np.nan, p)


def wilcoxon_p(series: list[np.ndarray]) -> np.ndarray:
    """Two-sided Wilcoxon signed-rank p-value of each series (SciPy's default method: exact for
    small samples without ties, else the normal approximation); zeros are dropped; NaN for an
    empty series, 1 when every difference is zero."""
    from scipy.stats import wilcoxon

    out = np.full(len(series), np.nan)
    for i, d in enumerate(series):
        d = _clean(d)
        if not len(d):
            continue
        d = d[d != 0]
        if not len(d):
            out[i] = 1.0
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[i] = float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    return out


def paired_cis(series: list[np.ndarray], n_boot: int = 1000, seed: int = 0,
               level: float = 0.95) -> list[tuple[float, float]]:
    """Percentile bootstrap CI of the mean of each series of paired differences (seeded,
    vectorised; NaN below 2 values or when a difference is infinite)."""
    from ..report.aggregate import bootstrap_cis

    return bootstrap_cis([_clean(d) for d in series], n_boot, seed, level)


__all__ = ["paired_cis", "sign_test_p", "wilcoxon_p"]
