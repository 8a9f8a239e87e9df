"""SSIM and MS-SSIM with the reference's statistics computed once.

The same protocol as :mod:`qbench.metrics.functional.ssim` (which stays the oracle): Gaussian
window, 'valid' filtering, ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, per-channel means, and for
MS-SSIM zero-padded 2x2 average pooling, clamped per-channel terms and the weighted product.
Per scale the reference keeps its planes, its Gaussian mean ``mu_x`` and ``var_x + C2``; a
measurement then filters only ``y``, ``y^2`` and ``x y``, stacked, in one call per scale.
Arrays are ``(H, C, W)`` (rows of planes, see :func:`qbench.metrics.pixels.planes`); the
reference is kept as numpy arrays and used through zero-copy torch views.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .functional.ssim import MS_SSIM_WEIGHTS, gaussian_1d
from .gaussian import BLOCK_H, empty, filter_valid

WIN, SIGMA = 11, 1.5
#: bytes of filtered maps per strip: strips of that size stay in cache (4 MiB: 64 rows of a
#: 768-wide RGB image, 192 of a luma one)
STRIP_BYTES = 4 << 20

Scales = tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], tuple[np.ndarray, ...]]


@functools.lru_cache(maxsize=2)
def taps(multiscale: bool) -> tuple[float, ...]:
    """The window of the protocol: float64 for SSIM, built in float32 for MS-SSIM (pytorch_msssim)."""
    dtype = torch.float32 if multiscale else torch.float64
    return tuple(gaussian_1d(WIN, SIGMA, dtype).to(torch.float64).tolist())


def check_size(shape: tuple[int, int], multiscale: bool) -> None:
    """Raise ValueError when an ``(H, W)`` image is too small for the protocol."""
    if multiscale:
        levels = len(MS_SSIM_WEIGHTS)
        need = (WIN - 1) * 2 ** (levels - 1)
        if min(shape) <= need:
            raise ValueError(f"MS-SSIM with {levels} scales needs images larger than {need} px on the "
                             f"short side, got {tuple(shape)}")
    elif min(shape) < WIN:
        raise ValueError(f"image {tuple(shape)} is smaller than the {WIN}x{WIN} SSIM window")


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


def prepare(x: np.ndarray, multiscale: bool, data_range: float = 255.0) -> Scales:
    """Per scale ``(x, mu_x, var_x + C2)`` for reference planes ``x`` ``(H, C, W)`` float64."""
    check_size((x.shape[0], x.shape[2]), multiscale)
    g = taps(multiscale)
    c2 = (0.03 * data_range) ** 2
    levels = len(MS_SSIM_WEIGHTS) if multiscale else 1
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    planes, mus, vars_c2 = [], [], []
    for i in range(levels):
        h, c, w = xt.shape
        stack = empty(h, 2, c, w)
        stack[:, 0] = xt
        torch.mul(xt, xt, out=stack[:, 1])
        f = filter_valid(stack.view(h, 2 * c, w), g).view(h - WIN + 1, 2, c, w - WIN + 1)
        mu = f[:, 0].contiguous()
        var = f[:, 1].addcmul(mu, mu, value=-1.0).add_(c2)
        planes.append(xt.numpy())
        mus.append(mu.numpy())
        vars_c2.append(var.numpy())
        if i < levels - 1:
            xt = pool2(xt)
    return tuple(planes), tuple(mus), tuple(vars_c2)


def _scale(x: torch.Tensor, mu_x: torch.Tensor, var_c2: torch.Tensor, y: torch.Tensor,
           g: tuple[float, ...], data_range: float,
           luminance: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-channel mean contrast-structure term and (with ``luminance``) mean SSIM at one scale.

    Works in strips of about :data:`STRIP_BYTES` of filtered maps, so the stacked maps, the
    filter's buffers and the statistics of a strip stay in cache (whole images are memory-bound).
    """
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    h, c, w = y.shape
    ho, wo = h - WIN + 1, w - WIN + 1
    rows = min(max(BLOCK_H, STRIP_BYTES // (24 * c * w) // BLOCK_H * BLOCK_H), ho)
    stack_buf = empty(rows + WIN - 1, 3, c, w)
    mid_buf = empty(rows, 3 * c * w)
    out_buf = empty(rows, 3, c, wo)
    cs_sum = torch.zeros(c, dtype=torch.float64)
    s_sum = torch.zeros(c, dtype=torch.float64)
    for r in range(0, ho, rows):
        b = min(rows, ho - r)
        stack = stack_buf[:b + WIN - 1]
        ys, xs = y[r:r + b + WIN - 1], x[r:r + b + WIN - 1]
        stack[:, 0] = ys
        torch.mul(ys, ys, out=stack[:, 1])
        torch.mul(xs, ys, out=stack[:, 2])
        f = filter_valid(stack.view(b + WIN - 1, 3 * c, w), g, out=out_buf[:b].view(b, 3 * c, wo),
                         mid=mid_buf[:b]).view(b, 3, c, wo)
        mu_y, den, cs = f[:, 0], f[:, 1], f[:, 2]       # E[y], E[y^2], E[xy] (reused in place)
        accumulate(mu_y, den, cs, mu_x[r:r + b], var_c2[r:r + b], c1, c2, cs_sum, s_sum if luminance else None)
    n = ho * wo
    return cs_sum / n, (s_sum / n if luminance else None)


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


def _views(prep: Scales) -> list[tuple[torch.Tensor, ...]]:
    return [tuple(torch.from_numpy(a) for a in scale) for scale in zip(*prep)]


def ssim(prep: Scales, y: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of planes ``y`` against a reference prepared with ``multiscale=False``."""
    (x, mu, var), = _views(prep)
    _, s = _scale(x, mu, var, torch.from_numpy(y), taps(False), data_range, luminance=True)
    return float(s.mean())


def ms_ssim(prep: Scales, y: np.ndarray, data_range: float = 255.0) -> float:
    """MS-SSIM of planes ``y`` against a reference prepared with ``multiscale=True``."""
    scales = _views(prep)
    g = taps(True)
    yt = torch.from_numpy(y)
    terms = []
    for i, (x, mu, var) in enumerate(scales):
        last = i == len(scales) - 1
        cs, s = _scale(x, mu, var, yt, g, data_range, luminance=last)
        terms.append(s if last else cs)
        if not last:
            yt = pool2(yt)
    stack = torch.relu(torch.stack(terms))               # (levels, C)
    w = torch.tensor(MS_SSIM_WEIGHTS, dtype=torch.float64).view(-1, 1)
    return float(torch.prod(stack ** w, dim=0).mean())
