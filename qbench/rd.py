"""Rate-distortion curves, Bjontegaard deltas and their bootstrap confidence intervals.

``bd_rate``: the average rate difference (percent) between two RD curves over their overlapping
distortion range, rates in log10 (negative: the test needs fewer bits for the same quality).
``bd_psnr``: the average distortion difference over the overlapping log10-rate range (positive:
the test is better at the same rate) — for any metric, not only PSNR. Interpolation methods:

* ``pchip``: piecewise cubic Hermite (JVET common test conditions, the default);
* ``cubic``: a cubic polynomial fit (VCEG-M33, Bjontegaard's original);
* ``akima``: Akima spline (linear for two points).

Both are averages: when the curves cross, the test is better over part of the range and worse over
the rest, and BD-rate and BD-PSNR may even disagree in sign (they integrate over different
ranges). ``crossings`` finds the rates where two curves cross inside their shared rate range, so
reports can mark such deltas instead of presenting them as a uniform gain.
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
    """A BD value with its bootstrap interval and the curves' overlap."""

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

    def subset(self, images) -> RDCurve:
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
        r, d, images, settings = _matrices(group["image"].to_numpy(), group[setting].to_numpy(np.float64),
                                           group[rate].to_numpy(np.float64), group[metric].to_numpy(np.float64))
        keep = ~(np.isnan(r).any(axis=1) | np.isnan(d).any(axis=1))
        if not keep.any():
            continue
        out[key if isinstance(key, tuple) else (key,)] = RDCurve(
            tuple(str(i) for i in images[keep]), tuple(float(c) for c in settings), r[keep], d[keep])
    return out


def _matrices(image, setting, rate, dist):
    """(image x setting) matrices of rate and distortion, images and settings sorted, holding the
    first finite value where an (image, setting) repeats and NaN where there is none."""
    images, ii = np.unique(image, return_inverse=True)
    settings = np.unique(setting[~np.isnan(setting)])
    jj = np.searchsorted(settings, setting)
    mats = []
    for vals in (rate, dist):
        m = np.full((len(images), len(settings)), np.nan)
        sel = np.flatnonzero(~np.isnan(setting) & ~np.isnan(vals))
        _, first = np.unique(ii[sel] * len(settings) + jj[sel], return_index=True)
        m[ii[sel[first]], jj[sel[first]]] = vals[sel[first]]
        mats.append(m)
    reached = ~np.isnan(mats[0]).all(axis=0)              # settings no image has a rate for are dropped
    return mats[0][:, reached], mats[1][:, reached], images, settings[reached]


