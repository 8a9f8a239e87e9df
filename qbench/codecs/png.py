"""Lossless PNG through Pillow's zlib binding: the "clean" codec stage.

Rescaling tables of the SR literature measure down -> up with no lossy stage; a lossless codec
keeps that protocol inside the runner (the low-res image is still stored as real bytes, so its
bpp is reported) while every decoded pixel equals the encoded one. ``quality`` is zlib's
compression level 0..9: it changes only the size, never the pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .pillow_common import PillowCodec


class PNG(PillowCodec):
    """Lossless PNG; the quality knob is zlib's compression level."""

    name = "png"
    pil_format = "PNG"
    side_info = {"lossless": True}
    quality_name = "compress_level"
    quality_range = (0, 9)
    integer_quality = True
    defaults: dict[str, Any] = {}

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """Pillow's and zlib's versions."""
        import zlib

        import PIL

        return {"pillow": PIL.__version__, "zlib": zlib.ZLIB_RUNTIME_VERSION}

    def rate_increases_with_quality(self) -> bool:
        """A higher compression level gives fewer bytes (rate control searches the other way)."""
        return False

    def save_options(self, img: np.ndarray, quality: float) -> dict[str, Any]:
        """zlib level ``quality``, no extra optimisation pass."""
        return {"compress_level": int(quality), "optimize": False}
