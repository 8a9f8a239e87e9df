"""'Valid' separable filtering of stacked float64 planes by banded matrix products.

A 1-D 'valid' correlation with ``n`` taps maps ``block + n - 1`` consecutive samples to ``block``
outputs, which is a product with a ``(block + n - 1, block)`` band matrix. Cutting an axis into
blocks turns the filter into a few large float64 GEMMs (BLAS speed, no temporaries per tap),
and only the valid region is ever computed. The sums are the same as a direct correlation up to
the order of additions (a few ulps). Matrix products run in torch, so they follow
``torch.set_num_threads``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch

#: outputs per band block along H and along W: the fastest for 512x768 planes on one AVX2 thread
#: (MKL float64 GEMM), and no slower elsewhere
BLOCK_H, BLOCK_W = 8, 24


@functools.lru_cache(maxsize=16)
def _band(taps: tuple[float, ...], block: int) -> torch.Tensor:
    """The ``(block + n - 1, block)`` matrix whose column ``j`` holds the taps from row ``j``."""
    n = len(taps)
    k = torch.zeros(block + n - 1, block, dtype=torch.float64)
    t = torch.tensor(taps, dtype=torch.float64)
    for j in range(block):
        k[j:j + n, j] = t
    return k


def empty(*shape: int) -> torch.Tensor:
    """An uninitialised float64 CPU tensor (numpy's allocator: large buffers are recycled)."""
    return torch.from_numpy(np.empty(shape))


def filter_valid(a: torch.Tensor, taps: Sequence[float], out: torch.Tensor | None = None,
                 mid: torch.Tensor | None = None) -> torch.Tensor:
    """Correlate every plane of ``a`` ``(H, P, W)`` (float64, CPU) with ``taps`` along H and W.

    Returns the valid part ``(H - n + 1, P, W - n + 1)``, written into ``out`` when given (a
    contiguous tensor of that shape); ``mid`` is an optional ``(H - n + 1, P * W)`` work buffer.
    """
    a = a.contiguous()
    h, p, w = a.shape
    n = len(taps)
    ho, wo = h - n + 1, w - n + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"planes {h}x{w} are smaller than the {n}-tap window")
    key = tuple(map(float, taps))
    src = a.view(h, p * w)
    mid = empty(ho, p * w) if mid is None else mid
    kt, bh = _band(key, BLOCK_H).t(), BLOCK_H
    for i in range(0, ho, bh):                          # along H: band^T @ row blocks, all planes
        if i + bh > ho:
            bh = ho - i
            kt = kt[:bh, :bh + n - 1]
        torch.mm(kt, src[i:i + bh + n - 1], out=mid[i:i + bh])
    rows = mid.view(ho * p, w)
    out = empty(ho, p, wo) if out is None else out
    out_rows = out.view(ho * p, wo)
    k, bw = _band(key, BLOCK_W), BLOCK_W
    for j in range(0, wo, bw):                          # along W: column blocks @ band
        if j + bw > wo:
            bw = wo - j
            k = k[:bw + n - 1, :bw]
        torch.mm(rows[:, j:j + bw + n - 1], k, out=out_rows[:, j:j + bw])
    return out
