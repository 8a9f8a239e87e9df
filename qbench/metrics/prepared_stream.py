"""PSNR, SSIM and MS-SSIM of large images in row bands: memory bounded by the band, not the image.

:mod:`qbench.metrics.prepared` keeps a reference's planes and SSIM statistics whole, which is
fastest for the usual test images but costs about 16 bytes per pixel and channel, and float64
while preparing (a 64-megapixel RGB image: several GB). Above :data:`qbench.metrics.prepared.STREAM_ABOVE` bytes of float64 planes
the reference is kept as its pixels (uint8, no copy), and a measurement converts, filters and sums
a band of rows at a time: PSNR sums squared differences per band; SSIM filters ``y``, ``y^2``,
``xy``, ``x`` and ``x^2`` of a strip together (the reference statistics are recomputed per strip
instead of stored); MS-SSIM streams its first scale from the pixels and keeps the coarser scales
(a quarter of the first and below) as arrays, pooled band by band: float32 for uint8 pixels
measured as they are (exact: each value is a multiple of 1/256 below 256), float64 for Y and
float images.

This is qbench's float64 path (also taken for any image size with ``precision="float64"``): its
values equal the functional oracle to 1e-12 (PSNR: to 1e-9 dB; uint8 PSNR exactly, integer sums
below 2^53) and the float32 whole-image path (:mod:`qbench.metrics.prepared_ssim`) to 1e-6.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .functional.ssim import MS_SSIM_WEIGHTS
from .gaussian import BLOCK_H, empty, filter_valid
from .pixels import cropped, planes
from .prepared_ssim import WIN, check_size, taps

#: float64 bytes of filtered maps per strip (a strip of an 8000-wide RGB image: 32 rows)
STRIP_BYTES = 32 << 20
#: float64 bytes per PSNR band
BAND_BYTES = 16 << 20


def pool2(a: torch.Tensor) -> torch.Tensor:
    """torch ``avg_pool2d(kernel 2, padding (H % 2, W % 2))`` on ``(H, C, W)`` planes: an odd side
    gets a zero row/column in front (counted in the average), then 2x2 means."""
    ph, pw = a.shape[0] % 2, a.shape[2] % 2
    if ph or pw:
        a = torch.nn.functional.pad(a, (pw, 0, 0, 0, ph, 0))
    s = a[0::2, :, 0::2] + a[0::2, :, 1::2]
    s += a[1::2, :, 0::2]
    s += a[1::2, :, 1::2]
    return s.mul_(0.25)


def accumulate(mu_y: torch.Tensor, den: torch.Tensor, cs: torch.Tensor, mx: torch.Tensor,
               var_c2: torch.Tensor, c1: float, c2: float, cs_sum: torch.Tensor,
               s_sum: torch.Tensor | None) -> None:
    """Add one strip's per-channel sums of the contrast-structure term to ``cs_sum`` and (unless
    ``s_sum`` is None) of SSIM to ``s_sum``, from the filtered E[y] (``mu_y``), E[y^2] (``den``),
    E[xy] (``cs``), the reference mean ``mx`` and var_x + C2; ``den`` and ``cs`` are reused in place."""
    den.addcmul_(mu_y, mu_y, value=-1.0).add_(var_c2)     # var_y + var_x + C2
    cs.addcmul_(mx, mu_y, value=-1.0)                     # cov_xy
    cs.mul_(2.0).add_(c2).div_(den)
    cs_sum += cs.sum(dim=(0, 2))
    if s_sum is not None:
        num = torch.mul(mx, mu_y).mul_(2.0).add_(c1)
        torch.mul(mu_y, mu_y, out=den).addcmul_(mx, mx).add_(c1)
        s_sum += num.div_(den).mul_(cs).sum(dim=(0, 2))


def measured_rows(src: np.ndarray, channels: str, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of ``src`` (an already cropped ``(H, W, C)`` image) as float64 ``(rows, C', W)``
    planes, exactly as :func:`qbench.metrics.pixels.planes` makes them from the whole image."""
    return planes(src[r0:r1], 0, channels)


def _channels_of(src: np.ndarray, channels: str) -> int:
    return 1 if channels == "y" else src.shape[2]


