"""No-reference metrics: a value of one image, measured on any role (original, compressed,
enhanced), so a diagnostic can compare what a codec adds and what a solver removes.

``bef_y`` is the blocking effect factor of Yim and Bovik (the BEF term of PSNR-B): the excess
squared difference across 8x8 block boundaries over that inside blocks, on BT.601 Y. It is zero
for most pristine images, grows with JPEG blocking and falls when a deblocker works.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Metric


class NoReferenceMetric(Metric):
    """A preset-driven no-reference metric; preset keys: ``type`` (bef), ``channels`` (y | rgb)."""

    kind = "no_reference"

    def __init__(self, name: str, preset: dict[str, Any], crop_border: int | None = None):
        super().__init__(name, preset, crop_border)
        if self.preset.get("type") != "bef":
            raise ConfigError(f"metric {name!r}: unknown no-reference type {self.preset.get('type')!r}")

    def compute_image(self, img: np.ndarray) -> float:
        """The value of one ``(H, W, C)`` image (uint8, or float in [0, 255])."""
        import torch

        from .functional import crop, rgb_to_y
        from .functional.psnrb import BLOCK, blocking_effect_factor

        arr = img[:, :, None] if img.ndim == 2 else img
        x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64)).permute(2, 0, 1)[None]
        x = crop(x, self.crop_border)
        if self.preset.get("channels", "y") == "y":
            x = rgb_to_y(x)
        if min(x.shape[-2:]) < 2 * BLOCK:
            raise ValueError(f"{self.name} needs images of at least {2 * BLOCK} px per side")
        return float(blocking_effect_factor(x).mean())
