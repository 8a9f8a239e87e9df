"""SSIM and MS-SSIM with the reference's statistics computed once; the distorted side in float32.

The protocol of :mod:`qbench.metrics.functional.ssim` (the float64 oracle): Gaussian window,
'valid' filtering, ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, per-channel means, and for MS-SSIM
zero-padded 2x2 average pooling, clamped per-channel terms and the weighted product.

The reference side is computed once per image in float64 with the protocol's window, a strip of
rows at a time: per scale the planes ``x`` and ``2 x``, the doubled Gaussian mean ``2 mu_x`` and
``2 var_x + C2``, kept as float32 (the doubled ones save a pass per measurement; doubling is exact
in binary floating point). A measurement works on the difference ``d = y - x`` (float32; exact for
uint8 pixels), filtering ``d``, ``d^2`` and ``2 x d`` in one call per scale, because every SSIM
term follows from them exactly (the filter is linear, also for a window whose taps do not sum to
exactly one)::

    cov_xd = E[x d] - mu_x mu_d,   var_d = E[d^2] - mu_d^2,   A = 2 var_x + C2 + 2 cov_xd
    cs = A / (A + var_d),          B = 2 mu_x (mu_x + mu_d) + C1,   luminance = B / (B + mu_d^2)

so the cancellations that make plain float32 SSIM inexact (``E[y^2] - mu_y^2`` of values near
255^2) happen on the small differences only. The coarser scales of ``d`` are its 2x2 means (the
pooling is linear). Against the float64 oracle the values differ by less than 1e-6 (SSIM and
MS-SSIM of JPEG-coded photographs, tested at 2e-6). Arrays are ``(H, C, W)`` (rows of planes,
see :func:`qbench.metrics.pixels.planes`); nothing here imports torch.
"""

from __future__ import annotations

import numpy as np

from .band import BLOCK_H, filter_maps
from .constants import MS_SSIM_WEIGHTS

WIN, SIGMA = 11, 1.5
#: SSIM's window: the normalised float64 Gaussian (as ``functional.ssim.gaussian_1d``)
TAPS_SSIM = tuple(float(v) for v in (lambda g: g / g.sum())(np.exp(-((np.arange(WIN) - (WIN - 1) / 2.0) ** 2)
                                                                   / (2 * SIGMA**2))))
#: MS-SSIM's window: built in float32 as pytorch_msssim builds it (part of the protocol: it moves
#: MS-SSIM by up to ~1e-6); the values torch's float32 ``exp`` gives, which numpy's may miss by an ulp
TAPS_MS_SSIM = (0.0010283803567290306, 0.0075987582094967365, 0.036000773310661316, 0.10936068743467331,
                0.21300552785396576, 0.26601171493530273, 0.21300552785396576, 0.10936068743467331,
                0.036000773310661316, 0.0075987582094967365, 0.0010283803567290306)
#: bytes of float32 filtered maps per strip: a strip's maps and buffers stay in cache (1 MiB: 48
#: rows of a 768-wide RGB image)
STRIP_BYTES = 1 << 20

Scales = tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], tuple[np.ndarray, ...], tuple[np.ndarray, ...]]


def taps(multiscale: bool) -> tuple[float, ...]:
    """The window of the protocol."""
    return TAPS_MS_SSIM if multiscale else TAPS_SSIM


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


def pool2(a: np.ndarray) -> np.ndarray:
    """torch ``avg_pool2d(kernel 2, padding (H % 2, W % 2))`` on ``(H, C, W)`` planes: an odd side
    gets a zero row/column in front (counted in the average), then 2x2 means (same dtype)."""
    ph, pw = a.shape[0] % 2, a.shape[2] % 2
    if ph or pw:
        a = np.pad(a, ((ph, 0), (0, 0), (pw, 0)))
    s = a[0::2, :, 0::2] + a[0::2, :, 1::2]
    s += a[1::2, :, 0::2]
    s += a[1::2, :, 1::2]
    s *= a.dtype.type(0.25)
    return s


