"""Rate-distortion curves, Bjontegaard deltas and their bootstrap confidence intervals.

``bd_rate``: the average rate difference (percent) between two RD curves over their overlapping
distortion range, rates in log10 (negative: the test needs fewer bits for the same quality).
``bd_psnr``: the average distortion difference over the overlapping log10-rate range (positive:
the test is better at the same rate) — for any metric, not only PSNR. Interpolation methods:

* ``pchip``: piecewise cubic Hermite (JVET common test conditions, the default);
* ``cubic``: a cubic polynomial fit (VCEG-M33, Bjontegaard's original);
* ``akima``: Akima spline (linear for two points).

``bd_with_ci`` resamples *images* with replacement, rebuilds both curves from the resampled images
(mean rate and mean distortion per point) and returns the percentile interval.
``curves_from_rows`` turns per-image result rows (``per_image.csv``) into per-image RD matrices.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError

METHODS = ("pchip", "cubic", "akima")


class OverlapWarning(UserWarning):
    """The two curves share too little of their range for a reliable Bjontegaard delta."""


@dataclass(frozen=True)
class BDResult:
    value: float
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    overlap: float = float("nan")


@dataclass(frozen=True)
class RDCurve:
    """Per-image RD matrices of one curve: ``rates``/``dists`` are ``(n_images, n_points)``."""

    images: tuple[str, ...]
    settings: tuple[float, ...]
    rates: np.ndarray
    dists: np.ndarray

    def mean(self) -> tuple[np.ndarray, np.ndarray]:
        """The curve as usually plotted: mean bpp and mean metric per setting."""
        return self.rates.mean(0), self.dists.mean(0)

    def subset(self, images) -> "RDCurve":
        """The same curve restricted to (and ordered by) ``images``."""
        pos = {name: i for i, name in enumerate(self.images)}
        idx = [pos[name] for name in images]
        return RDCurve(tuple(images), self.settings, self.rates[idx], self.dists[idx])


def curves_from_rows(rows: Any, metric: str, by: tuple[str, ...] = ("dataset", "solver", "codec"),
                     rate: str = "bpp", setting: str = "quality") -> dict[tuple, RDCurve]:
    """One :class:`RDCurve` per ``by`` group of a per-image DataFrame (image, setting, bpp, metric).

    Images lacking any setting of their group (a failed encode, a missing metric) are dropped, so
    every point of a curve averages the same images.
    """
    out: dict[tuple, RDCurve] = {}
    if rows.empty or metric not in rows.columns:
        return out
    for key, group in rows.groupby(list(by), sort=False):
        r = group.pivot_table(index="image", columns=setting, values=rate, aggfunc="first")
        d = group.pivot_table(index="image", columns=setting, values=metric, aggfunc="first")
        d = d.reindex(index=r.index, columns=r.columns)
        keep = r.notna().all(axis=1) & d.notna().all(axis=1)
        if not keep.any():
            continue
        out[key if isinstance(key, tuple) else (key,)] = RDCurve(
            tuple(map(str, r.index[keep])), tuple(float(c) for c in r.columns),
            r[keep].to_numpy(np.float64), d[keep].to_numpy(np.float64))
    return out


class _Poly3:
    """VCEG-M33: least-squares cubic polynomial, integrated exactly."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.coef = np.polyfit(x, y, 3)
        self.prim = np.polyint(self.coef)

    def integrate(self, a: float, b: float) -> float:
        return float(np.polyval(self.prim, b) - np.polyval(self.prim, a))


def _interpolator(x: np.ndarray, y: np.ndarray, method: str):
    import scipy.interpolate as si

    order = np.argsort(x)
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise ConfigError("RD curve has repeated or non-monotone points along the integration axis")
    if method == "pchip":
        return si.PchipInterpolator(x, y)
    if method == "cubic":
        if len(x) < 4:
            raise ConfigError("the cubic (VCEG-M33) method needs at least 4 points per curve")
        return _Poly3(x, y)
    if method == "akima":
        return si.Akima1DInterpolator(x, y) if len(x) > 2 else si.make_interp_spline(x, y, k=1)
    raise ConfigError(f"unknown BD method {method!r}; choose from {METHODS}")


