"""Shared encode/decode through a Pillow format plugin, and :class:`PillowCodec`, the base of the
codecs that are one such plugin (png, webp, avif, j2k, heif)."""

from __future__ import annotations

import io
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from ..errors import CodecError
from ..images import as_hwc, decode_bytes, to_pil
from .base import Codec, Encoded


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


class PillowCodec(Codec):
    """A codec that is one Pillow format plugin: subclasses name the format and the library, and
    say how a quality setting maps to the plugin's ``save`` options (:meth:`save_options`)."""

    #: Pillow's format name (``"WEBP"``)
    pil_format: ClassVar[str] = ""
    #: the format has no gray mode: gray is coded as RGB and converted back on decode
    gray_as_rgb: ClassVar[bool] = False
    #: (key in :meth:`library_versions`, :func:`PIL.features.version` name) of the codec library
    pil_library: ClassVar[tuple[str, str]] = ("", "")
    #: side information recorded with every bitstream besides the channel count
    side_info: ClassVar[dict[str, Any]] = {}

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """Pillow's version and that of the codec library it binds."""
        import PIL
        from PIL import features

        key, feature = cls.pil_library
        return {"pillow": PIL.__version__, key: str(features.version(feature))}

    @abstractmethod
    def save_options(self, img: np.ndarray, quality: float) -> dict[str, Any]:
        """Keyword options of Pillow's ``Image.save`` for ``img`` at ``quality``."""

    def encode(self, img: np.ndarray, quality: float) -> Encoded:
        """Compress an ``(H, W, C)`` uint8 image with the format plugin."""
        self.check_quality(quality)
        data = pil_encode(img, self.pil_format, gray_as_rgb=self.gray_as_rgb, **self.save_options(img, quality))
        return Encoded(data, {"channels": int(img.shape[2]), **self.side_info})

    def decode(self, data: bytes, channels: int | None = None) -> np.ndarray:
        """Decompress to ``(H, W, C)`` uint8 (gray again where ``channels`` is 1)."""
        return pil_decode(data, channels)
