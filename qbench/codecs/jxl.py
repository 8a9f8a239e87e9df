"""JPEG XL through imagecodecs (libjxl). The quality knob is the Butteraugli ``distance``
(0 lossless .. 25; lower is better, ~1.0 is visually lossless); ``effort`` 1..9 trades speed for size."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import CodecError, ConfigError
from ..images import as_hwc
from .base import Codec, Encoded


class JPEGXL(Codec):
    """JPEG XL through imagecodecs; the quality knob is the Butteraugli distance (lower is better)."""

    name = "jxl"
    quality_name = "distance"
    quality_range = (0.0, 25.0)
    higher_quality_is_better = False
    defaults: dict[str, Any] = {"effort": 7}

    def validate_params(self) -> None:
        """``effort`` 1..9."""
        if self.params["effort"] not in range(1, 10):
            raise ConfigError("jxl: effort must be an integer 1..9")

    def search_range(self) -> tuple[float, float]:
        """libjxl's lossy range of distances (0 would be lossless)."""
        return 0.05, 25.0      # libjxl's whole lossy range (0 would be lossless)

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """imagecodecs' and libjxl's versions."""
        import imagecodecs

        return {"imagecodecs": imagecodecs.__version__, "libjxl": str(imagecodecs.jpegxl_version())}

    def encode(self, img: np.ndarray, quality: float) -> Encoded:
        """Encode at Butteraugli distance ``quality`` and the suite's ``effort``."""
        import imagecodecs

        self.check_quality(quality)
        img = as_hwc(img)
        arr = img[:, :, 0] if img.shape[2] == 1 else img
        try:
            data = imagecodecs.jpegxl_encode(np.ascontiguousarray(arr), distance=float(quality),
                                             effort=int(self.params["effort"]))
        except Exception as exc:
            raise CodecError(f"jxl encode failed: {exc}") from exc
        return Encoded(bytes(data), {"channels": int(img.shape[2])})

    def decode(self, data: bytes, channels: int | None = None) -> np.ndarray:
        """Decode to ``(H, W, C)`` uint8."""
        import imagecodecs

        try:
            out = np.asarray(imagecodecs.jpegxl_decode(data))
        except Exception as exc:
            raise CodecError(f"jxl decode failed: {exc}") from exc
        return as_hwc(out.astype(np.uint8))
