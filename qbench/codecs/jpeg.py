"""JPEG through Pillow (libjpeg-turbo): quality 1-100, chroma subsampling, gray and RGB."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..errors import CodecError, ConfigError
from ..images import as_hwc, decode_bytes, to_pil
from .base import Codec, Encoded

SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


class PillowJPEG(Codec):
    """Baseline JPEG as written by Pillow's libjpeg(-turbo) binding.

    ``subsampling`` is the chroma subsampling of RGB images (ignored for gray). Pillow's default
    for quality < 95 is 4:2:0, which is also what ``cv2.imwrite`` and most papers use.
    ``optimize`` turns on optimised Huffman tables (smaller files, same pixels).
    """

    name = "jpeg"
    family = "jpeg"
    quality_range = (1, 100)
    defaults: dict[str, Any] = {"subsampling": "4:2:0", "optimize": False, "progressive": False}

    def validate_params(self) -> None:
        if self.params["subsampling"] not in SUBSAMPLING:
            raise ConfigError(f"jpeg: subsampling must be one of {sorted(SUBSAMPLING)}, "
                              f"got {self.params['subsampling']!r}")

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        import PIL

        return {"pillow": PIL.__version__, "libjpeg": libjpeg_version()}

    def encode(self, img: np.ndarray, quality: float) -> Encoded:
        self.check_quality(quality)
        if int(quality) != quality:
            raise ConfigError(f"jpeg: quality must be an integer, got {quality}")
        im = to_pil(as_hwc(img))
        kwargs: dict[str, Any] = {"quality": int(quality), "optimize": bool(self.params["optimize"]),
                                  "progressive": bool(self.params["progressive"])}
        if im.mode == "RGB":
            kwargs["subsampling"] = SUBSAMPLING[self.params["subsampling"]]
        buf = io.BytesIO()
        try:
            im.save(buf, format="JPEG", **kwargs)
        except (OSError, ValueError) as exc:
            raise CodecError(f"jpeg encode failed: {exc}") from exc
        data = buf.getvalue()
        return Encoded(data, {"qtables": quantization_tables(data)})

    def decode(self, data: bytes) -> np.ndarray:
        return decode_bytes(data, policy="auto")


def libjpeg_version() -> str:
    """The JPEG library Pillow links, e.g. ``libjpeg-turbo 3.2.0 (API 6.2)``."""
    from PIL import features

    api = str(features.version("jpg"))
    if features.check_feature("libjpeg_turbo"):
        return f"libjpeg-turbo {features.version_feature('libjpeg_turbo')} (API {api})"
    return f"libjpeg {api}"


def quantization_tables(data: bytes) -> list[list[int]]:
    """The decoder's quantisation tables (natural order, as Pillow exposes them)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        tables = getattr(im, "quantization", None) or {}
        return [list(map(int, tables[k])) for k in sorted(tables)]
