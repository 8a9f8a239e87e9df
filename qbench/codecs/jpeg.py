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
    ``qtables``: custom quantisation tables (a list of one table for luma, optionally a second for
    chroma, each 64 integers in natural order), scaled by ``quality`` with libjpeg's IJG rule.
    ``backend: opencv`` encodes and decodes with ``cv2.imencode``/``cv2.imdecode`` (OpenCV's own
    libjpeg build; ``subsampling``, ``optimize`` and ``progressive`` map to its ``IMWRITE_JPEG_*``
    flags, whose defaults equal ``cv2.imwrite``'s), for numbers that match papers using OpenCV.
    """

    name = "jpeg"
    quality_range = (1, 100)
    integer_quality = True
    defaults: dict[str, Any] = {"subsampling": "4:2:0", "optimize": False, "progressive": False,
                                "qtables": None, "backend": "pillow"}

    def validate_params(self) -> None:
        """Known subsampling and backend; quantisation tables well formed."""
        if self.params["subsampling"] not in SUBSAMPLING:
            raise ConfigError(f"jpeg: subsampling must be one of {sorted(SUBSAMPLING)}, "
                              f"got {self.params['subsampling']!r}")
        if self.params["backend"] not in ("pillow", "opencv"):
            raise ConfigError("jpeg: backend must be 'pillow' or 'opencv'")
        tables = self.params["qtables"]
        if tables is not None:
            ok = (isinstance(tables, list) and 1 <= len(tables) <= 4 and all(
                isinstance(t, list) and len(t) == 64 and all(isinstance(v, int) and 1 <= v <= 255 for v in t)
                for t in tables))
            if not ok:
                raise ConfigError("jpeg: qtables must be 1-4 lists of 64 integers in 1..255")
            if self.params["backend"] == "opencv":
                raise ConfigError("jpeg: custom qtables need backend 'pillow'")

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """Pillow's version and the libjpeg it links."""
        import PIL

        versions = {"pillow": PIL.__version__, "libjpeg": libjpeg_version()}
        return versions

    def spec(self) -> dict[str, Any]:
        """The base spec, with OpenCV's version when it is the backend."""
        spec = super().spec()
        if self.params["backend"] == "opencv":
            import cv2

            spec["versions"]["opencv"] = cv2.__version__
        return spec

    def _scaled_tables(self, quality: int) -> list[list[int]]:
        """libjpeg's jpeg_quality_scaling applied to the custom base tables."""
        scale = 5000 // quality if quality < 50 else 200 - 2 * quality
        return [[min(255, max(1, (v * scale + 50) // 100)) for v in t] for t in self.params["qtables"]]

    def encode(self, img: np.ndarray, quality: float) -> Encoded:
        """Baseline JPEG at integer ``quality`` through the chosen backend."""
        self.check_quality(quality)
        if int(quality) != quality:
            raise ConfigError(f"jpeg: quality must be an integer, got {quality}")
        img = as_hwc(img)
        if self.params["backend"] == "opencv":
            data = _cv2_encode(img, int(quality), self.params)
            return Encoded(data, {"qtables": quantization_tables(data)})
        im = to_pil(img)
        kwargs: dict[str, Any] = {"optimize": bool(self.params["optimize"]),
                                  "progressive": bool(self.params["progressive"])}
        if self.params["qtables"] is not None:
            kwargs["qtables"] = self._scaled_tables(int(quality))
        else:
            kwargs["quality"] = int(quality)
        if im.mode == "RGB":
            kwargs["subsampling"] = SUBSAMPLING[self.params["subsampling"]]
        buf = io.BytesIO()
        try:
            im.save(buf, format="JPEG", **kwargs)
        except (OSError, ValueError) as exc:
            raise CodecError(f"jpeg encode failed: {exc}") from exc
        data = buf.getvalue()
        return Encoded(data, {"qtables": quantization_tables(data)})

    def decode(self, data: bytes, channels: int | None = None) -> np.ndarray:
        """Decode with the chosen backend."""
        if self.params["backend"] == "opencv":
            return _cv2_decode(data, channels)
        return decode_bytes(data, policy="auto")


def _cv2_encode(img: np.ndarray, quality: int, params: dict[str, Any]) -> bytes:
    import cv2

    factor = {"4:4:4": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444, "4:2:2": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
              "4:2:0": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420}[params["subsampling"]]
    flags = [int(cv2.IMWRITE_JPEG_QUALITY), quality,
             int(cv2.IMWRITE_JPEG_OPTIMIZE), int(bool(params["optimize"])),
             int(cv2.IMWRITE_JPEG_PROGRESSIVE), int(bool(params["progressive"]))]
    if img.shape[2] == 3:
        flags += [int(cv2.IMWRITE_JPEG_SAMPLING_FACTOR), int(factor)]
    arr = img[:, :, 0] if img.shape[2] == 1 else img[:, :, ::-1]
    try:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(arr), flags)
    except cv2.error as exc:
        raise CodecError(f"cv2.imencode failed: {exc}") from exc
    if not ok:
        raise CodecError("cv2.imencode failed")
    return buf.tobytes()


def _cv2_decode(data: bytes, channels: int | None) -> np.ndarray:
    import cv2

    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    out = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if out is None:
        raise CodecError("cv2.imdecode failed")
    return as_hwc(out if out.ndim == 2 else np.ascontiguousarray(out[:, :, ::-1]))


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
