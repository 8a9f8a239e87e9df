"""Region-stratified gains (DAQE-style): PSNR-Y and SSIM-Y of C and of E per class of pixels.

A *stratifier* splits the pixels of the original into classes from its BT.601 luma ``Y``
(MATLAB ``rgb2ycbcr``, float, as ``psnr_y``; a gray image is its own Y):

* ``defocus`` (default): the focus map is the local Laplacian energy, the mean of
  ``laplace(Y)^2`` over a ``window`` x ``window`` box (reflected borders); high = sharp, low =
  defocused / blurred. Pixels are split into ``classes`` (default 3) by the map's quantiles *of
  that image* (tertiles for 3): ``c0`` holds the least sharp third, ``c2`` the sharpest. A pixel
  equal to a quantile goes to the lower class.
* ``texture``: ``flat`` where the local standard deviation of Y over a ``window`` x ``window``
  box is below ``flat_std`` grey levels; otherwise ``edge`` where the Sobel gradient of the
  Gaussian-smoothed Y (sigma ``sigma``) is at least ``edge_slope`` grey levels per pixel (a
  smoothed gradient survives at edges, not in fine texture); otherwise ``texture``. Absolute
  thresholds, so an all-flat image has empty texture and edge classes.

Per class: ``share`` (fraction of the image's pixels), ``psnr_c``/``psnr_e`` (PSNR of the class's
pixels on Y, data range 255; +inf when they are exact), ``ssim_c``/``ssim_e`` (mean of the SSIM
map -- Gaussian 11x11, sigma 1.5, MATLAB constants, 'valid' filtering as ``ssim_y`` -- over the
class's pixels at least 5 pixels from the border, where the map is defined) and the gains
``psnr_gain = psnr_e - psnr_c``, ``ssim_gain = ssim_e - ssim_c``. An empty class gives NaN.
A pass-through solver (E is C) gets gain 0 in every class without computing E.

Third-party stratifiers register a class with ``class_names()`` and ``classify(y) -> int map``
under the ``qbench.stratifiers`` entry-point group and are used as
``{name: region, params: {stratifier: my_map}}``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError
from ..lru import LRU
from .base import TripletDiagnostic, as_float

WIN, SIGMA = 11, 1.5
C1, C2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2


# -- stratifiers ------------------------------------------------------------------------------------
class Stratifier(ABC):
    """Splits an image's pixels into classes from its luma ``Y`` ``(H, W)`` float64."""

    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any):
        from ..params import check_names

        check_names(f"stratifier {type(self).__name__}", self.defaults, params)
        self.params = {**self.defaults, **params}

    @abstractmethod
    def class_names(self) -> list[str]:
        """Names of the classes, in class-index order."""

    @abstractmethod
    def classify(self, y: np.ndarray) -> np.ndarray:
        """An ``(H, W)`` integer map of class indices ``0..k-1``."""


def laplacian_energy(y: np.ndarray, window: int = 15) -> np.ndarray:
    """Local mean of the squared Laplacian of ``y`` over a ``window`` box (reflected borders)."""
    from scipy.ndimage import laplace, uniform_filter

    lap = laplace(np.asarray(y, dtype=np.float64), mode="reflect")
    return uniform_filter(lap * lap, size=int(window), mode="reflect")


def quantile_classes(values: np.ndarray, k: int) -> np.ndarray:
    """Class ``i`` = values above ``i`` of the image's ``k``-quantiles (ties go to the lower class)."""
    thresholds = np.quantile(values, [i / k for i in range(1, k)])
    out = np.zeros(values.shape, dtype=np.int64)
    for t in thresholds:
        out += values > t
    return out


class DefocusStratifier(Stratifier):
    """Classes by quantiles of the local Laplacian energy (``c0`` = most defocused)."""

    defaults = {"window": 15, "classes": 3}

    def __init__(self, **params: Any):
        super().__init__(**params)
        if int(self.params["classes"]) < 2 or int(self.params["window"]) < 1:
            raise ConfigError("stratifier defocus: classes must be >= 2 and window >= 1")

    def class_names(self) -> list[str]:
        """``c0`` .. ``c{classes-1}``, from least to most Laplacian energy."""
        return [f"c{i}" for i in range(int(self.params["classes"]))]

    def classify(self, y: np.ndarray) -> np.ndarray:
        """Quantile classes of the local Laplacian energy."""
        return quantile_classes(laplacian_energy(y, int(self.params["window"])), int(self.params["classes"]))


