"""Colour conversions and cropping used by metric protocols."""

from __future__ import annotations

import torch

#: ITU-R BT.601 luma as MATLAB's ``rgb2ycbcr`` (studio range 16-235), for RGB in [0, 255].
#: This is the BasicSR / IRN / SAIN convention: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255.
#: Y is kept as a float (not rounded to uint8), as BasicSR's ``bgr2ycbcr(y_only=True)`` does.
from ..constants import BT601_Y  # noqa: F401 (re-exported)


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB in [0, 255] -> ``(N, 1, H, W)`` BT.601 Y in [16, 235].

    A single-channel input is returned unchanged (a gray image is its own luma).
    """
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise ValueError(f"rgb_to_y expects 1 or 3 channels, got {x.shape[1]}")
    w = torch.tensor(BT601_Y, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True) / 255.0 + 16.0


def crop(x: torch.Tensor, border: int) -> torch.Tensor:
    """Remove ``border`` pixels from each side (BasicSR's ``crop_border``)."""
    if border <= 0:
        return x
    if x.shape[-1] <= 2 * border or x.shape[-2] <= 2 * border:
        raise ValueError(f"crop_border {border} leaves nothing of a {tuple(x.shape[-2:])} image")
    return x[..., border:-border, border:-border]
