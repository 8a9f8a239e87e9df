"""Rate control: find, per image, the codec setting whose real bpp is closest to a target.

Bisection over the codec's search range, as CompressAI's ``find_close`` does: integer settings
(JPEG, WebP, AVIF, HEIF quality) are searched exactly over integers; continuous ones (JPEG XL
distance, JPEG 2000 ratio/dB) on a log scale when the range is positive (rate varies roughly
geometrically with a distance or a ratio), stopping after ``iterations`` halvings or once the
achieved bpp is within ``rel_tol`` of the target. Every candidate is a real encode, so the
achieved bpp is the bpp of real bytes. Bisection assumes bpp is monotone in the setting.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Codec, Encoded


def _bpp(enc: Encoded, pixels: int) -> float:
    return 8.0 * len(enc.data) / pixels


def find_quality(codec: Codec, img: np.ndarray, target_bpp: float, pixels: int | None = None,
                 iterations: int = 14, rel_tol: float = 1e-3) -> tuple[float, Encoded]:
    """(setting, encoding) with bpp closest to ``target_bpp``.

    ``pixels`` is the bpp denominator (the pristine image's H * W; defaults to ``img``'s, but a
    rescaler codes a smaller image and still counts the original pixels).
    """
    pixels = pixels or img.shape[0] * img.shape[1]
    lo, hi = codec.search_range()
    increasing = codec.rate_increases_with_quality()
    tried: dict[float, Encoded] = {}

    def enc_at(q: float) -> Encoded:
        if q not in tried:
            tried[q] = codec.encode(img, q)
        return tried[q]

    def too_big(q: float) -> bool:
        """Whether the answer lies on the low-rate side of ``q``."""
        return (_bpp(enc_at(q), pixels) > target_bpp) == increasing

    if codec.integer_quality:
        a, b = int(np.ceil(lo)), int(np.floor(hi))
        while b - a > 1:
            mid = (a + b) // 2
            a, b = (a, mid) if too_big(mid) else (mid, b)
    else:
        geometric = lo > 0
        a, b = lo, hi
        for _ in range(iterations):
            mid = math.sqrt(a * b) if geometric else (a + b) / 2
            if abs(_bpp(enc_at(mid), pixels) - target_bpp) <= rel_tol * target_bpp:
                return float(mid), enc_at(mid)
            a, b = (a, mid) if too_big(mid) else (mid, b)
    best = min((a, b), key=lambda q: abs(_bpp(enc_at(q), pixels) - target_bpp))
    return float(best), enc_at(best)
