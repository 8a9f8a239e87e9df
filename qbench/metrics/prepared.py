"""Full-reference protocols with a prepared reference: one pristine image, many distorted ones.

:func:`prepare` does everything that depends on the reference alone (crop, BT.601 Y, float64,
and for SSIM / MS-SSIM the per-scale Gaussian statistics and the reference pyramid) and returns
a :class:`PreparedReference` of plain numpy arrays; :func:`compute` measures one output against
it. Values equal :mod:`qbench.metrics.functional` (the oracle) to within rounding: summation
order differs, nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import prepared_ssim, prepared_stream
from .functional.psnrb import BLOCK
from .pixels import as_metric_hwc, cropped, measured, planes

DATA_RANGE = 255.0
#: above this many bytes of float64 measured planes (128 MiB: 5.6 megapixels RGB, 16.8 gray or Y),
#: PSNR, SSIM and MS-SSIM keep the reference as its pixels and measure in row bands
#: (:mod:`qbench.metrics.prepared_stream`); the values are the same
STREAM_ABOVE = 128 << 20


@dataclass(frozen=True)
class PreparedReference:
    """What a full-reference protocol keeps of one reference image.

    ``planes`` holds the measured reference per scale (PSNR: ``(H, W, C)``; others ``(H, C, W)``,
    float64); ``mu`` and ``var_c2`` the SSIM statistics per scale (Gaussian mean of the reference
    and its Gaussian variance plus C2, ``(H - 10, C, W - 10)``), empty for PSNR / PSNR-B.

    A streamed reference (a large image, see :data:`STREAM_ABOVE`) has ``pixels``, the cropped
    reference as given (a view, no copy), and in ``planes`` only MS-SSIM's coarser scales.
    """

    protocol: tuple[str, int, str]          # (type, crop_border, channels) it was prepared for
    shape: tuple[int, int, int]             # (H, W, C) of the reference as given
    planes: tuple[np.ndarray, ...]
    mu: tuple[np.ndarray, ...] = ()
    var_c2: tuple[np.ndarray, ...] = ()
    pixels: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (for sizing a cache)."""
        own = 0 if self.pixels is None else self.pixels.nbytes
        return own + sum(a.nbytes for a in (*self.planes, *self.mu, *self.var_c2))


def streamed(shape: tuple[int, ...], border: int, channels: str) -> bool:
    """Whether an ``(H, W, C)`` image is measured in row bands (its float64 planes are large)."""
    h, w, c = shape[0] - 2 * border, shape[1] - 2 * border, shape[2]
    return 8 * h * w * (1 if channels == "y" else c) > STREAM_ABOVE


def prepare(ref: np.ndarray, kind: str, border: int = 0, channels: str = "rgb") -> PreparedReference:
    """Prepare ``ref`` (``(H, W, C)``, uint8 or float in [0, 255]) for protocol ``kind``."""
    ref = as_metric_hwc(ref)
    protocol = (kind, int(border), channels)
    if kind in ("psnr", "ssim", "ms_ssim") and streamed(ref.shape, border, channels):
        x = cropped(ref, border)
        pyramid = () if kind == "psnr" else prepared_stream.prepare_pyramid(x, channels, kind == "ms_ssim")
        return PreparedReference(protocol, ref.shape, pyramid, pixels=x)
    if kind == "psnr":
        x = np.ascontiguousarray(measured(ref, border, channels), dtype=np.float64)
        return PreparedReference(protocol, ref.shape, (x,))
    x = planes(ref, border, channels)
    if kind == "psnrb":
        if min(x.shape[0], x.shape[2]) < 2 * BLOCK:
            raise ValueError(f"PSNR-B needs images of at least {2 * BLOCK} px per side")
        return PreparedReference(protocol, ref.shape, (x,))
    if kind in ("ssim", "ms_ssim"):
        stats = prepared_ssim.prepare(x, multiscale=kind == "ms_ssim", data_range=DATA_RANGE)
        return PreparedReference(protocol, ref.shape, *stats)
    raise ValueError(f"unknown full-reference type {kind!r}")


def compute(prep: PreparedReference, out: np.ndarray) -> float:
    """The value of ``out`` (same shape as the reference) under the prepared protocol."""
    out = as_metric_hwc(out)
    if out.shape != prep.shape:
        raise ValueError(f"reference {prep.shape} and output {out.shape} differ")
    kind, border, channels = prep.protocol
    if prep.pixels is not None:
        y = cropped(out, border)
        if kind == "psnr":
            return prepared_stream.psnr(prep.pixels, y, 0, channels, DATA_RANGE)
        if kind == "ssim":
            return prepared_stream.ssim(prep.pixels, y, channels, DATA_RANGE)
        return prepared_stream.ms_ssim(prep.pixels, prep.planes, y, channels, DATA_RANGE)
    if kind == "psnr":
        return psnr(prep.planes[0], measured(out, border, channels))
    y = planes(out, border, channels)
    if kind == "psnrb":
        return psnrb(prep.planes[0], y)
    if kind == "ssim":
        return prepared_ssim.ssim((prep.planes, prep.mu, prep.var_c2), y, DATA_RANGE)
    return prepared_ssim.ms_ssim((prep.planes, prep.mu, prep.var_c2), y, DATA_RANGE)


def psnr(x: np.ndarray, y: np.ndarray, data_range: float = DATA_RANGE) -> float:
    """PSNR over all pixels and channels of ``x`` (float64) and ``y`` (any layout alike)."""
    d = torch.from_numpy(np.subtract(y, x, dtype=np.float64).ravel())
    mse = float(torch.dot(d, d)) / d.numel()        # torch's BLAS follows torch.set_num_threads
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


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
