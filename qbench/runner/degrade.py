"""The degrade stage (CPU workers): read -> [pre-processed input] -> encode -> decode -> cache.

Runs in worker processes, so everything it needs travels in a picklable :class:`EncodeJob`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..images import read_image, write_bytes, write_png
from ..store import EncodingRow


@dataclass(frozen=True)
class EncodeJob:
    enc_key: str
    image_hash: str
    codec_label: str
    codec_name: str
    codec_params: dict[str, Any]
    quality: float
    source_path: str | None          # read from here under ``mode`` ...
    mode: str
    array: np.ndarray | None         # ... or use this (a rescaler's low-resolution image)
    pixels: int                      # H * W of the pristine image: the bpp denominator
    cache_dir: str
    keep_images: bool = True
    target_bpp: float | None = None  # rate control: search the setting closest to this bpp


def cache_paths(cache_dir: str | Path, enc_key: str) -> tuple[Path, Path]:
    root = Path(cache_dir)
    return root / "bitstreams" / enc_key[:2] / f"{enc_key}.bin", root / "decoded" / enc_key[:2] / f"{enc_key}.png"


def run_encode(job: EncodeJob) -> tuple[EncodingRow, np.ndarray]:
    """Encode and decode one image; write the bitstream (and decoded PNG) to the cache."""
    from .. import codecs

    t0 = time.perf_counter()
    codec = codecs.build(job.codec_name, job.codec_params)
    img = job.array if job.array is not None else read_image(job.source_path, job.mode)  # type: ignore[arg-type]
    if job.target_bpp is not None:
        from ..codecs.rate import find_quality

        chosen, enc = find_quality(codec, img, job.target_bpp, job.pixels)
        enc.side_info.update({"target_bpp": job.target_bpp, "chosen_quality": chosen})
    else:
        enc = codec.encode(img, job.quality)
    decoded = codec.decode(enc.data, channels=int(img.shape[2]))
    if decoded.shape != img.shape:
        from ..errors import CodecError
        raise CodecError(f"{job.codec_name} decoded shape {decoded.shape} != input {img.shape}")
    seconds = time.perf_counter() - t0
    bytes_path, decoded_path = cache_paths(job.cache_dir, job.enc_key)
    write_bytes(enc.data, bytes_path)
    if job.keep_images:
        write_png(decoded, decoded_path)
    row = EncodingRow(job.enc_key, job.image_hash, job.codec_label, job.quality, len(enc.data),
                      job.pixels, 8.0 * len(enc.data) / job.pixels, enc.side_info, str(bytes_path),
                      str(decoded_path) if job.keep_images else None, seconds)
    return row, decoded