class TextureStratifier(Stratifier):
    """``flat`` / ``texture`` / ``edge`` by local standard deviation and smoothed Sobel slope."""

    defaults = {"window": 7, "flat_std": 3.0, "edge_slope": 8.0, "sigma": 1.5}
    NAMES = ["flat", "texture", "edge"]

    def class_names(self) -> list[str]:
        """``flat``, ``texture``, ``edge``."""
        return list(self.NAMES)

    def classify(self, y: np.ndarray) -> np.ndarray:
        """``flat`` where the local deviation is below ``flat_std`` (first), ``edge`` where the smoothed Sobel slope reaches ``edge_slope``, else ``texture``."""
        from scipy.ndimage import gaussian_filter, sobel, uniform_filter

        y = np.asarray(y, dtype=np.float64)
        w = int(self.params["window"])
        mean = uniform_filter(y, w, mode="reflect")
        std = np.sqrt(np.maximum(uniform_filter(y * y, w, mode="reflect") - mean * mean, 0.0))
        s = gaussian_filter(y, float(self.params["sigma"]), mode="reflect")
        slope = np.hypot(sobel(s, axis=0, mode="reflect"), sobel(s, axis=1, mode="reflect")) / 8.0
        out = np.ones(y.shape, dtype=np.int64)                    # texture
        out[slope >= float(self.params["edge_slope"])] = 2          # edge
        out[std < float(self.params["flat_std"])] = 0              # flat wins
        return out


# -- per-class measurements -------------------------------------------------------------------------
def luma(img: np.ndarray) -> np.ndarray:
    """BT.601 Y (MATLAB ``rgb2ycbcr``, float) of RGB; the gray channel of a gray image; ``(H, W)``."""
    img = as_float(img)
    if img.shape[2] == 1:
        return img[..., 0]
    from ..metrics.pixels import luma as bt601

    return bt601(img)


def _gauss(a: np.ndarray) -> np.ndarray:
    """'valid' separable Gaussian filtering (11 taps, sigma 1.5) of ``(H, W)``."""
    from scipy.ndimage import correlate1d

    coords = np.arange(WIN, dtype=np.float64) - (WIN - 1) / 2.0
    g = np.exp(-(coords ** 2) / (2 * SIGMA ** 2))
    g /= g.sum()
    r = (WIN - 1) // 2
    a = correlate1d(a, g, axis=0, mode="constant")[r:a.shape[0] - r]
    return correlate1d(a, g, axis=1, mode="constant")[:, r:a.shape[1] - r]


@dataclass(frozen=True)
class PreparedRegions:
    """What the original contributes: its Y, class map, SSIM statistics and class sizes."""

    y: np.ndarray
    classes: np.ndarray             # (H, W) int
    names: tuple[str, ...]
    mu: np.ndarray                  # Gaussian mean of Y ('valid')
    var: np.ndarray                 # Gaussian variance of Y ('valid')
    counts: np.ndarray              # pixels per class
    inner_counts: np.ndarray        # pixels per class where the SSIM map is defined
    y_digest: str                   # sha1 of Y: keys the pixel maps shared by every stratifier


def prepare_regions(original: np.ndarray, stratifier: Stratifier) -> PreparedRegions:
    """The class map of ``original`` under ``stratifier`` and what the per-class SSIM needs of the original."""
    y = luma(original)
    if min(y.shape) < WIN:
        raise ValueError(f"region diagnostics need images of at least {WIN} px per side, got {y.shape}")
    classes = np.asarray(stratifier.classify(y), dtype=np.int64)
    names = tuple(stratifier.class_names())
    if classes.shape != y.shape or classes.min() < 0 or classes.max() >= len(names):
        raise ValueError(f"stratifier {type(stratifier).__name__} returned an invalid class map")
    mu = _gauss(y)
    var = _gauss(y * y) - mu * mu
    r = (WIN - 1) // 2
    inner = classes[r:-r, r:-r]
    k = len(names)
    return PreparedRegions(y, classes, names, mu, var, np.bincount(classes.ravel(), minlength=k),
                           np.bincount(inner.ravel(), minlength=k), _digest(y))


def _digest(a: np.ndarray) -> str:
    import hashlib

    a = np.ascontiguousarray(a)
    return hashlib.sha1(f"{a.shape}{a.dtype}".encode() + a.tobytes()).hexdigest()