def overlap_fraction(x_a, x_t) -> float:
    """Share of the joint range of two curves' integration axes that both cover."""
    x_a, x_t = np.asarray(x_a, dtype=np.float64), np.asarray(x_t, dtype=np.float64)
    lo, hi = max(x_a.min(), x_t.min()), min(x_a.max(), x_t.max())
    span = max(x_a.max(), x_t.max()) - min(x_a.min(), x_t.min())
    return max(hi - lo, 0.0) / span if span > 0 else 0.0


def _delta(x_a, y_a, x_t, y_t, method: str, min_overlap: float) -> tuple[float, float]:
    x_a, y_a, x_t, y_t = (np.asarray(v, dtype=np.float64) for v in (x_a, y_a, x_t, y_t))
    if min(len(x_a), len(x_t)) < 2:
        raise ConfigError("each RD curve needs at least 2 points")
    lo, hi = max(x_a.min(), x_t.min()), min(x_a.max(), x_t.max())
    overlap = overlap_fraction(x_a, x_t)
    if overlap <= 0:
        warnings.warn("RD curves do not overlap; the Bjontegaard delta is undefined", OverlapWarning, 3)
        return float("nan"), 0.0
    if overlap < min_overlap:
        warnings.warn(f"RD curves overlap on only {100 * overlap:.0f}% of their range "
                      f"(< {100 * min_overlap:.0f}%); the Bjontegaard delta extrapolates little but "
                      "covers a narrow range", OverlapWarning, 3)
    fa, ft = _interpolator(x_a, y_a, method), _interpolator(x_t, y_t, method)
    return (ft.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo), overlap


def bd_rate(rate_anchor, dist_anchor, rate_test, dist_test, method: str = "pchip",
            min_overlap: float = 0.75) -> float:
    """Bjontegaard delta rate in percent (negative: the test saves bits)."""
    avg, _ = _delta(dist_anchor, np.log10(rate_anchor), dist_test, np.log10(rate_test), method, min_overlap)
    return float((10.0**avg - 1.0) * 100.0)


def bd_psnr(rate_anchor, dist_anchor, rate_test, dist_test, method: str = "pchip",
            min_overlap: float = 0.75) -> float:
    """Bjontegaard delta distortion (positive: the test is better at equal rate)."""
    avg, _ = _delta(np.log10(rate_anchor), dist_anchor, np.log10(rate_test), dist_test, method, min_overlap)
    return float(avg)


def bd_with_ci(rates_a: np.ndarray, dists_a: np.ndarray, rates_t: np.ndarray, dists_t: np.ndarray,
               kind: str = "rate", method: str = "pchip", n_boot: int = 1000, seed: int = 0,
               level: float = 0.95) -> BDResult:
    """BD value with a bootstrap CI over images.

    Inputs are per-image matrices of shape ``(n_images, n_points)`` for each curve (the same images
    in the same order in both); a resample draws image indices once and rebuilds both curves.
    """
    fn = bd_rate if kind == "rate" else bd_psnr
    ra, da, rt, dt = (np.asarray(v, dtype=np.float64) for v in (rates_a, dists_a, rates_t, dists_t))
    if not (ra.shape == da.shape and rt.shape == dt.shape and ra.shape[0] == rt.shape[0]):
        raise ConfigError("anchor and test curves need per-image matrices over the same images")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        value = fn(ra.mean(0), da.mean(0), rt.mean(0), dt.mean(0), method)
    axis_a, axis_t = (da.mean(0), dt.mean(0)) if kind == "rate" else (np.log10(ra.mean(0)), np.log10(rt.mean(0)))
    overlap = overlap_fraction(axis_a, axis_t)
    if n_boot <= 0 or ra.shape[0] < 2 or not np.isfinite(value):
        return BDResult(value, overlap=overlap)
    rng = np.random.default_rng(seed)
    vals = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        for _ in range(n_boot):
            idx = rng.integers(0, ra.shape[0], ra.shape[0])
            try:
                vals.append(fn(ra[idx].mean(0), da[idx].mean(0), rt[idx].mean(0), dt[idx].mean(0), method))
            except ConfigError:
                continue
    vals = np.asarray([v for v in vals if np.isfinite(v)])
    if len(vals) < 10:
        return BDResult(value, overlap=overlap)
    a = (1 - level) / 2
    return BDResult(value, float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a)), overlap)