# -- PSNR --------------------------------------------------------------------------------------------
def psnr(x: np.ndarray, y: np.ndarray, border: int, channels: str, data_range: float = 255.0) -> float:
    """PSNR of image ``y`` against reference ``x`` (both ``(H, W, C)``, uncropped) in row bands."""
    from .pixels import measured

    xs, ys = cropped(x, border), cropped(y, border)
    h, w = xs.shape[:2]
    c = _channels_of(xs, channels)
    rows = max(1, BAND_BYTES // (8 * w * c))
    total, n = 0.0, h * w * c
    for r in range(0, h, rows):
        d = torch.from_numpy(np.subtract(measured(ys[r:r + rows], 0, channels),
                                         measured(xs[r:r + rows], 0, channels), dtype=np.float64).ravel())
        total += float(torch.dot(d, d))
    mse = total / n
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


# -- SSIM / MS-SSIM ------------------------------------------------------------------------------------
class _Rows:
    """Float64 ``(rows, C, W)`` planes of one scale, read band by band: from an image's pixels
    (the first scale) or from a whole array (the coarser scales, float64 or float32)."""

    def __init__(self, src: np.ndarray | None = None, channels: str = "rgb", array: np.ndarray | None = None):
        self.src, self.channels, self.array = src, channels, array
        if array is not None:
            self.h, self.c, self.w = array.shape
        else:
            self.h, self.w, self.c = src.shape[0], src.shape[1], _channels_of(src, channels)

    def __call__(self, r0: int, r1: int) -> torch.Tensor:
        if self.array is not None:
            return torch.from_numpy(self.array[r0:r1]).to(torch.float64)
        return torch.from_numpy(measured_rows(self.src, self.channels, r0, r1))

    def pooled(self, dtype=np.float64) -> np.ndarray:
        """:func:`qbench.metrics.prepared_ssim.pool2` of the whole scale, made a band at a time,
        stored as ``dtype``."""
        ph = self.h % 2
        ho = (self.h + ph) // 2
        out = None
        step = max(2, (STRIP_BYTES // (8 * self.c * self.w)) // 2 * 2)     # padded rows per band (even)
        for p0 in range(0, self.h + ph, step):                  # rows of the zero-padded scale
            p1 = min(p0 + step, self.h + ph)
            band = self(max(0, p0 - ph), p1 - ph)
            if ph and p0 == 0:
                band = torch.cat([torch.zeros((1, self.c, self.w), dtype=torch.float64), band])
            pooled = pool2(band)
            if out is None:
                out = np.empty((ho, self.c, pooled.shape[2]), dtype=dtype)
            out[p0 // 2:p1 // 2] = pooled.numpy()
        return out


def pyramid_dtype(src: np.ndarray, channels: str):
    """float32 for the coarser scales of uint8 pixels measured as they are (every 2x2 mean of
    them, down to MS-SSIM's fifth scale, is a multiple of 1/256 below 256: exact in float32);
    float64 for Y and float images."""
    exact = src.dtype == np.uint8 and (channels != "y" or src.shape[2] == 1)
    return np.float32 if exact else np.float64


def pyramid(src: np.ndarray, channels: str) -> list[np.ndarray]:
    """MS-SSIM's coarser scales (2nd to last) of a cropped image, each pooled band by band."""
    dtype = pyramid_dtype(src, channels)
    scales = [_Rows(src, channels).pooled(dtype)]
    for _ in range(len(MS_SSIM_WEIGHTS) - 2):
        scales.append(_Rows(array=scales[-1]).pooled(dtype))
    return scales


def _scale(x: _Rows, y: _Rows, g: tuple[float, ...], data_range: float,
           luminance: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-channel mean contrast-structure term and (with ``luminance``) mean SSIM at one scale,
    strip by strip, with the reference's statistics filtered in the same strip."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    h, c, w = y.h, y.c, y.w
    ho, wo = h - WIN + 1, w - WIN + 1
    rows = min(max(BLOCK_H, STRIP_BYTES // (40 * c * w) // BLOCK_H * BLOCK_H), ho)
    stack_buf = empty(rows + WIN - 1, 5, c, w)
    mid_buf = empty(rows, 5 * c * w)
    out_buf = empty(rows, 5, c, wo)
    cs_sum = torch.zeros(c, dtype=torch.float64)
    s_sum = torch.zeros(c, dtype=torch.float64)
    for r in range(0, ho, rows):
        b = min(rows, ho - r)
        stack = stack_buf[:b + WIN - 1]
        ys, xs = y(r, r + b + WIN - 1), x(r, r + b + WIN - 1)
        stack[:, 0] = ys
        torch.mul(ys, ys, out=stack[:, 1])
        torch.mul(xs, ys, out=stack[:, 2])
        stack[:, 3] = xs
        torch.mul(xs, xs, out=stack[:, 4])
        f = filter_valid(stack.view(b + WIN - 1, 5 * c, w), g, out=out_buf[:b].view(b, 5 * c, wo),
                         mid=mid_buf[:b]).view(b, 5, c, wo)
        mu_y, den, cs, mx = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
        var_c2 = f[:, 4].addcmul_(mx, mx, value=-1.0).add_(c2)      # var_x + C2, as prepare() makes it
        accumulate(mu_y, den, cs, mx, var_c2, c1, c2, cs_sum, s_sum if luminance else None)
    n = ho * wo
    return cs_sum / n, (s_sum / n if luminance else None)


def prepare_pyramid(x: np.ndarray, channels: str, multiscale: bool) -> tuple[np.ndarray, ...]:
    """The coarser scales of a cropped reference (none for SSIM), ``(H, C, W)`` each."""
    rows = _Rows(x, channels)
    check_size((rows.h, rows.w), multiscale)
    return tuple(pyramid(x, channels)) if multiscale else ()


def ssim(x: np.ndarray, y: np.ndarray, channels: str, data_range: float = 255.0) -> float:
    """Mean SSIM of cropped image ``y`` against cropped reference ``x`` (``(H, W, C)``), streamed."""
    _, s = _scale(_Rows(x, channels), _Rows(y, channels), taps(False), data_range, luminance=True)
    return float(s.mean())


def ms_ssim(x: np.ndarray, x_pyramid: tuple[np.ndarray, ...], y: np.ndarray, channels: str,
            data_range: float = 255.0) -> float:
    """MS-SSIM of cropped ``y`` against cropped reference ``x`` with its coarser scales ``x_pyramid``."""
    g = taps(True)
    xs = [_Rows(x, channels)] + [_Rows(array=a) for a in x_pyramid]
    ys = [_Rows(y, channels)] + [_Rows(array=a) for a in pyramid(y, channels)]
    terms = []
    levels = len(MS_SSIM_WEIGHTS)
    for i in range(levels):
        last = i == levels - 1
        cs, s = _scale(xs[i], ys[i], g, data_range, luminance=last)
        terms.append(s if last else cs)
    stack = torch.relu(torch.stack(terms))
    w = torch.tensor(MS_SSIM_WEIGHTS, dtype=torch.float64).view(-1, 1)
    return float(torch.prod(stack ** w, dim=0).mean())
