"""Shared encode/decode through a Pillow format plugin."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..errors import CodecError
from ..images import as_hwc, decode_bytes, to_pil


def pil_encode(img: np.ndarray, fmt: str, gray_as_rgb: bool = False, **kwargs: Any) -> bytes:
    """Encode ``(H, W, C)`` uint8 with Pillow; ``gray_as_rgb`` for formats without a gray mode."""
    im = to_pil(as_hwc(img))
    if gray_as_rgb and im.mode == "L":
        im = im.convert("RGB")
    buf = io.BytesIO()
    try:
        im.save(buf, format=fmt, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise CodecError(f"{fmt} encode failed: {exc}") from exc
    return buf.getvalue()


def pil_decode(data: bytes, channels: int | None = None) -> np.ndarray:
    """Decode; ``channels=1`` turns an RGB decode of a gray source back into gray (BT.601 luma)."""
    try:
        out = decode_bytes(data, policy="auto")
    except Exception as exc:
        raise CodecError(f"decode failed: {exc}") from exc
    if channels == 1 and out.shape[2] == 3:
        from ..images import rgb_to_gray_u8

        out = rgb_to_gray_u8(out)
    return out
