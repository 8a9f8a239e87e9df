"""Full-reference protocols with a prepared reference: one pristine image, many distorted ones.

:func:`prepare` does everything that depends on the reference alone (crop, BT.601 Y, and for SSIM
/ MS-SSIM the per-scale Gaussian statistics and the reference pyramid, in float64) and returns a
:class:`PreparedReference` of plain numpy arrays; :func:`compute` measures one output against it.

Precision: PSNR and PSNR-B are computed in float64 (uint8 PSNR exactly: integer squared errors
summed in float64), so they equal :mod:`qbench.metrics.functional` (the oracle) up to summation
order. SSIM and MS-SSIM measure the distorted side in float32 on the difference to the reference
(:mod:`qbench.metrics.prepared_ssim`): within 1e-6 of the float64 oracle. Large images
(:data:`STREAM_ABOVE`) and ``precision="float64"`` take the float64 row-band path
(:mod:`qbench.metrics.prepared_stream`, which imports torch); nothing else here does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import prepared_ssim
from .constants import PSNRB_BLOCK as BLOCK
from .pixels import as_metric_hwc, cropped, measured, planes

DATA_RANGE = 255.0
#: above this many bytes of float64 measured planes (128 MiB: 5.6 megapixels RGB, 16.8 gray or Y),
#: PSNR, SSIM and MS-SSIM keep the reference as its pixels and measure in row bands, in float64
#: (:mod:`qbench.metrics.prepared_stream`); the values agree with the whole-image path to 1e-6
STREAM_ABOVE = 128 << 20


@dataclass(frozen=True)
class PreparedReference:
    """What a full-reference protocol keeps of one reference image.

    PSNR: ``planes`` holds the measured reference ``(H, W, C)``: uint8 as given, or float64 (Y,
    float pixels). PSNR-B: its float64 ``(H, C, W)`` planes. SSIM / MS-SSIM: per scale the float32
    planes ``(H, C, W)``, in ``twice`` the planes doubled, in ``mu`` twice the Gaussian mean and in
    ``a0`` twice the Gaussian variance plus C2 (float32 full-width rows ``(H - 10, C, W)``, valid in
    columns ``[5, W - 5)``), and in ``exact`` the first scale in float64 when float32 does not hold
    it exactly (Y, float pixels).

    A streamed reference (a large image, see :data:`STREAM_ABOVE`) has ``pixels``, the cropped
    reference as given (a view, no copy), and in ``planes`` only MS-SSIM's coarser scales.
    """

    protocol: tuple[str, int, str]          # (type, crop_border, channels) it was prepared for
    shape: tuple[int, int, int]             # (H, W, C) of the reference as given
    planes: tuple[np.ndarray, ...]
    twice: tuple[np.ndarray, ...] = ()
    mu: tuple[np.ndarray, ...] = ()
    a0: tuple[np.ndarray, ...] = ()
    pixels: np.ndarray | None = None
    exact: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (for sizing a cache)."""
        own = sum(a.nbytes for a in (self.pixels, self.exact) if a is not None)
        return own + sum(a.nbytes for a in (*self.planes, *self.twice, *self.mu, *self.a0))


def streamed(shape: tuple[int, ...], border: int, channels: str) -> bool:
    """Whether an ``(H, W, C)`` image is measured in row bands (its float64 planes are large)."""
    h, w, c = shape[0] - 2 * border, shape[1] - 2 * border, shape[2]
    return 8 * h * w * (1 if channels == "y" else c) > STREAM_ABOVE


def _as_is(img: np.ndarray, channels: str) -> bool:
    """Whether ``img``'s measured pixels are its own uint8 values (no Y conversion)."""
    return img.dtype == np.uint8 and (channels != "y" or img.shape[2] == 1)


def prepare(ref: np.ndarray, kind: str, border: int = 0, channels: str = "rgb",
            precision: str = "float32") -> PreparedReference:
    """Prepare ``ref`` (``(H, W, C)``, uint8 or float in [0, 255]) for protocol ``kind``.

    ``precision="float64"`` measures PSNR, SSIM and MS-SSIM on the float64 row-band path."""
    ref = as_metric_hwc(ref)
    protocol = (kind, int(border), channels)
    if kind in ("psnr", "ssim", "ms_ssim") and (precision == "float64" or streamed(ref.shape, border, channels)):
        from . import prepared_stream

        x = cropped(ref, border)
        pyramid = () if kind == "psnr" else prepared_stream.prepare_pyramid(x, channels, kind == "ms_ssim")
        return PreparedReference(protocol, ref.shape, pyramid, pixels=x)
    if kind == "psnr":
        m = measured(ref, border, channels)
        x = np.ascontiguousarray(m) if _as_is(ref, channels) else np.asarray(m, dtype=np.float64)
        return PreparedReference(protocol, ref.shape, (x,))
    x = planes(ref, border, channels)
    if kind == "psnrb":
        if min(x.shape[0], x.shape[2]) < 2 * BLOCK:
            raise ValueError(f"PSNR-B needs images of at least {2 * BLOCK} px per side")
        return PreparedReference(protocol, ref.shape, (x,))
    if kind in ("ssim", "ms_ssim"):
        stats = prepared_ssim.prepare(x, multiscale=kind == "ms_ssim", data_range=DATA_RANGE)
        return PreparedReference(protocol, ref.shape, *stats, exact=None if _as_is(ref, channels) else x)
    raise ValueError(f"unknown full-reference type {kind!r}")


