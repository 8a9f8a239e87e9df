"""PSNR-B (Yim and Bovik, "Quality assessment of deblocked images", IEEE TIP 2011).

``PSNR-B = 10 log10(255^2 / (MSE + BEF))`` where the blocking effect factor BEF of the
*distorted* image compares the mean squared difference across 8x8 block boundaries with the one
between neighbouring pixels inside blocks::

    BEF = log2(B) / log2(min(H, W)) * max(0, D_boundary - D_nonboundary)

Counting follows the reference code the JPEG artifact-removal literature uses (BasicSR / KAIR
``calculate_psnrb``): boundary columns at x = 7, 15, ... < W - 1, with the boundary count taken as
``H * (W // 8 - 1)`` (likewise for rows), which differs from the number of boundary positions
when a side is not a multiple of 8. Multi-channel images: the mean of per-channel PSNR-B.
"""

from __future__ import annotations

import math

import torch

from ..constants import PSNRB_BLOCK as BLOCK


def blocking_effect_factor(x: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """BEF per image and channel, ``(N, C)``, for ``x`` of shape ``(N, C, H, W)``."""
    n, c, h, w = x.shape
    bh = torch.arange(block - 1, w - 1, block, device=x.device)
    bv = torch.arange(block - 1, h - 1, block, device=x.device)
    nbh = torch.tensor(sorted(set(range(w - 1)) - set(bh.tolist())), device=x.device, dtype=torch.long)
    nbv = torch.tensor(sorted(set(range(h - 1)) - set(bv.tolist())), device=x.device, dtype=torch.long)

    def sq(a, b):
        return ((a - b) ** 2).flatten(2).sum(-1)

    d_bh = sq(x[..., bh], x[..., bh + 1])
    d_bv = sq(x[..., bv, :], x[..., bv + 1, :])
    d_nh = sq(x[..., nbh], x[..., nbh + 1])
    d_nv = sq(x[..., nbv, :], x[..., nbv + 1, :])
    n_bh = h * (w // block - 1)
    n_bv = w * (h // block - 1)
    n_nh = h * (w - 1) - n_bh
    n_nv = w * (h - 1) - n_bv
    boundary = (d_bh + d_bv) / (n_bh + n_bv)
    inner = (d_nh + d_nv) / (n_nh + n_nv)
    scale = math.log2(block) / math.log2(min(h, w))
    return torch.where(boundary > inner, scale * (boundary - inner), torch.zeros_like(boundary))


def psnrb(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """PSNR-B per image ``(N,)``: ``x`` is the reference, ``y`` the distorted/restored image."""
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
    if min(x.shape[-2:]) < 2 * BLOCK:
        raise ValueError(f"PSNR-B needs images of at least {2 * BLOCK} px per side")
    x = x.to(torch.float64)
    y = y.to(torch.float64)
    mse = ((x - y) ** 2).flatten(2).mean(-1)              # (N, C)
    bef = blocking_effect_factor(y)
    return (10.0 * torch.log10(data_range**2 / (mse + bef))).mean(dim=1)
