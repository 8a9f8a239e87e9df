"""Pixels in and out: reading images under a channel policy, pixel hashes, conversions.

Every image inside qbench is a ``numpy.uint8`` array of shape ``(H, W, C)`` with ``C`` 1 (gray)
or 3 (RGB). The channel policy of a dataset decides what a file becomes:

* ``auto``: gray files (L, 1, palette images whose colours are all gray) stay gray, all else RGB;
* ``rgb``: everything becomes RGB (gray is replicated to three channels);
* ``gray``: everything becomes gray (RGB is converted with ITU-R BT.601 luma, as Pillow's ``L``).

Conversions applied to unusual inputs (stated, never silent):

* palette (P) -> RGB through the palette (then gray under ``auto`` when every colour is gray);
* RGBA / LA / PA -> the colour channels, **only if alpha is fully opaque**; otherwise rejected,
  because compositing onto a background would invent pixel values;
* 16-bit (I;16, I) -> 8-bit by ``round(v / 257)``; 32-bit float (F) and CMYK are rejected;
* a file that declares more than twice Pillow's ``Image.MAX_IMAGE_PIXELS`` (a decompression
  bomb) is refused before its pixels are allocated.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .errors import ImageError

ChannelPolicy = Literal["auto", "rgb", "gray"]
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def pixel_hash(img: np.ndarray) -> str:
    """sha256 of the decoded uint8 pixel array (row-major bytes).

    For a gray image this equals ``sha256(numpy.asarray(PIL.Image.open(f)).tobytes())``, so it
    matches manifests written that way; a re-encoded lossless file has the same hash.
    """
    arr = np.ascontiguousarray(as_hwc(img))
    return hashlib.sha256(arr).hexdigest()          # the buffer itself: no copy of the pixels


def as_hwc(img: np.ndarray) -> np.ndarray:
    """Return ``img`` as ``(H, W, C)`` uint8; a 2-D array becomes ``(H, W, 1)``."""
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ImageError(f"expected an (H, W[, 1|3]) image, got shape {img.shape}")
    if img.dtype != np.uint8:
        raise ImageError(f"expected uint8 pixels, got {img.dtype}")
    return img


def _from_pil(im, policy: ChannelPolicy, source: str) -> np.ndarray:
    from PIL import Image

    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im).astype(np.float64)
        if arr.max(initial=0) > 65535 or arr.min(initial=0) < 0:
            raise ImageError(f"{source}: 32-bit integer pixels out of 16-bit range; not supported")
        arr = np.round(arr / 257.0).astype(np.uint8)
        im = Image.fromarray(arr, mode="L")
        mode = "L"
    elif mode in ("F", "CMYK", "YCbCr", "LAB", "HSV"):
        raise ImageError(f"{source}: mode {mode} is not supported (convert to 8-bit RGB or gray first)")
    if mode in ("P", "PA"):
        im = im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
        mode = im.mode
        if mode == "RGB" and policy == "auto":
            arr = np.asarray(im)
            if _is_gray(arr):  # a palette of grays is a gray image
                return np.ascontiguousarray(arr[:, :, :1])
    if mode == "1":
        im = im.convert("L")
        mode = "L"
    if mode in ("RGBA", "LA", "PA"):
        alpha = np.asarray(im.getchannel("A"))
        if alpha.min(initial=255) < 255:
            raise ImageError(f"{source}: has transparent pixels (alpha < 255); qbench does not "
                             "composite alpha — flatten the image onto a background first")
        im = im.convert("RGB" if mode == "RGBA" else "L")
        mode = im.mode
    if mode not in ("L", "RGB"):
        im = im.convert("RGB")
        mode = "RGB"
    arr = np.asarray(im)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return _apply_policy(arr, policy)


def _is_gray(arr: np.ndarray) -> bool:
    return arr.ndim == 3 and arr.shape[2] == 3 and bool(
        np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]))


def _apply_policy(arr: np.ndarray, policy: ChannelPolicy) -> np.ndarray:
    if policy == "rgb" and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif policy == "gray" and arr.shape[2] == 3:
        arr = rgb_to_gray_u8(arr)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def rgb_to_gray_u8(arr: np.ndarray) -> np.ndarray:
    """BT.601 luma with Pillow's ``convert('L')`` rounding, returned as (H, W, 1)."""
    from PIL import Image

    return np.asarray(Image.fromarray(arr, "RGB").convert("L"))[:, :, None]


