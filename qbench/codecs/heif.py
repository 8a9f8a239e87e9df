"""HEIF / HEVC intra through pillow-heif (libheif + x265 encoder, libde265 decoder).

This is the closest available stand-in for BPG (which is also HEVC intra, via x265 or JCTVC-HM):
results are close to, but not identical with, ``bpgenc``; use the external codec type to run
``bpgenc``/``bpgdec`` themselves.

Defaults are libheif's (``heif-enc``): 8-bit 4:2:0 YCbCr (BT.601 matrix, full range), x265 preset
``slow`` and tune ``ssim`` (adaptive quantisation). ``tune: psnr`` turns adaptive quantisation off
and saves about 4% of the bits at equal PSNR (and loses some SSIM); ``preset`` trades encoding time
for size as in x265.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Encoded
from .pillow_common import PillowCodec


PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
           "placebo")


def _register() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()


class HEIF(PillowCodec):
    """HEVC intra in a HEIF container at x265's quality 0..100."""

    name = "heif"
    pil_format = "HEIF"
    quality_range = (0, 100)
    integer_quality = True
    defaults: dict[str, Any] = {"chroma": "420", "preset": "slow", "tune": "ssim"}
    #: YAML reads ``chroma: 444`` as a number
    param_types = {"chroma": (str, int)}

    def validate_params(self) -> None:
        """``chroma`` 420/422/444, an x265 ``preset``, ``tune`` psnr or ssim."""
        if str(self.params["chroma"]) not in ("420", "422", "444"):
            raise ConfigError("heif: chroma must be 420, 422 or 444")
        if self.params["preset"] not in PRESETS:
            raise ConfigError(f"heif: preset must be one of {', '.join(PRESETS)}")
        if self.params["tune"] not in ("psnr", "ssim"):
            raise ConfigError("heif: tune must be psnr or ssim")

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """pillow-heif, libheif and the HEVC encoder's versions."""
        import pillow_heif

        info = pillow_heif.libheif_info()
        return {"pillow_heif": pillow_heif.__version__, "libheif": str(info.get("libheif")),
                "encoder": str(info.get("HEIF"))}

    def save_options(self, img: np.ndarray, quality: float) -> dict[str, Any]:
        """``quality``, chroma subsampling, and the x265 preset and tune."""
        return {"quality": int(quality), "chroma": int(self.params["chroma"]),
                "enc_params": {"preset": self.params["preset"], "tune": self.params["tune"]}}

    def encode(self, img: np.ndarray, quality: float) -> Encoded:
        """Compress with the pillow-heif plugin (registered on first use)."""
        _register()
        return super().encode(img, quality)

    def decode(self, data: bytes, channels: int | None = None) -> np.ndarray:
        """Decompress with the pillow-heif plugin (registered on first use)."""
        _register()
        return super().decode(data, channels)