class _Poly3:
    """VCEG-M33: least-squares cubic polynomial, integrated exactly."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.coef = np.polyfit(x, y, 3)
        self.prim = np.polyint(self.coef)

    def integrate(self, a: float, b: float) -> float:
        return float(np.polyval(self.prim, b) - np.polyval(self.prim, a))

    def __call__(self, x):
        return np.polyval(self.coef, x)


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


def crossings(rate_anchor, dist_anchor, rate_test, dist_test, method: str = "pchip",
              samples: int = 512, tol: float = 1e-3) -> tuple[float, ...]:
    """Rates at which the two RD curves cross, inside their shared rate range (empty when one curve
    lies above the other throughout, or when they do not overlap).

    Each curve's distortion is interpolated over log10 rate (as :func:`bd_psnr` does) and their
    difference sampled on ``samples`` points; a crossing is a change of sign of a difference larger
    than ``tol`` (in distortion units), located by linear interpolation between samples. Touching
    curves (a difference within ``tol``) do not cross.
    """
    x_a, x_t = np.log10(np.asarray(rate_anchor, dtype=np.float64)), np.log10(np.asarray(rate_test, dtype=np.float64))
    y_a, y_t = np.asarray(dist_anchor, dtype=np.float64), np.asarray(dist_test, dtype=np.float64)
    if min(len(x_a), len(x_t)) < 2:
        raise ConfigError("each RD curve needs at least 2 points")
    lo, hi = max(x_a.min(), x_t.min()), min(x_a.max(), x_t.max())
    if not hi > lo:
        return ()
    x = np.linspace(lo, hi, samples)
    diff = np.asarray(_interpolator(x_t, y_t, method)(x), dtype=np.float64) - \
        np.asarray(_interpolator(x_a, y_a, method)(x), dtype=np.float64)
    sig = np.flatnonzero(np.abs(diff) > tol)           # samples where one curve is clearly above
    out = []
    for i, j in zip(sig[:-1], sig[1:]):
        if np.sign(diff[i]) != np.sign(diff[j]):
            k = i + int(np.argmax(np.sign(diff[i:j + 1]) != np.sign(diff[i])))   # first sample past the sign change
            x0, x1, d0, d1 = x[k - 1], x[k], diff[k - 1], diff[k]
            out.append(float(10.0 ** (x0 - d0 * (x1 - x0) / (d1 - d0) if d1 != d0 else x0)))
    return tuple(out)


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


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PCHIP derivatives at the knots of many curves at once (rows of ``x``/``y``, ``x`` strictly
    increasing): SciPy's ``PchipInterpolator`` algorithm (Fritsch-Carlson, Moler's end points)."""
    h = np.diff(x, axis=1)
    m = np.diff(y, axis=1) / h
    d = np.zeros_like(y)
    if x.shape[1] == 2:                      # two points: linear
        d[:, 0] = d[:, 1] = m[:, 0]
        return d
    sm = np.sign(m)
    flat = (sm[:, 1:] != sm[:, :-1]) | (m[:, 1:] == 0) | (m[:, :-1] == 0)
    w1 = 2 * h[:, 1:] + h[:, :-1]
    w2 = h[:, 1:] + 2 * h[:, :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        whmean = (w1 / m[:, :-1] + w2 / m[:, 1:]) / (w1 + w2)
        d[:, 1:-1] = np.where(flat, 0.0, 1.0 / whmean)
    d[:, 0] = _pchip_edge(h[:, 0], h[:, 1], m[:, 0], m[:, 1])
    d[:, -1] = _pchip_edge(h[:, -1], h[:, -2], m[:, -1], m[:, -2])
    return d


def _pchip_edge(h0, h1, m0, m1) -> np.ndarray:
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    wrong_sign = np.sign(d) != np.sign(m0)
    overshoot = (np.sign(m0) != np.sign(m1)) & (np.abs(d) > 3.0 * np.abs(m0))
    return np.where(wrong_sign, 0.0, np.where(overshoot, 3.0 * m0, d))


def _hermite_primitive(x: np.ndarray, y: np.ndarray, d: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Integral from ``x[:, 0]`` to ``t`` (one point per row, inside the row's range) of the cubic
    Hermite interpolant with knot values ``y`` and slopes ``d``."""
    rows = np.arange(x.shape[0])
    h = np.diff(x, axis=1)
    full = h * (y[:, :-1] + y[:, 1:]) / 2 + h**2 * (d[:, :-1] - d[:, 1:]) / 12
    cum = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(full, axis=1)], axis=1)
    k = np.clip((x[:, 1:-1] <= t[:, None]).sum(axis=1), 0, x.shape[1] - 2)
    hk = h[rows, k]
    s = (t - x[rows, k]) / hk
    s2, s3, s4 = s * s, s**3, s**4
    part = (y[rows, k] * (s4 / 2 - s3 + s) + hk * d[rows, k] * (s4 / 4 - 2 * s3 / 3 + s2 / 2)
            + y[rows, k + 1] * (s3 - s4 / 2) + hk * d[rows, k + 1] * (s4 / 4 - s3 / 3))
    return cum[rows, k] + hk * part


def _pchip_deltas(x_a: np.ndarray, y_a: np.ndarray, x_t: np.ndarray, y_t: np.ndarray) -> np.ndarray:
    """Average ``y_t - y_a`` over the shared ``x`` range for many curve pairs (rows), with pchip;
    NaN where a curve has repeated or non-finite points or the curves do not overlap."""
    def prepare(x, y):
        order = np.argsort(x, axis=1)
        x, y = np.take_along_axis(x, order, 1), np.take_along_axis(y, order, 1)
        ok = np.all(np.diff(x, axis=1) > 0, axis=1) & np.isfinite(x).all(1) & np.isfinite(y).all(1)
        return x, y, ok

    x_a, y_a, ok_a = prepare(x_a, y_a)
    x_t, y_t, ok_t = prepare(x_t, y_t)
    lo, hi = np.maximum(x_a[:, 0], x_t[:, 0]), np.minimum(x_a[:, -1], x_t[:, -1])
    ok = ok_a & ok_t & (hi > lo)
    out = np.full(x_a.shape[0], np.nan)
    if not ok.any():
        return out
    x_a, y_a, x_t, y_t, lo, hi = (v[ok] for v in (x_a, y_a, x_t, y_t, lo, hi))
    d_a, d_t = _pchip_slopes(x_a, y_a), _pchip_slopes(x_t, y_t)
    area_t = _hermite_primitive(x_t, y_t, d_t, hi) - _hermite_primitive(x_t, y_t, d_t, lo)
    area_a = _hermite_primitive(x_a, y_a, d_a, hi) - _hermite_primitive(x_a, y_a, d_a, lo)
    out[ok] = (area_t - area_a) / (hi - lo)
    return out


def bd_many(rates_a: np.ndarray, dists_a: np.ndarray, rates_t: np.ndarray, dists_t: np.ndarray,
            kind: str = "rate") -> np.ndarray:
    """Pchip BD-rate (percent, ``kind="rate"``) or BD-distortion for many curve pairs at once:
    each argument is ``(n_pairs, n_points)``; NaN where a pair has no valid delta."""
    ra, da, rt, dt = (np.asarray(v, dtype=np.float64) for v in (rates_a, dists_a, rates_t, dists_t))
    with np.errstate(divide="ignore", invalid="ignore"):
        la, lt = np.log10(ra), np.log10(rt)
    if kind == "rate":
        return (10.0 ** _pchip_deltas(da, la, dt, lt) - 1.0) * 100.0
    return _pchip_deltas(la, da, lt, dt)


def _resample_means(m: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Per-point means of ``m`` (n_images, n_points) over each row of image indices ``idx``."""
    return m[idx].mean(axis=1)


def bd_with_ci(rates_a: np.ndarray, dists_a: np.ndarray, rates_t: np.ndarray, dists_t: np.ndarray,
               kind: str = "rate", method: str = "pchip", n_boot: int = 1000, seed: int = 0,
               level: float = 0.95) -> BDResult:
    """BD value with a bootstrap CI over images.

    Inputs are per-image matrices of shape ``(n_images, n_points)`` for each curve (the same images
    in the same order in both); a resample draws image indices once and rebuilds both curves.
    With ``pchip`` every resample is evaluated at once (:func:`bd_many`); the index draws are the
    same as one ``rng.integers(0, n, n)`` call per resample, so results do not depend on that.
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
    n = ra.shape[0]
    idx = np.stack([rng.integers(0, n, n) for _ in range(n_boot)])
    if method == "pchip":
        vals = bd_many(*(_resample_means(v, idx) for v in (ra, da, rt, dt)), kind=kind)
    else:
        vals = np.asarray([_loop_value(fn, ra[i], da[i], rt[i], dt[i], method) for i in idx])
    vals = vals[np.isfinite(vals)]
    if len(vals) < 10:
        return BDResult(value, overlap=overlap)
    a = (1 - level) / 2
    return BDResult(value, float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a)), overlap)


def _loop_value(fn, ra, da, rt, dt, method: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        try:
            return fn(ra.mean(0), da.mean(0), rt.mean(0), dt.mean(0), method)
        except ConfigError:
            return float("nan")
