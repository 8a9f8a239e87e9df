"""Lossy WebP through Pillow's libwebp binding.

WebP has no gray mode: a gray image is encoded as RGB (R = G = B) and decoded back to gray with
BT.601 luma. ``method`` is libwebp's speed/size trade-off (0 fast .. 6 slow, default 4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Codec, Encoded
from .pillow_common import pil_decode, pil_encode


class WebP(Codec):
    name = "webp"
    quality_range = (0, 100)
    integer_quality = True
    defaults: dict[str, Any] = {"method": 4}

    def validate_params(self) -> None:
        if self.params["method"] not in range(7):
            raise ConfigError("webp: method must be an integer 0..6")

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        import PIL
        from PIL import features

        return {"pillow": PIL.__version__, "libwebp": str(features.version("webp"))}

    def encode(self, img: np.ndarray, quality: float) -> Encoded:
        self.check_quality(quality)
        data = pil_encode(img, "WEBP", gray_as_rgb=True, quality=float(quality), lossless=False,
                          method=int(self.params["method"]))
        return Encoded(data, {"channels": int(img.shape[2])})

    def decode(self, data: bytes, channels: int | None = None) -> np.ndarray:
        return pil_decode(data, channels)
