"""MATLAB ``imresize`` bicubic rescaling: the down/up-sampling protocol of the SR literature.

Papers on super-resolution and compression-robust rescaling (IRN, SAIN, BasicSR's
``basicsr/utils/matlab_functions.py``) make their low-resolution images with MATLAB's
``imresize(x, 1/s, 'bicubic')``, not with PyTorch's ``interpolate``. The two differ in the kernel
(Keys cubic, a = -0.5, widened by ``s`` when downscaling, i.e. antialiasing), in the borders
(symmetric / mirror padding, the edge pixel repeated) and in the output size
(``ceil(in * scale)``), so numbers measured with one are not comparable with the other.

The weights follow MATLAB's ``contributions``: for output pixel ``x`` (1-based),
``u = x / scale + 0.5 * (1 - 1 / scale)``, taps ``floor(u - width / 2) + (0 .. ceil(width) + 1)``,
weights ``h(u - tap)`` normalised to sum 1, out-of-range taps mirrored, all-zero tap columns dropped.
Given an output size instead of a scale (our upscale back to the pristine size), the scale is
``out / in`` per axis, as in MATLAB. Each axis is one gather per tap (at most ``4 * s + 2`` taps),
in float64 on the tensor's device; the result is not clamped (the runner quantises).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from qbench.solvers import Context, Rescaler, SolverCard

SCALES = (2, 3, 4)


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


@lru_cache(maxsize=64)
def contributions(in_length: int, out_length: int, scale: float,
                  antialiasing: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``contributions`` for the bicubic kernel.

    Returns ``(indices, weights)``, both ``(out_length, taps)``: 0-based input indices (already
    mirrored into ``[0, in_length)``) and float64 weights whose rows sum to 1.
    """
    kernel_width = 4.0
    if scale < 1 and antialiasing:
        kernel_width = kernel_width / scale           # widen the kernel: interpolate and antialias
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)            # input-space coordinate (1-based)
    left = np.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    distance = u[:, None] - indices
    if scale < 1 and antialiasing:
        weights = scale * cubic(scale * distance)
    else:
        weights = cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # mirror out-of-range indices: aux = [1:in, in:-1:1]; indices = aux(mod(indices - 1, 2 * in) + 1)
    aux = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = aux[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    keep = np.any(weights != 0, axis=0)               # drop all-zero tap columns
    return np.ascontiguousarray(indices[:, keep]), np.ascontiguousarray(weights[:, keep])


def _resize_axis(t, dim: int, out_length: int, scale: float):
    """Resize tensor ``t`` along ``dim`` (``-2`` rows, ``-1`` columns) to ``out_length``."""
    import torch

    indices, weights = contributions(int(t.shape[dim]), int(out_length), float(scale))
    idx = torch.from_numpy(indices).to(t.device)
    w = torch.from_numpy(weights).to(device=t.device, dtype=t.dtype)
    shape = (-1, 1) if dim == -2 else (-1,)           # broadcast the per-output weights along dim
    out = None
    for k in range(idx.shape[1]):                     # a loop over taps (<= 4 * s + 2), not pixels
        term = t.index_select(dim, idx[:, k]) * w[:, k].reshape(shape)
        out = term if out is None else out.add_(term)
    return out


def imresize(batch, *, scale: float | None = None, size: tuple[int, int] | None = None):
    """MATLAB ``imresize(batch, scale)`` or ``imresize(batch, size)``, bicubic with antialiasing.

    ``batch`` is a float tensor ``(N, C, H, W)``. With ``scale`` only, the output is
    ``ceil(in * scale)`` per axis; with ``size`` only, the scale is ``out / in`` per axis; with
    both, that scale and that size (how ``downscale`` states ``imresize(x, 1/s)`` with the size
    counted in integers). Computed in float64 (float32 on devices without float64) and returned
    in the input's dtype.
    """
    import torch

    h, w = int(batch.shape[-2]), int(batch.shape[-1])
    if size is None:
        if scale is None:
            raise ValueError("imresize needs a scale or a size")
        size = (math.ceil(h * scale), math.ceil(w * scale))
    scales = (float(scale), float(scale)) if scale is not None else (size[0] / h, size[1] / w)
    work = torch.float32 if batch.device.type == "mps" else torch.float64
    t = batch.to(work)
    # MATLAB resizes along the dimension with the smaller scale first (rows on a tie)
    for dim in ((-2, -1) if scales[0] <= scales[1] else (-1, -2)):
        i = 0 if dim == -2 else 1
        t = _resize_axis(t, dim, int(size[i]), scales[i])
    return t.to(batch.dtype)


class MatlabBicubic(Rescaler):
    """Downscale by ``1/scale`` and upscale back with MATLAB ``imresize`` bicubic semantics."""

    card = SolverCard(name="matlab_bicubic", task="rescale", license="MIT", blind=True, scale=2,
                      description="MATLAB imresize bicubic (a=-0.5, antialiased down, mirror borders), "
                                  "the SR literature's protocol")
    defaults = {"scale": 2}

    def __init__(self, **params):
        super().__init__(**params)
        s = self.params["scale"]
        if isinstance(s, bool) or not isinstance(s, (int, float)) or s not in SCALES:
            from qbench.errors import ConfigError
            raise ConfigError(f"matlab_bicubic: scale must be one of {SCALES}, got {s!r}")
        self.params["scale"] = int(s)

    def downscale(self, batch, ctx: Context):
        """``imresize(x, 1/scale)``: output ``ceil(in / scale)`` per axis."""
        s = self.params["scale"]
        h, w = int(batch.shape[-2]), int(batch.shape[-1])
        return imresize(batch, scale=1.0 / s, size=(-(-h // s), -(-w // s)))

    def upscale(self, batch, ctx: Context):
        """``imresize(y, original_size)``: per-axis scale ``out / in`` (``scale`` when it divides)."""
        if ctx.original_size is None:
            from qbench.errors import SolverError
            raise SolverError("matlab_bicubic.upscale needs ctx.original_size")
        return imresize(batch, size=(int(ctx.original_size[0]), int(ctx.original_size[1])))
