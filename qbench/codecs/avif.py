"""AVIF (AV1 intra) through Pillow's libavif binding.

Defaults are ``avifenc``'s for lossy 8-bit photographs: ``speed`` 6 (0 slowest and smallest .. 10
fastest), 4:2:0 chroma (``subsampling`` applies to RGB; ``avifenc`` keeps a PNG's 4:4:4 unless
told ``-y 420``), 8-bit, full range, BT.601 matrix, libaom with libavif's own tuning.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .pillow_common import PillowCodec


class AVIF(PillowCodec):
    """AVIF at libavif's quality 0..100."""

    name = "avif"
    pil_format = "AVIF"
    pil_library = ("libavif", "avif")
    quality_range = (0, 100)
    integer_quality = True
    defaults: dict[str, Any] = {"speed": 6, "subsampling": "4:2:0"}

    def validate_params(self) -> None:
        """``speed`` 0..10 and ``subsampling`` 4:4:4, 4:2:2 or 4:2:0."""
        if self.params["speed"] not in range(11):
            raise ConfigError("avif: speed must be an integer 0..10")
        if self.params["subsampling"] not in ("4:4:4", "4:2:2", "4:2:0"):
            raise ConfigError("avif: subsampling must be 4:4:4, 4:2:2 or 4:2:0")

    def save_options(self, img: np.ndarray, quality: float) -> dict[str, Any]:
        """``quality`` with the suite's ``speed`` and chroma ``subsampling``."""
        return {"quality": int(quality), "speed": int(self.params["speed"]),
                "subsampling": self.params["subsampling"]}
