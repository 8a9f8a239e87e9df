"""Adaptive down-sampling compression ("adaptive SR"): a codec that codes some images smaller.

Per image and codec setting, the inner codec first codes the image at full size; the PSNR of
that decoded image (``Pre-PSNR``) decides the branch:

* ``Pre-PSNR >= threshold`` -> **full**: the full-size bitstream is kept;
* otherwise -> **downscale**: the image is resized by a factor ``s`` of ``scales`` (MATLAB
  ``imresize`` bicubic with antialiasing, output ``ceil(s * H) x ceil(s * W)``), coded at the same
  setting, decoded and upscaled back to ``H x W`` by ``upscaler`` (any registered
  :class:`~qbench.solvers.Rescaler`'s ``upscale``; default ``matlab_bicubic``). With
  ``select: best`` the scale whose upscaled image has the highest PSNR wins (the first on a tie);
  with ``select: first`` the first scale of the list is used without trying the others.

Bitstream: a header, then the inner codec's bytes. Header byte 0 is the branch: ``100`` = full
size, ``1..99`` = the scale in percent; a scaled branch follows it with the original height and
width (two little-endian uint16). Rate counts the header: ``bpp = 8 * len(bitstream) / (H * W)``
of the original. The decoder needs only the bytes and the codec's parameters.

``side_info`` records ``branch`` (``full`` or ``x0.5``...), ``scale``, ``pre_psnr``, the
threshold, the PSNR after upscaling of each scale tried and the coded size; the runner stores
it with the encoding and the report groups samples by ``branch``.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from qbench.codecs import Codec, Encoded
from qbench.errors import CodecError, ConfigError

FULL = 100                      # header code of the full-size branch
VERSION = "1"                   # bump when the algorithm changes its bitstreams


def branch_name(scale: float) -> str:
    return "full" if scale >= 1 else f"x{scale:g}"


class AdaptiveSR(Codec):
    """Code at full size when the inner codec alone reaches ``threshold`` dB, else downscale,
    code, and upscale the decoded image."""

    name = "adaptive_sr"
    defaults: dict[str, Any] = {"codec": "jpeg", "codec_params": {}, "threshold": 33.0, "scales": [0.5, 0.7],
                                "select": "best", "upscaler": "matlab_bicubic", "upscaler_params": {},
                                "psnr": "rgb"}

    def __init__(self, **params: Any):
        super().__init__(**params)
        from qbench import codecs

        p = self.params
        self.inner = codecs.build(p["codec"], p["codec_params"])
        self.quality_name = self.inner.quality_name
        self.quality_range = self.inner.quality_range
        self.higher_quality_is_better = self.inner.higher_quality_is_better
        self.integer_quality = self.inner.integer_quality
        self.upscaler = self._build_upscaler()
        self._ready = False
        from qbench import metrics

        self.psnr = metrics.build(f"psnr_{p['psnr']}")      # the Pre-PSNR protocol: psnr_rgb or psnr_y

    def validate_params(self) -> None:
        p = self.params
        if not isinstance(p["codec"], str) or p["codec"] == self.name:
            raise ConfigError("adaptive_sr: 'codec' must name another registered codec")
        if not isinstance(p["codec_params"], dict) or not isinstance(p["upscaler_params"], dict):
            raise ConfigError("adaptive_sr: 'codec_params' and 'upscaler_params' must be mappings")
        t = p["threshold"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise ConfigError(f"adaptive_sr: threshold must be a number of dB, got {t!r}")
        scales = p["scales"]
        if isinstance(scales, (int, float)) and not isinstance(scales, bool):
            scales = [scales]
        if not isinstance(scales, (list, tuple)) or not scales:
            raise ConfigError("adaptive_sr: 'scales' must be a non-empty list of factors in (0, 1)")
        for s in scales:
            ok = (not isinstance(s, bool) and isinstance(s, (int, float)) and 0.01 <= s <= 0.99
                  and abs(round(s * 100) - s * 100) < 1e-9)
            if not ok:
                raise ConfigError(f"adaptive_sr: scale {s!r} must lie in [0.01, 0.99] with at most two decimals")
        if len({round(s * 100) for s in scales}) != len(scales):
            raise ConfigError("adaptive_sr: 'scales' has duplicates")
        p["scales"] = [round(s * 100) / 100 for s in scales]
        p["threshold"] = float(t)
        if p["select"] not in ("best", "first"):
            raise ConfigError(f"adaptive_sr: select must be 'best' or 'first', got {p['select']!r}")
        if p["psnr"] not in ("rgb", "y"):
            raise ConfigError(f"adaptive_sr: psnr must be 'rgb' or 'y', got {p['psnr']!r}")

    def _build_upscaler(self):
        from qbench import solvers
        from qbench.solvers import Rescaler

        solver = solvers.build(self.params["upscaler"], self.params["upscaler_params"])
        if not isinstance(solver, Rescaler):
            raise ConfigError(f"adaptive_sr: upscaler {self.params['upscaler']!r} is a "
                              f"{solver.card.task} solver, not a Rescaler")
        return solver

    # -- the codec contract ------------------------------------------------------------------
    def check_quality(self, quality: float) -> None:
        self.inner.check_quality(quality)

    def rate_increases_with_quality(self) -> bool:
        return self.inner.rate_increases_with_quality()

    def search_range(self) -> tuple[float, float]:
        return self.inner.search_range()

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        import torch

        return {"torch": torch.__version__}

    def spec(self) -> dict[str, Any]:
        spec = super().spec()
        spec["version"] = VERSION
        spec["inner"] = self.inner.spec()
        spec["upscaler"] = self.upscaler.spec()
        return spec

    def encode(self, img: np.ndarray, quality: float) -> Encoded:
        self.check_quality(quality)
        p = self.params
        h, w, c = img.shape
        full = self.inner.encode(img, quality)
        pre = float(self.psnr.compute(img, self.inner.decode(full.data, channels=c)))
        info: dict[str, Any] = {"branch": "full", "scale": 1.0, "pre_psnr": pre, "threshold": p["threshold"],
                                "coded_size": [h, w]}
        if pre >= p["threshold"]:
            if "qtables" in full.side_info:        # the decoded image is the JPEG's own
                info["qtables"] = full.side_info["qtables"]
            return Encoded(bytes([FULL]) + full.data, info)
        if h > 0xFFFF or w > 0xFFFF:
            raise CodecError(f"adaptive_sr: a {h}x{w} image exceeds the header's 65535-pixel sides")
        tried: dict[str, float] = {}
        best: tuple[float, float, bytes, tuple[int, int]] | None = None
        for s in (p["scales"] if p["select"] == "best" else p["scales"][:1]):
            low = self._downscale(img, s)
            enc = self.inner.encode(low, quality)
            up = self._upscale(self.inner.decode(enc.data, channels=c), (h, w))
            value = float(self.psnr.compute(img, up))
            tried[branch_name(s)] = value
            if best is None or value > best[0]:
                best = (value, s, enc.data, low.shape[:2])
        value, s, data, size = best
        info.update({"branch": branch_name(s), "scale": s, "psnr_after": tried, "coded_size": list(size)})
        header = bytes([round(s * 100)]) + struct.pack("<HH", h, w)
        return Encoded(header + data, info)

    def decode(self, data: bytes, channels: int | None = None) -> np.ndarray:
        if not data:
            raise CodecError("adaptive_sr: empty bitstream")
        code = data[0]
        if code == FULL:
            return self.inner.decode(bytes(data[1:]), channels=channels)
        if not 1 <= code <= 99 or len(data) < 5:
            raise CodecError(f"adaptive_sr: bad header (branch code {code}, {len(data)} bytes)")
        h, w = struct.unpack("<HH", data[1:5])
        low = self.inner.decode(bytes(data[5:]), channels=channels)
        return self._upscale(low, (h, w))

    # -- resampling --------------------------------------------------------------------------
    def _downscale(self, img: np.ndarray, scale: float) -> np.ndarray:
        from qbench.images import quantize, to_tensor

        from .matlab_bicubic import imresize

        h, w = img.shape[:2]
        size = (max(1, math.ceil(h * scale - 1e-9)), max(1, math.ceil(w * scale - 1e-9)))
        return quantize(imresize(to_tensor(img), scale=scale, size=size))[0]

    def _upscale(self, low: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        import torch

        from qbench.images import quantize, to_tensor
        from qbench.solvers import Context

        if not self._ready:
            self.upscaler.setup("cpu")
            self._ready = True
        ctx = Context(codec=self.inner.name, original_size=(int(size[0]), int(size[1])), device="cpu")
        with torch.inference_mode():
            out = self.upscaler.upscale(to_tensor(low), ctx)
        expected = (1, low.shape[2], int(size[0]), int(size[1]))
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CodecError(f"adaptive_sr: upscaler {self.upscaler.card.name!r} returned {got}, "
                             f"expected {expected}")
        if not bool(torch.isfinite(out).all()):
            raise CodecError(f"adaptive_sr: upscaler {self.upscaler.card.name!r} produced non-finite values")
        return quantize(out)[0]
