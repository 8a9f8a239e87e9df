"""AVIF (AV1 intra) through Pillow's libavif binding.

Defaults are ``avifenc``'s for lossy 8-bit photographs: ``speed`` 6 (0 slowest and smallest .. 10
fastest), 4:2:0 chroma (``subsampling`` applies to RGB; ``avifenc`` keeps a PNG's 4:4:4 unless
told ``-y 420``), 8-bit, full range, BT.601 matrix, libaom with libavif's own tuning.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Codec, Encoded
from .pillow_common import pil_decode, pil_encode


class AVIF(Codec):
    name = "avif"
    quality_range = (0, 100)
    integer_quality = True
    defaults: dict[str, Any] = {"speed": 6, "subsampling": "4:2:0"}

    def validate_params(self) -> None:
        if self.params["speed"] not in range(11):
            raise ConfigError("avif: speed must be an integer 0..10")
        if self.params["subsampling"] not in ("4:4:4", "4:2:2", "4:2:0"):
            raise ConfigError("avif: subsampling must be 4:4:4, 4:2:2 or 4:2:0")

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        import PIL
        from PIL import features

        return {"pillow": PIL.__version__, "libavif": str(features.version("avif"))}

    def encode(self, img: np.ndarray, quality: float) -> Encoded:
        self.check_quality(quality)
        data = pil_encode(img, "AVIF", quality=int(quality), speed=int(self.params["speed"]),
                          subsampling=self.params["subsampling"])
        return Encoded(data, {"channels": int(img.shape[2])})

    def decode(self, data: bytes, channels: int | None = None) -> np.ndarray:
        return pil_decode(data, channels)
