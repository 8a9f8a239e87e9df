"""JPEG 2000 through Pillow's OpenJPEG binding.

Coded as the reference encoders code lossy images (``opj_compress -I``, Kakadu's defaults): the
irreversible 9/7 wavelet with the irreversible colour transform (ICT, RGB -> YCbCr) on RGB images,
5 decomposition levels (6 resolutions), 64x64 code-blocks, no precincts, one quality layer, LRCP
progression, in a JP2 container (about 20 bytes more than a raw codestream). ``mct: false`` codes
R, G and B as independent components (no colour transform): on Kodak it needs about twice the
bits for the same PSNR-RGB (BD-rate -54% for the transform), so only for reproducing results
that did so.

``mode: rates`` (default): the quality knob is the compression ratio (e.g. 40 means 40:1; higher
is smaller and worse). ``mode: dB``: the knob is the target PSNR in dB (higher is better).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .pillow_common import PillowCodec


class JPEG2000(PillowCodec):
    """JPEG 2000 (irreversible 9/7, JP2 container) at a compression ratio or a target PSNR."""

    name = "j2k"
    pil_format = "JPEG2000"
    pil_library = ("openjpeg", "jpg_2000")
    quality_range = (1.0, 1000.0)
    defaults: dict[str, Any] = {"mode": "rates", "mct": True}

    def validate_params(self) -> None:
        """``mode`` rates or dB; ``mct`` a boolean."""
        if self.params["mode"] not in ("rates", "dB"):
            raise ConfigError("j2k: mode must be 'rates' or 'dB'")
        if not isinstance(self.params["mct"], bool):
            raise ConfigError("j2k: mct must be true or false")

    def knob(self) -> str:
        return "ratio" if self.params["mode"] == "rates" else "PSNR dB"

    def rate_increases_with_quality(self) -> bool:
        """True in dB mode; in rates mode a higher ratio gives fewer bytes."""
        return self.params["mode"] == "dB"     # a higher ratio means fewer bytes

    def search_range(self) -> tuple[float, float]:
        """Ratios 2..400, or 20..60 dB."""
        return (2.0, 400.0) if self.params["mode"] == "rates" else (20.0, 60.0)

    def save_options(self, img: np.ndarray, quality: float) -> dict[str, Any]:
        """One quality layer at ``quality``; the colour transform on RGB images unless ``mct`` is off."""
        rgb = img.ndim == 3 and img.shape[2] == 3
        return {"quality_mode": self.params["mode"], "quality_layers": [float(quality)], "irreversible": True,
                "mct": int(rgb and self.params["mct"]), "num_resolutions": 6, "codeblock_size": (64, 64),
                "progression": "LRCP"}