def pixel_maps(prep: PreparedRegions, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The squared error map of ``y`` against the original's Y and its SSIM map ('valid'):
    what every stratifier's classes are averaged over."""
    d = prep.y - y
    mu_y = _gauss(y)
    var_y = _gauss(y * y) - mu_y * mu_y
    cov = _gauss(prep.y * y) - prep.mu * mu_y
    smap = ((2 * prep.mu * mu_y + C1) * (2 * cov + C2)) / ((prep.mu ** 2 + mu_y ** 2 + C1) * (prep.var + var_y + C2))
    return d * d, smap


#: pixel maps by (original Y, image) digests: the compressed image of a codec point is shared by
#: every solver, and an image's maps by every stratifier, so each is computed once per process
_MAPS = LRU(max_bytes=128 << 20)


def _maps(prep: PreparedRegions, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    def make():
        y = luma(img)
        if y.shape != prep.y.shape:
            raise ValueError(f"original {prep.y.shape} and image {y.shape} differ")
        return pixel_maps(prep, y)
    return _MAPS.get_or((prep.y_digest, _digest(img)), make)


def class_psnr(prep: PreparedRegions, sqerr: np.ndarray) -> np.ndarray:
    """PSNR (data range 255) of each class's pixels from the squared error map; +inf when exact,
    NaN when empty."""
    sse = np.bincount(prep.classes.ravel(), weights=sqerr.ravel(), minlength=len(prep.names))
    out = np.full(len(prep.names), np.nan)
    for i, (s, n) in enumerate(zip(sse, prep.counts)):
        if n:
            out[i] = math.inf if s == 0 else 10.0 * math.log10(255.0 ** 2 / (s / n))
    return out


def class_ssim(prep: PreparedRegions, smap: np.ndarray) -> np.ndarray:
    """Mean of the SSIM map over each class's pixels where the map is defined; NaN when none."""
    r = (WIN - 1) // 2
    sums = np.bincount(prep.classes[r:-r, r:-r].ravel(), weights=smap.ravel(), minlength=len(prep.names))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(prep.inner_counts > 0, sums / np.maximum(prep.inner_counts, 1), np.nan)


def _gain(e: float, c: float) -> float:
    if math.isinf(e) and math.isinf(c) and e == c:
        return 0.0
    return e - c


def _per_class(prep: PreparedRegions, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sqerr, smap = _maps(prep, img)
    return class_psnr(prep, sqerr), class_ssim(prep, smap)


def region_values(prep: PreparedRegions, compressed: np.ndarray, enhanced: np.ndarray | None) -> dict[str, float]:
    """Per-class values of one sample (see the module docstring); ``enhanced=None``: E is C."""
    pc, sc = _per_class(prep, compressed)
    pe, se = (pc, sc) if enhanced is None else _per_class(prep, enhanced)
    total = float(prep.counts.sum())
    out: dict[str, float] = {}
    for i, cls in enumerate(prep.names):
        empty = prep.counts[i] == 0
        out[f"share/{cls}"] = float(prep.counts[i]) / total
        out[f"psnr_c/{cls}"], out[f"psnr_e/{cls}"] = float(pc[i]), float(pe[i])
        out[f"psnr_gain/{cls}"] = math.nan if empty else (0.0 if enhanced is None else _gain(pe[i], pc[i]))
        out[f"ssim_c/{cls}"], out[f"ssim_e/{cls}"] = float(sc[i]), float(se[i])
        out[f"ssim_gain/{cls}"] = (math.nan if math.isnan(sc[i]) else
                                   (0.0 if enhanced is None else float(se[i] - sc[i])))
    return out


VALUES = ("share", "psnr_c", "psnr_e", "psnr_gain", "ssim_c", "ssim_e", "ssim_gain")


class RegionDiagnostic(TripletDiagnostic):
    """``region``: per-class PSNR-Y / SSIM-Y of C and E and their gains; parameters
    ``stratifier`` (a registered stratifier name or ``module:Class``) and ``map`` (its parameters)."""

    defaults: ClassVar[dict[str, Any]] = {"stratifier": "defocus", "map": {}}
    description = "PSNR-Y / SSIM-Y of C and E and their gain per pixel class of the original"

    def check(self) -> None:
        """Build the named stratifier from ``map``."""
        from . import STRATIFIERS

        if not isinstance(self.params["map"], dict):
            raise ConfigError(f"diagnostic {self.name!r}: 'map' must be a mapping of stratifier parameters")
        cls = STRATIFIERS.get(str(self.params["stratifier"]))
        self.stratifier: Stratifier = cls(**self.params["map"])
        if not isinstance(self.stratifier, Stratifier):
            raise ConfigError(f"diagnostic {self.name!r}: {self.params['stratifier']!r} is not a Stratifier")
        self.params["map"] = dict(self.stratifier.params)     # resolved: defaults enter the version

    def value_names(self) -> list[str]:
        """Each value per class, ``<value>/<class>``."""
        return [f"{v}/{c}" for c in self.stratifier.class_names() for v in VALUES]

    def prepare(self, original: np.ndarray) -> PreparedRegions:
        """The original's class map and reference statistics."""
        return prepare_regions(original, self.stratifier)

    def compute_prepared(self, prepared: PreparedRegions, compressed, enhanced) -> dict[str, float]:
        """Per-class values of the compressed and enhanced images."""
        return region_values(prepared, compressed, enhanced)


class DefocusRegions(RegionDiagnostic):
    """``region_defocus``: :class:`RegionDiagnostic` over the defocus stratifier (tertiles)."""

    defaults = {"stratifier": "defocus", "map": {}}


class TextureRegions(RegionDiagnostic):
    """``region_texture``: :class:`RegionDiagnostic` over the flat / texture / edge stratifier."""

    defaults = {"stratifier": "texture", "map": {}}
