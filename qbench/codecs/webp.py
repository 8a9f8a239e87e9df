"""Lossy WebP through Pillow's libwebp binding.

WebP has no gray mode: a gray image is encoded as RGB (R = G = B) and decoded back to gray with
BT.601 luma. ``method`` is libwebp's speed/size trade-off (0 fast .. 6 slow, default 4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .pillow_common import PillowCodec


class WebP(PillowCodec):
    """Lossy WebP at libwebp's quality 0..100."""

    name = "webp"
    pil_format = "WEBP"
    gray_as_rgb = True
    pil_library = ("libwebp", "webp")
    quality_range = (0, 100)
    integer_quality = True
    defaults: dict[str, Any] = {"method": 4}

    def validate_params(self) -> None:
        """``method`` 0..6."""
        if self.params["method"] not in range(7):
            raise ConfigError("webp: method must be an integer 0..6")

    def save_options(self, img: np.ndarray, quality: float) -> dict[str, Any]:
        """Lossy mode at ``quality`` with the suite's ``method``."""
        return {"quality": float(quality), "lossless": False, "method": int(self.params["method"])}