def _strip_rows(ho: int, bytes_per_row: int) -> int:
    """Output rows per strip: about :data:`STRIP_BYTES` of maps, a multiple of ``BLOCK_H`` (so
    strips cut the filter's row blocks where the whole image would), at most ``ho``."""
    return min(max(BLOCK_H, STRIP_BYTES // bytes_per_row // BLOCK_H * BLOCK_H), ho)


def prepare(x: np.ndarray, multiscale: bool, data_range: float = 255.0) -> Scales:
    """Per scale ``(x, 2 x, 2 mu_x, 2 var_x + C2)`` (float32) of reference planes ``x`` ``(H, C, W)``,
    computed in float64, in strips of rows (as :func:`_scale`: whole float64 images are
    memory-bound, and two workers preparing at once halved each other's speed)."""
    check_size((x.shape[0], x.shape[2]), multiscale)
    g = taps(multiscale)
    c2 = (0.03 * data_range) ** 2
    levels = len(MS_SSIM_WEIGHTS) if multiscale else 1
    x = np.ascontiguousarray(x, dtype=np.float64)
    planes, twice, mus, a0s = [], [], [], []
    for i in range(levels):
        mu, a0 = _reference_scale(x, g, c2)
        x32 = x.astype(np.float32)
        planes.append(x32)
        twice.append(x32 * np.float32(2.0))
        mus.append(mu)
        a0s.append(a0)
        if i < levels - 1:
            x = pool2(x)
    return tuple(planes), tuple(twice), tuple(mus), tuple(a0s)


def _reference_scale(x: np.ndarray, g: tuple[float, ...], c2: float) -> tuple[np.ndarray, np.ndarray]:
    """``2 mu_x`` and ``2 var_x + C2`` (float32, full-width rows ``(H - 10, C, W)``: the valid
    columns are ``[5, W - 5)``, see :func:`.band.filter_maps`) of float64 planes ``x``
    ``(H, C, W)``, filtered a strip of rows at a time (the buffers are freed on return)."""
    h, c, w = x.shape
    ho = h - WIN + 1
    rows = _strip_rows(ho, 16 * c * w)
    stack_buf = np.empty(2 * (rows + WIN - 1) * c * w)
    mid_buf, wide_buf = np.empty(2 * rows * c * w), np.empty(2 * rows * c * w)
    tmp_buf = np.empty(rows * c * w)
    mu = np.empty((ho, c, w), np.float32)
    a0 = np.empty((ho, c, w), np.float32)
    with np.errstate(all="ignore"):             # the border columns hold partial sums
        for r in range(0, ho, rows):
            b = min(rows, ho - r)
            stack = stack_buf[:2 * (b + WIN - 1) * c * w].reshape(2, b + WIN - 1, c, w)
            xs, t = x[r:r + b + WIN - 1], tmp_buf[:b * c * w].reshape(b, c, w)
            stack[0] = xs
            np.multiply(xs, xs, out=stack[1])
            m, v = filter_maps(stack, g, mid=mid_buf, wide=wide_buf)      # E[x], E[x^2]
            np.multiply(m, 2.0, out=mu[r:r + b], casting="same_kind")   # 2 mu_x (doubling is exact)
            np.multiply(m, m, out=t)
            v -= t                                                      # var_x
            v *= 2.0
            v += c2
            a0[r:r + b] = v
    return mu, a0


def difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y - x`` as float32 ``(H, C, W)`` planes: ``y`` is uint8 ``(H, W, C)`` pixels measured as
    they are and ``x`` the float32 reference planes (exact), or both are float64 planes."""
    if y.dtype == np.uint8:
        d = np.empty(x.shape, np.float32)
        np.subtract(y.transpose(0, 2, 1), x, out=d)
        return d
    return np.subtract(y, x).astype(np.float32)


def _scale(x2: np.ndarray, mu2: np.ndarray, a0: np.ndarray, d: np.ndarray, g: tuple[float, ...],
           c1: float, luminance: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-channel mean contrast-structure term and (with ``luminance``) mean SSIM at one scale,
    from the reference's doubled planes ``2 x``, doubled mean ``2 mu_x`` and ``2 var_x + C2``
    (full-width rows) and the difference planes ``d``.

    Filtering ``2 x d`` gives ``2 E[x d]`` exactly (doubling is exact in binary floating point),
    which saves the doubling pass of ``cov_xd``. Works in strips of about :data:`STRIP_BYTES` of
    filtered maps, so a strip's stacked maps, the filter's buffers and the statistics stay in
    cache (whole images are memory-bound); the maps are stacked maps-first and the arithmetic runs
    on full-width rows, so every operand is contiguous, and the border columns are left out of the
    sums (:func:`.band.filter_maps`)."""
    h, c, w = d.shape
    ho, wo, off = h - WIN + 1, w - WIN + 1, WIN // 2
    rows = _strip_rows(ho, 12 * c * w)
    f32 = np.float32
    stack_buf = np.empty(3 * (rows + WIN - 1) * c * w, f32)
    mid_buf, wide_buf = np.empty(3 * rows * c * w, f32), np.empty(3 * rows * c * w, f32)
    tmp_buf = np.empty(rows * c * w, f32)
    cs_sum = np.zeros(c)
    s_sum = np.zeros(c)
    with np.errstate(all="ignore"):             # the border columns hold partial sums
        for r in range(0, ho, rows):
            b = min(rows, ho - r)
            stack = stack_buf[:3 * (b + WIN - 1) * c * w].reshape(3, b + WIN - 1, c, w)
            ds, xs = d[r:r + b + WIN - 1], x2[r:r + b + WIN - 1]
            stack[0] = ds
            np.multiply(ds, ds, out=stack[1])
            np.multiply(xs, ds, out=stack[2])
            mu_d, var_d, a = filter_maps(stack, g, mid=mid_buf, wide=wide_buf)   # E[d], E[d^2], 2 E[xd]
            m2, t = mu2[r:r + b], tmp_buf[:b * c * w].reshape(b, c, w)
            np.multiply(m2, mu_d, out=t)
            a -= t                                       # 2 cov_xd
            a += a0[r:r + b]                             # A = 2 var_x + C2 + 2 cov_xd
            np.multiply(mu_d, mu_d, out=t)
            var_d -= t                                   # var_d
            var_d += a
            np.divide(a, var_d, out=a)                   # cs
            cs_sum += a[:, :, off:off + wo].sum(axis=(0, 2), dtype=np.float64)
            if luminance:
                lum = var_d
                np.multiply(m2, f32(0.5), out=lum)       # mu_x
                lum += mu_d
                lum *= m2
                lum += f32(c1)                           # B = 2 mu_x (mu_x + mu_d) + C1
                t += lum
                np.divide(lum, t, out=lum)
                lum *= a
                s_sum += lum[:, :, off:off + wo].sum(axis=(0, 2), dtype=np.float64)
    n = ho * wo
    return cs_sum / n, (s_sum / n if luminance else None)


def ssim(prep: Scales, d: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of difference planes ``d`` (:func:`difference`) against a reference prepared
    with ``multiscale=False``."""
    _, (x2,), (mu2,), (a0,) = prep
    _, s = _scale(x2, mu2, a0, d, taps(False), (0.01 * data_range) ** 2, luminance=True)
    return float(s.mean())


def ms_ssim(prep: Scales, d: np.ndarray, data_range: float = 255.0) -> float:
    """MS-SSIM of difference planes ``d`` (:func:`difference`) against a reference prepared with
    ``multiscale=True``."""
    g, c1 = taps(True), (0.01 * data_range) ** 2
    levels = len(prep[0])
    terms = []
    for i, (x2, mu2, a0) in enumerate(zip(*prep[1:])):
        last = i == levels - 1
        cs, s = _scale(x2, mu2, a0, d, g, c1, luminance=last)
        terms.append(s if last else cs)
        if not last:
            d = pool2(d)
    stack = np.maximum(np.stack(terms), 0.0)             # (levels, C)
    w = np.asarray(MS_SSIM_WEIGHTS).reshape(-1, 1)
    return float(np.prod(stack**w, axis=0).mean())
