"""Pixels as metrics take them: uint8, or float outputs in [0, 255] (``output.quantize: false``).

:func:`qbench.images.as_hwc` insists on uint8 because pixel hashes need it; a metric also accepts
float32/float64 outputs on the 0..255 scale. Integer images give exactly the floats they always
gave, so uint8 values are unchanged.
"""

from __future__ import annotations

import numpy as np

from ..errors import ImageError
from .constants import BT601_Y

_DTYPES = (np.uint8, np.float32, np.float64)


def as_metric_hwc(img: np.ndarray) -> np.ndarray:
    """``img`` as ``(H, W, C)`` (C 1 or 3), uint8 or float32/float64 on the 0..255 scale."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ImageError(f"expected an (H, W[, 1|3]) image, got shape {img.shape}")
    if img.dtype not in _DTYPES:
        raise ImageError(f"expected uint8 or float32/float64 pixels in [0, 255], got {img.dtype}")
    return img


def cropped(img: np.ndarray, border: int) -> np.ndarray:
    """A view without ``border`` pixels on each side (BasicSR's ``crop_border``)."""
    if border <= 0:
        return img
    if img.shape[0] <= 2 * border or img.shape[1] <= 2 * border:
        raise ValueError(f"crop_border {border} leaves nothing of a {img.shape[:2]} image")
    return img[border:-border, border:-border]


def luma(img: np.ndarray) -> np.ndarray:
    """BT.601 Y (MATLAB ``rgb2ycbcr``, float) of an ``(H, W, 3)`` image, as ``(H, W)`` float64.

    The pixels are converted to float64 first (exact for uint8 and float32): numpy's mixed-type
    multiply of the strided channels took 3.7 ms on a 768x512 image, this 1.1 ms, same values."""
    f = np.asarray(img, dtype=np.float64)
    y = np.multiply(f[..., 0], BT601_Y[0])
    t = np.multiply(f[..., 1], BT601_Y[1])
    y += t
    np.multiply(f[..., 2], BT601_Y[2], out=t)
    y += t
    y /= 255.0
    y += 16.0
    return y


#: the last image converted to Y, its crop and its Y: the Y metrics of one sample (psnr_y, ssim_y,
#: psnrb_y) measure the same output array, which is converted once (the image is held, so its
#: identity cannot be reused by another array; images are not modified while they are measured)
_LAST_Y: list = [None, -1, None]


def measured(img: np.ndarray, border: int, channels: str) -> np.ndarray:
    """The pixels a protocol measures: cropped, BT.601 Y for ``channels='y'`` on RGB.

    Returns an ``(H, W, C)`` view or array (uint8 or float); Y comes back as float64 ``(H, W, 1)``
    (read-only: it may be shared with the next call on the same image).
    """
    img = as_metric_hwc(img)
    if channels == "y" and img.shape[2] == 3:
        if _LAST_Y[0] is img and _LAST_Y[1] == border:
            return _LAST_Y[2]
        y = luma(cropped(img, border))[:, :, None]
        y.setflags(write=False)
        _LAST_Y[:] = [img, border, y]
        return y
    return cropped(img, border)


def planes(img: np.ndarray, border: int, channels: str) -> np.ndarray:
    """:func:`measured` pixels as a contiguous float64 ``(H, C, W)`` array (rows of planes)."""
    m = measured(img, border, channels)
    out = np.empty((m.shape[0], m.shape[2], m.shape[1]))
    out[...] = m.transpose(0, 2, 1)
    return out


def unit_tensor(imgs: list[np.ndarray], device: str = "cpu"):
    """Images -> float32 tensor ``(N, C, H, W)`` in [0, 1], as :func:`qbench.images.to_tensor`
    makes it from uint8 (float inputs are divided by 255 the same way)."""
    import torch

    arr = np.stack([as_metric_hwc(i) for i in imgs])
    t = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
    return t.to(device=device, dtype=torch.float32).div_(255.0)
