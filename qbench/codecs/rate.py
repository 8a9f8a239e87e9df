"""Rate control: find, per image, the codec setting whose real bpp is closest to a target.

Bisection over the codec's quality range, as CompressAI's ``find_close`` does: integer settings
(JPEG, WebP, AVIF, HEIF quality) are searched exactly over integers; continuous ones (JPEG XL
distance, JPEG 2000 ratio/dB) for a fixed number of halvings. Every candidate is a real encode,
so the achieved bpp is the bpp of real bytes.
"""

from __future__ import annotations

import numpy as np

from .base import Codec, Encoded


def _bpp(enc: Encoded, pixels: int) -> float:
    return 8.0 * len(enc.data) / pixels


def find_quality(codec: Codec, img: np.ndarray, target_bpp: float, pixels: int | None = None,
                 iterations: int = 14) -> tuple[float, Encoded]:
    """(setting, encoding) with bpp closest to ``target_bpp`` (``pixels``: bpp denominator)."""
    pixels = pixels or img.shape[0] * img.shape[1]
    lo, hi = codec.search_range()
    increasing = codec.rate_increases_with_quality()
    tried: dict[float, Encoded] = {}

    def enc_at(q: float) -> Encoded:
        if q not in tried:
            tried[q] = codec.encode(img, q)
        return tried[q]

    if codec.integer_quality:
        a, b = int(np.ceil(lo)), int(np.floor(hi))
        while b - a > 1:
            mid = (a + b) // 2
            if (_bpp(enc_at(mid), pixels) > target_bpp) == increasing:
                b = mid
            else:
                a = mid
        candidates = [a, b]
    else:
        a, b = lo, hi
        for _ in range(iterations):
            mid = (a + b) / 2
            if (_bpp(enc_at(mid), pixels) > target_bpp) == increasing:
                b = mid
            else:
                a = mid
        candidates = [a, b]
    best = min(candidates, key=lambda q: abs(_bpp(enc_at(q), pixels) - target_bpp))
    return float(best), enc_at(best)
