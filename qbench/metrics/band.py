"""'Valid' separable filtering of stacked planes by banded matrix products, in numpy.

A 1-D 'valid' correlation with ``n`` taps maps ``block + n - 1`` consecutive samples to ``block``
outputs: a product with a ``(block + n - 1, block)`` band matrix. Cutting an axis into blocks
turns the filter into a few large GEMMs (BLAS speed, no temporaries per tap), and only the valid
region is computed. Along H (across rows of planes) that is the fastest way measured; along W
OpenCV's row filter (``cv2.filter2D`` with a ``1 x n`` kernel, SIMD, zero border, the valid columns
kept as a view) is faster still: on a strip of 32 rows of 9 stacked Kodak planes, float32, one
thread, 0.19 ms for both passes against 0.26 ms with GEMMs along both
(``benchmarks/bench_gaussian_filter.py --blocks``). Without cv2 the GEMM pass along W is used. Sums equal a direct correlation up to the order of additions. This is the
numpy twin of :mod:`qbench.metrics.gaussian` (torch, float64, used by the streamed path): any
float dtype, no torch import. Measured against scipy.ndimage, torch conv1d and shifted sums in
``benchmarks/bench_gaussian_filter.py``: the fastest on one thread in float32.
"""

from __future__ import annotations

import functools

import numpy as np

#: outputs per band block along H and along W. Smaller blocks waste fewer multiplications by zero
#: (a 16-wide block reads 26 inputs per 16 outputs, a 24-wide one 34 per 24), larger ones make
#: larger GEMMs; on the SSIM kernels' strips (32 rows of 9 stacked Kodak planes, float32, one
#: thread) 4 x 16 filtered in 0.36 ms against 0.50 ms for 8 x 24, and the float64 strips of
#: ``prepared_ssim.prepare`` are fastest with it as well (``bench_gaussian_filter.py --blocks``)
BLOCK_H, BLOCK_W = 4, 16


@functools.lru_cache(maxsize=16)
def band(taps: tuple[float, ...], block: int, dtype: str) -> np.ndarray:
    """The ``(block + n - 1, block)`` matrix whose column ``j`` holds the taps from row ``j``."""
    n = len(taps)
    k = np.zeros((block + n - 1, block), dtype=dtype)
    t = np.asarray(taps, dtype=dtype)
    for j in range(block):
        k[j:j + n, j] = t
    k.setflags(write=False)
    return k


@functools.lru_cache(maxsize=16)
def band_t(taps: tuple[float, ...], block: int, dtype: str) -> np.ndarray:
    """:func:`band` transposed, C-contiguous."""
    k = np.ascontiguousarray(band(taps, block, dtype).T)
    k.setflags(write=False)
    return k


def filter_valid(a: np.ndarray, taps: tuple[float, ...], mid: np.ndarray | None = None,
                 wide: np.ndarray | None = None, rows: str | None = None) -> np.ndarray:
    """Correlate every plane of ``a`` ``(H, P, W)`` (C-contiguous float32 or float64) with ``taps``
    (rounded to ``a``'s dtype) along H and W.

    Returns the valid part ``(H - n + 1, P, W - n + 1)``: a strided view of ``wide``, a
    C-contiguous ``((H - n + 1) * P, W)`` work buffer (allocated when None), as ``mid``, the
    ``(H - n + 1, P * W)`` one of the pass along H. ``rows`` picks the pass along W:
    ``"opencv"`` (the default when cv2 imports) or ``"gemm"``.
    """
    h, p, w = a.shape
    n = len(taps)
    ho, wo = h - n + 1, w - n + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"planes {h}x{w} are smaller than the {n}-tap window")
    dt = a.dtype.name
    src = a.reshape(h, p * w)
    mid = np.empty((ho, p * w), a.dtype) if mid is None else mid
    kt, bh = band_t(taps, BLOCK_H, dt), BLOCK_H
    for i in range(0, ho, bh):                          # along H: band^T @ row blocks, all planes
        if i + bh > ho:
            bh = ho - i
            kt = kt[:bh, :bh + n - 1]
        np.matmul(kt, src[i:i + bh + n - 1], out=mid[i:i + bh])
    lines = mid.reshape(ho * p, w)
    wide = np.empty((ho * p, w), a.dtype) if wide is None else wide
    cv2 = _opencv() if rows in (None, "opencv") else None
    if cv2 is not None:                                 # along W: OpenCV's row filter, then the valid columns
        cv2.filter2D(lines, -1, row_kernel(taps, dt), dst=wide, borderType=cv2.BORDER_CONSTANT)
        return wide.reshape(ho, p, w)[:, :, n // 2:n // 2 + wo]
    if rows not in (None, "gemm"):
        raise ValueError(f"unknown pass along W {rows!r}; choose opencv or gemm")
    k, bw = band(taps, BLOCK_W, dt), BLOCK_W
    for j in range(0, wo, bw):                          # along W: column blocks @ band
        if j + bw > wo:
            bw = wo - j
            k = k[:bw + n - 1, :bw]
        np.matmul(lines[:, j:j + bw + n - 1], k, out=wide[:, j:j + bw])
    return wide.reshape(ho, p, w)[:, :, :wo]


@functools.lru_cache(maxsize=16)
def row_kernel(taps: tuple[float, ...], dtype: str) -> np.ndarray:
    """``taps`` as OpenCV's ``(1, n)`` kernel in ``dtype``."""
    k = np.asarray(taps, dtype=dtype).reshape(1, -1)
    k.setflags(write=False)
    return k


@functools.lru_cache(maxsize=1)
def _opencv():
    """cv2, or None where it does not import (the GEMM pass along W is used then)."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2
