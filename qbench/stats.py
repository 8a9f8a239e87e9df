"""Statistics over images, vectorised over many series: the leaderboard's confidence intervals
and the paired tests of gains and of ``qbench compare``.

* :func:`bootstrap_ci` / :func:`bootstrap_cis`: the seeded percentile bootstrap CI of a mean,
  resampling images with replacement (for paired differences: resampling the pairs);
* :func:`sign_test_p`: the exact two-sided binomial sign test (zero differences dropped), in
  integer arithmetic (no SciPy);
* :func:`wilcoxon_p`: the two-sided Wilcoxon signed-rank test (SciPy, zeros dropped).

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
    out = np.full(len(series), np.nan)
    for i, d in enumerate(series):
        d = _clean(d)
        if not len(d):
            continue
        pos, neg = int((d > 0).sum()), int((d < 0).sum())
        out[i] = min(1.0, 2.0 * binomial_half_cdf(min(pos, neg), pos + neg))
    return out


def binomial_half_cdf(k: int, n: int) -> float:
    """``P[X <= k]`` for ``X ~ Binomial(n, 1/2)``, exactly (integer sums, one correctly rounded
    division; no SciPy import, which costs a report about a second); 1 for ``n = 0``."""
    if k >= n:
        return 1.0
    total, term = 0, 1                   # term = C(n, i)
    for i in range(k + 1):
        total += term
        term = term * (n - i) // (i + 1)
    return total / (1 << n)


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


_CHUNK = 4_000_000                       # resampled values held at once


def bootstrap_ci(values: np.ndarray, n: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (seeded); NaN values are left out; NaN when fewer than 2
    values remain or when one is infinite (the mean is infinite then, and has no interval)."""
    return bootstrap_cis([values], n, seed, level)[0]


def bootstrap_cis(series: list[np.ndarray], n: int = 1000, seed: int = 0,
                  level: float = 0.95) -> list[tuple[float, float]]:
    """:func:`bootstrap_ci` of each series, computed together (same results as one by one)."""
    clean = [np.asarray(v, dtype=np.float64) for v in series]
    clean = [v[~np.isnan(v)] for v in clean]
    out = [(float("nan"), float("nan"))] * len(clean)
    if n <= 0:
        return out
    a = (1 - level) / 2
    by_len: dict[int, list[int]] = {}
    for i, v in enumerate(clean):
        if len(v) >= 2 and np.isfinite(v).all():
            by_len.setdefault(len(v), []).append(i)
    for length, members in by_len.items():
        idx = np.random.default_rng(seed).integers(0, length, size=(n, length))
        step = max(1, _CHUNK // (n * length))
        for start in range(0, len(members), step):
            chunk = members[start:start + step]
            means = np.stack([clean[i] for i in chunk])[:, idx].mean(axis=2)
            lo, hi = np.quantile(means, a, axis=1), np.quantile(means, 1 - a, axis=1)
            for j, i in enumerate(chunk):
                out[i] = (float(lo[j]), float(hi[j]))
    return out


__all__ = ["bootstrap_ci", "bootstrap_cis", "sign_test_p", "wilcoxon_p"]
