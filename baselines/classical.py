"""Classical enhancers that need no weights: OpenCV filters and DCT-domain JPEG deblocking.

They work on the quantised uint8 decoded image (as a user would apply them to a JPEG file), one
image at a time, on the CPU.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from qbench.errors import ConfigError
from qbench.solvers import Context, Enhancer, SolverCard


class _NumpyEnhancer(Enhancer):
    """Applies :meth:`process` to each image of the batch as ``(H, W, C)`` uint8."""

    def process(self, img: np.ndarray, ctx: Context, index: int) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """OpenCV's version: its filters compute the outputs."""
        import cv2

        return {"opencv": cv2.__version__}

    def enhance(self, batch, ctx: Context):
        import torch

        from qbench.images import quantize, to_tensor

        imgs = quantize(batch)
        out = [self.process(img, ctx, i) for i, img in enumerate(imgs)]
        return torch.cat([to_tensor(o if o.ndim == 3 else o[:, :, None]) for o in out]).to(batch.device)


class Gaussian(_NumpyEnhancer):
    card = SolverCard(name="gaussian", task="enhance", license="Apache-2.0 (OpenCV)", blind=True,
                      description="Gaussian blur (cv2.GaussianBlur), a deblocking reference point")
    defaults: ClassVar[dict[str, Any]] = {"sigma": 0.8}

    def process(self, img, ctx, index):
        import cv2

        return cv2.GaussianBlur(img, (0, 0), float(self.params["sigma"]))


class Bilateral(_NumpyEnhancer):
    card = SolverCard(name="bilateral", task="enhance", license="Apache-2.0 (OpenCV)", blind=True,
                      description="bilateral filter (cv2.bilateralFilter): smooths blocks, keeps edges")
    defaults: ClassVar[dict[str, Any]] = {"diameter": 5, "sigma_color": 20.0, "sigma_space": 2.0}

    def process(self, img, ctx, index):
        import cv2

        p = self.params
        return cv2.bilateralFilter(img, int(p["diameter"]), float(p["sigma_color"]), float(p["sigma_space"]))


class NonLocalMeans(_NumpyEnhancer):
    card = SolverCard(name="nlm", task="enhance", license="Apache-2.0 (OpenCV)", blind=True,
                      description="non-local means (cv2.fastNlMeansDenoising[Colored])")
    defaults: ClassVar[dict[str, Any]] = {"h": 5.0, "template": 5, "search": 9}

    def process(self, img, ctx, index):
        import cv2

        p = self.params
        if img.shape[2] == 1:
            return cv2.fastNlMeansDenoising(img[:, :, 0], None, float(p["h"]), int(p["template"]), int(p["search"]))
        return cv2.fastNlMeansDenoisingColored(img, None, float(p["h"]), float(p["h"]), int(p["template"]),
                                               int(p["search"]))


def _blocks(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    return a.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)


def _unblocks(b: np.ndarray) -> np.ndarray:
    nh, nw = b.shape[:2]
    return b.transpose(0, 2, 1, 3).reshape(nh * 8, nw * 8)


def _soften_boundaries(y: np.ndarray, threshold: float, strength: float) -> np.ndarray:
    """Shrink the step across every 8x8 block boundary by ``strength`` (moving the two pixels
    either side towards each other), except where the step exceeds ``threshold`` (a real edge)."""
    out = y.copy()
    for a in (out, out.T):                 # columns, then rows (a view of the same array)
        k = np.arange(8, a.shape[1], 8)
        step = a[:, k] - a[:, k - 1]
        delta = np.where(np.abs(step) < threshold, 0.5 * strength * step, 0.0)
        a[:, k - 1] += delta
        a[:, k] -= delta
    return out


class DCTDeblock(_NumpyEnhancer):
    """Projection onto the quantisation constraint set (POCS deblocking).

    Alternates a smoothing step across block boundaries with a projection of every 8x8 block's
    DCT coefficients back into the quantisation interval ``[c - q/2, c + q/2]`` of the decoded
    coefficient ``c``, using the luma table the decoder read from the file (``ctx.qtables``), so
    the result stays consistent with the bitstream. The smoothing step halves (``strength``) the
    discontinuity across each block boundary unless it exceeds ``threshold`` times the DC
    quantisation step (then it is taken for an edge). Gray images are processed directly; for RGB
    the luma (JPEG's full-range YCbCr) is processed and the decoded chroma is kept, because 4:2:0
    chroma was quantised at half resolution. Without quantisation tables (another codec) it raises.
    """

    card = SolverCard(name="dct_deblock", task="enhance", license="MIT", blind=False,
                      description="POCS deblocking in the DCT domain with the decoder's quantisation tables")
    defaults: ClassVar[dict[str, Any]] = {"iterations": 1, "strength": 0.5, "threshold": 1.0}
    version = "2"

    def process(self, img, ctx, index):
        import cv2
        from scipy.fft import dctn, idctn

        if not ctx.qtables or index >= len(ctx.qtables) or not ctx.qtables[index]:
            raise ConfigError("dct_deblock needs the decoder's JPEG quantisation tables (a JPEG codec)")
        q = np.asarray(ctx.qtables[index][0], dtype=np.float64).reshape(8, 8)
        if img.shape[2] == 3:
            ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb).astype(np.float64)
            y = ycc[:, :, 0]
        else:
            y = img[:, :, 0].astype(np.float64)
        h, w = y.shape
        ph, pw = (-h) % 8, (-w) % 8
        y0 = np.pad(y, ((0, ph), (0, pw)), mode="edge") - 128.0
        c0 = dctn(_blocks(y0), axes=(2, 3), norm="ortho")
        lo, hi = c0 - q / 2, c0 + q / 2
        threshold = float(self.params["threshold"]) * float(q[0, 0])
        cur = y0
        for _ in range(int(self.params["iterations"])):
            smooth = _soften_boundaries(cur, threshold, float(self.params["strength"]))
            c = np.clip(dctn(_blocks(smooth), axes=(2, 3), norm="ortho"), lo, hi)
            cur = _unblocks(idctn(c, axes=(2, 3), norm="ortho"))
        out_y = np.clip(np.round(cur[:h, :w] + 128.0), 0, 255)
        if img.shape[2] == 1:
            return out_y.astype(np.uint8)[:, :, None]
        ycc[:, :, 0] = out_y
        return cv2.cvtColor(np.clip(np.round(ycc), 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)
