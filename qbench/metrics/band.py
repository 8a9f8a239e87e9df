"""'Valid' separable filtering of stacked planes, in numpy (banded GEMMs) and OpenCV.

A 1-D 'valid' correlation with ``n`` taps maps ``block + n - 1`` consecutive samples to ``block``
outputs: a product with a ``(block + n - 1, block)`` band matrix. Cutting an axis into blocks
turns the filter into a few large GEMMs (BLAS speed, no temporaries per tap), and only the valid
region is computed. Along H (across rows of planes) that is the fastest way measured; along W
OpenCV's row filter (``cv2.filter2D`` with a ``1 x n`` kernel, SIMD, zero border) is faster still:
on a strip of 32 rows of 3 maps of 3 Kodak planes, float32, one thread, 0.20 ms for both passes
against 0.28 ms with GEMMs along both (``benchmarks/bench_gaussian_filter.py --blocks``). Without
cv2 the GEMM pass along W is used. Sums equal a direct correlation up to the order of additions.

:func:`filter_maps` filters a stack of maps kept maps-first ``(M, H, C, W)`` and returns
full-width rows, so every map of the result is one contiguous block: numpy's elementwise
arithmetic on contiguous operands ran 2.5 times faster than on the strided views of interleaved
maps or of the valid columns (the SSIM kernels do most of their arithmetic there).

This is the numpy twin of :mod:`qbench.metrics.gaussian` (torch, float64, used by the streamed
path): any float dtype, no torch import. Measured against scipy.ndimage, torch conv1d and shifted
sums in ``benchmarks/bench_gaussian_filter.py``: the fastest on one thread in float32.
"""

from __future__ import annotations

import functools

import numpy as np

#: outputs per band block along H and along W. Smaller blocks waste fewer multiplications by zero
#: (a 16-wide block reads 26 inputs per 16 outputs, a 24-wide one 34 per 24), larger ones make
#: larger GEMMs; on the SSIM kernels' strips (32 rows of 3 maps of 3 Kodak planes, float32, one
#: thread) GEMMs along both axes took 0.28 ms with 4 x 16 against 0.36 ms with 8 x 24, and 4-row
#: blocks are the fastest along H before OpenCV's pass along W as well, in float64 too
#: (``bench_gaussian_filter.py --blocks``)
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


def filter_valid(a: np.ndarray, taps: tuple[float, ...], rows: str | None = None) -> np.ndarray:
    """Correlate every plane of ``a`` ``(H, P, W)`` (float32 or float64) with ``taps`` (rounded to
    ``a``'s dtype) along H and W; the valid part ``(H - n + 1, P, W - n + 1)`` (a view).
    ``rows``: the pass along W, as in :func:`filter_maps`."""
    n = len(taps)
    h, p, w = a.shape
    full = filter_maps(np.ascontiguousarray(a)[None], taps, rows=rows)[0]
    return full[:, :, n // 2:n // 2 + w - n + 1]


def filter_maps(a: np.ndarray, taps: tuple[float, ...], mid: np.ndarray | None = None,
                wide: np.ndarray | None = None, rows: str | None = None) -> np.ndarray:
    """Correlate the maps of ``a`` ``(M, H, C, W)`` (C-contiguous float32 or float64) with
    ``taps`` along H (valid rows) and W.

    Returns ``(M, H - n + 1, C, W)``, C-contiguous: full-width rows whose columns
    ``[n // 2, n // 2 + W - n + 1)`` are the valid correlation; the ``n // 2`` columns at each end
    hold partial sums (OpenCV's zero border) or zeros (GEMM pass), for the caller to leave out.
    ``mid`` and ``wide`` are optional flat work buffers of at least ``M (H - n + 1) C W`` elements
    (the result is a view of ``wide``). ``rows`` picks the pass along W: ``"opencv"`` (the
    default when cv2 imports) or ``"gemm"``.
    """
    m, h, c, w = a.shape
    n = len(taps)
    ho, wo = h - n + 1, w - n + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"planes {h}x{w} are smaller than the {n}-tap window")
    size = m * ho * c * w
    dt = a.dtype.name
    mid = (np.empty(size, a.dtype) if mid is None else mid.reshape(-1)[:size]).reshape(m, ho, c * w)
    wide = (np.empty(size, a.dtype) if wide is None else wide.reshape(-1)[:size]).reshape(m, ho, c, w)
    src = a.reshape(m, h, c * w)
    kt, bh = band_t(taps, BLOCK_H, dt), BLOCK_H
    for i in range(0, ho, bh):                  # along H: band^T @ row blocks, each map (batched GEMM)
        if i + bh > ho:
            bh = ho - i
            kt = kt[:bh, :bh + n - 1]
        np.matmul(kt, src[:, i:i + bh + n - 1], out=mid[:, i:i + bh])
    lines, out = mid.reshape(m * ho * c, w), wide.reshape(m * ho * c, w)
    cv2 = opencv() if rows in (None, "opencv") else None
    if cv2 is not None:                         # along W: OpenCV's row filter
        cv2.filter2D(lines, -1, row_kernel(taps, dt), dst=out, borderType=cv2.BORDER_CONSTANT)
        return wide
    if rows not in (None, "gemm"):
        raise ValueError(f"unknown pass along W {rows!r}; choose opencv or gemm")
    k, bw, off = band(taps, BLOCK_W, dt), BLOCK_W, n // 2
    for j in range(0, wo, bw):                  # along W: column blocks @ band
        if j + bw > wo:
            bw = wo - j
            k = k[:bw + n - 1, :bw]
        np.matmul(lines[:, j:j + bw + n - 1], k, out=out[:, off + j:off + j + bw])
    out[:, :off] = 0
    out[:, off + wo:] = 0
    return wide


@functools.lru_cache(maxsize=16)
def row_kernel(taps: tuple[float, ...], dtype: str) -> np.ndarray:
    """``taps`` as OpenCV's ``(1, n)`` kernel in ``dtype``."""
    k = np.asarray(taps, dtype=dtype).reshape(1, -1)
    k.setflags(write=False)
    return k


def pass_along_w() -> str:
    """Which pass along W :func:`filter_maps` uses by default: ``opencv <version>`` or ``gemm``
    (float32 results differ between them, and may between OpenCV releases, in the last bits)."""
    cv2 = opencv()
    return f"opencv {cv2.__version__}" if cv2 is not None else "gemm"


@functools.lru_cache(maxsize=1)
def opencv():
    """cv2, or None where it does not import (the GEMM pass along W is used then)."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2