def read_image(path: str | os.PathLike, policy: ChannelPolicy = "auto") -> np.ndarray:
    """Read an image file into ``(H, W, C)`` uint8 under ``policy``; raises :class:`ImageError`."""
    from PIL import Image, UnidentifiedImageError

    source = str(path)
    try:
        with Image.open(path) as im:
            im.load()
            return _from_pil(im, policy, source)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:       # declared size beyond Pillow's limit
        raise ImageError(f"{source}: refused, {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{source}: cannot decode image ({type(exc).__name__}: {exc})") from exc


def modcrop(img: np.ndarray, m: int) -> np.ndarray:
    """Crop ``img`` to a multiple of ``m`` in height and width, keeping the top-left corner
    (MATLAB's ``modcrop``, as SR benchmarks prepare their HR images)."""
    if m <= 1:
        return img
    h, w = img.shape[:2]
    return img[: h - h % m, : w - w % m]


@dataclass(frozen=True)
class ImageSource:
    """How one dataset image is read: its file, the dataset's channel policy and its preparation
    (``modcrop``). It is the only reader of originals: indexing, the low-res step, the metric
    reference and the diagnostics all call :meth:`read`, so a dataset parameter applies to
    every read. Picklable, so it travels with a worker's job."""

    path: str
    mode: str = "auto"
    modcrop: int = 1

    def read(self) -> np.ndarray:
        """The image as the dataset defines it."""
        return self.prepare(read_image(self.path, self.mode))  # type: ignore[arg-type]

    def prepare(self, img: np.ndarray) -> np.ndarray:
        """What the dataset does to a decoded file (``read`` is ``prepare(read_image(...))``)."""
        return modcrop(img, self.modcrop)

    @property
    def tag(self) -> str:
        """Channel policy plus preparation: what, besides the file, decides the pixels."""
        return self.mode if self.modcrop <= 1 else f"{self.mode};modcrop={self.modcrop}"


def decode_bytes(data: bytes, policy: ChannelPolicy = "auto") -> np.ndarray:
    """Decode an in-memory image (any Pillow format) into ``(H, W, C)`` uint8."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return _from_pil(im, policy, "<bytes>")
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"refused image bytes: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"cannot decode image bytes ({exc})") from exc


def to_pil(img: np.ndarray):
    """``(H, W, C)`` uint8 -> PIL image (mode L or RGB)."""
    from PIL import Image

    img = as_hwc(img)
    return Image.fromarray(img[:, :, 0], "L") if img.shape[2] == 1 else Image.fromarray(img, "RGB")


def write_png(img: np.ndarray, path: str | os.PathLike) -> None:
    """Write a lossless PNG atomically (temp file + rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    to_pil(img).save(tmp, format="PNG", compress_level=1)
    os.replace(tmp, path)


def to_tensor(imgs: list[np.ndarray] | np.ndarray, device="cpu", dtype=None):
    """uint8 ``(H, W, C)`` image(s) -> float tensor ``(N, C, H, W)`` in [0, 1]."""
    import torch

    if isinstance(imgs, np.ndarray):
        imgs = [imgs]
    arr = np.stack([as_hwc(i) for i in imgs])
    t = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
    return t.to(device=device, dtype=dtype or torch.float32).div_(255.0)


def quantize(t) -> list[np.ndarray]:
    """Float tensor ``(N, C, H, W)`` in [0, 1] -> list of uint8 ``(H, W, C)``: clamp, x255, round."""
    arr = t.detach().float().clamp(0, 1).mul(255.0).round().to("cpu").numpy().astype(np.uint8)
    return [np.ascontiguousarray(a.transpose(1, 2, 0)) for a in arr]