def compute(prep: PreparedReference, out: np.ndarray) -> float:
    """The value of ``out`` (same shape as the reference) under the prepared protocol."""
    out = as_metric_hwc(out)
    if out.shape != prep.shape:
        raise ValueError(f"reference {prep.shape} and output {out.shape} differ")
    kind, border, channels = prep.protocol
    if prep.pixels is not None:
        from . import prepared_stream

        y = cropped(out, border)
        if kind == "psnr":
            return prepared_stream.psnr(prep.pixels, y, 0, channels, DATA_RANGE)
        if kind == "ssim":
            return prepared_stream.ssim(prep.pixels, y, channels, DATA_RANGE)
        return prepared_stream.ms_ssim(prep.pixels, prep.planes, y, channels, DATA_RANGE)
    if kind == "psnr":
        return psnr(prep.planes[0], measured(out, border, channels))
    if kind == "psnrb":
        return psnrb(prep.planes[0], planes(out, border, channels))
    if prep.exact is None and _as_is(out, channels):
        d = prepared_ssim.difference(prep.planes[0], cropped(out, border))
    else:
        x = prep.exact if prep.exact is not None else prep.planes[0].astype(np.float64)
        d = prepared_ssim.difference(x, planes(out, border, channels))
    if kind == "ssim":
        return prepared_ssim.ssim((prep.planes, prep.twice, prep.mu, prep.a0), d, DATA_RANGE)
    return prepared_ssim.ms_ssim((prep.planes, prep.twice, prep.mu, prep.a0), d, DATA_RANGE)


def psnr(x: np.ndarray, y: np.ndarray, data_range: float = DATA_RANGE) -> float:
    """PSNR over all pixels and channels of ``x`` and ``y`` (``(H, W, C)`` alike): a uint8 pair
    exactly (:func:`_sse_uint8`), else in float64."""
    if x.dtype == np.uint8 and y.dtype == np.uint8:
        mse = _sse_uint8(x, y) / x.size
    else:
        d = np.subtract(y, x, dtype=np.float64)
        d *= d
        mse = float(d.sum()) / d.size
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


#: squared uint8 differences summed per row of this many in float32: at most 256 * 255**2 < 2**24,
#: so every partial sum is an exact integer whatever the order
_SSE_ROW = 256


def _sse_uint8(x: np.ndarray, y: np.ndarray) -> float:
    """The exact sum of squared differences of two uint8 arrays: absolute differences (OpenCV's
    absdiff where it applies), squares summed in float32 rows of :data:`_SSE_ROW` (exact, see
    there), the row sums in float64 (integers below 2**53). No BLAS call (a multithreaded BLAS
    dot product beside other busy processes was 20 times slower)."""
    from .band import opencv

    cv2 = opencv()
    if cv2 is not None and x.ndim == 3 and x.shape[2] <= 4 and x.flags.c_contiguous and y.flags.c_contiguous:
        ad = cv2.absdiff(x, y).reshape(-1)
    else:
        ad = np.subtract(np.maximum(x, y), np.minimum(x, y)).reshape(-1)
    n = ad.size - ad.size % _SSE_ROW
    d = ad[:n].reshape(-1, _SSE_ROW).astype(np.float32)
    rest = ad[n:].astype(np.float64)
    return float(np.einsum("ij,ij->i", d, d).sum(dtype=np.float64)) + float(np.square(rest).sum())


def psnrb(x: np.ndarray, y: np.ndarray, data_range: float = DATA_RANGE) -> float:
    """PSNR-B of planes ``y`` against ``x`` (``(H, C, W)``), as :func:`functional.psnrb`."""
    d = y - x
    mse = np.einsum("hcw,hcw->c", d, d) / (x.shape[0] * x.shape[2])
    with np.errstate(divide="ignore"):                     # identical images: +inf, as torch
        return float(np.mean(10.0 * np.log10(data_range**2 / (mse + blocking_effect_factor(y)))))


def blocking_effect_factor(y: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """BEF per channel of planes ``y`` ``(H, C, W)``; counts as :mod:`functional.psnrb`."""
    h, _, w = y.shape
    dw = np.diff(y, axis=2)
    dw *= dw
    col = dw.sum(axis=0)                                   # (C, W - 1)
    dh = np.diff(y, axis=0)
    dh *= dh
    row = dh.sum(axis=2).T                                 # (C, H - 1)
    at_w = np.zeros(w - 1, dtype=bool)
    at_w[block - 1::block] = True
    at_h = np.zeros(h - 1, dtype=bool)
    at_h[block - 1::block] = True
    d_b = col[:, at_w].sum(axis=1) + row[:, at_h].sum(axis=1)
    d_n = col[:, ~at_w].sum(axis=1) + row[:, ~at_h].sum(axis=1)
    n_bh, n_bv = h * (w // block - 1), w * (h // block - 1)
    n_nh, n_nv = h * (w - 1) - n_bh, w * (h - 1) - n_bv
    boundary = d_b / (n_bh + n_bv)
    inner = d_n / (n_nh + n_nv)
    scale = math.log2(block) / math.log2(min(h, w))
    return np.where(boundary > inner, scale * (boundary - inner), 0.0)
