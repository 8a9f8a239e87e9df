"""SSIM (Wang et al. 2004) and MS-SSIM (Wang et al. 2003).

SSIM: 11x11 Gaussian window, sigma 1.5, 'valid' filtering (no padding), K1 = 0.01,
K2 = 0.03, mean of the SSIM map — the MATLAB reference ``ssim_index.m`` without its
automatic downsampling, as BasicSR's ``calculate_ssim`` computes it. Multi-channel images: the
mean over channels.

MS-SSIM: five scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average
pooling between scales (padding odd sizes), contrast-structure terms clamped at zero per
channel, product over scales per channel, then the mean over channels — the protocol of
``pytorch_msssim.ms_ssim`` that CompressAI uses for its RD results. Like pytorch_msssim, the
Gaussian window is built in float32 (then used in float64): that detail alone moves MS-SSIM by up
to ~1e-6, so it is part of the protocol.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..constants import MS_SSIM_WEIGHTS  # noqa: F401 (re-exported)


def gaussian_1d(size: int = 11, sigma: float = 1.5, dtype=torch.float64, device=None) -> torch.Tensor:
    """A normalised 1-D Gaussian window of ``size`` taps."""
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2.0
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering, per channel.

    On the CPU in float64 this uses scipy's ``correlate1d`` (several times faster than torch's
    float64 convolution there); elsewhere ``conv2d``. Both compute the same sums.
    """
    if x.device.type == "cpu" and x.dtype == torch.float64:
        from scipy.ndimage import correlate1d

        r = (g.numel() - 1) // 2
        w = g.numpy()
        a = correlate1d(x.numpy(), w, axis=2, mode="constant")[:, :, r:x.shape[2] - r]
        a = correlate1d(a, w, axis=3, mode="constant")[:, :, :, r:x.shape[3] - r]
        return torch.from_numpy(np.ascontiguousarray(a))
    c = x.shape[1]
    kh = g.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    kw = g.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    return F.conv2d(F.conv2d(x, kh, groups=c), kw, groups=c)


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, data_range: float, win: int, sigma: float,
             window_dtype=torch.float64):
    """Per-channel mean SSIM and mean contrast-structure term, each ``(N, C)``."""
    if min(x.shape[-2:]) < win:
        raise ValueError(f"image {tuple(x.shape[-2:])} is smaller than the {win}x{win} SSIM window")
    g = gaussian_1d(win, sigma, window_dtype, x.device).to(x.dtype)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_x, mu_y = _filter(x, g), _filter(y, g)
    sxx = _filter(x * x, g) - mu_x**2
    syy = _filter(y * y, g) - mu_y**2
    sxy = _filter(x * y, g) - mu_x * mu_y
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0, win: int = 11,
         sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM per image ``(N,)``; inputs ``(N, C, H, W)``, computed in float64."""
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
    s, _ = _ssim_cs(x.to(torch.float64), y.to(torch.float64), data_range, win, sigma)
    return s.mean(dim=1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0, win: int = 11,
            sigma: float = 1.5, weights=MS_SSIM_WEIGHTS, window_dtype=torch.float32) -> torch.Tensor:
    """MS-SSIM per image ``(N,)``; the smaller side must exceed ``(win - 1) * 2**(levels - 1)``."""
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
    levels = len(weights)
    need = (win - 1) * 2 ** (levels - 1)
    if min(x.shape[-2:]) <= need:
        raise ValueError(f"MS-SSIM with {levels} scales needs images larger than {need} px on the "
                         f"short side, got {tuple(x.shape[-2:])}")
    x = x.to(torch.float64)
    y = y.to(torch.float64)
    w = torch.tensor(weights, dtype=torch.float64, device=x.device)
    mcs = []
    for i in range(levels):
        s, cs = _ssim_cs(x, y, data_range, win, sigma, window_dtype=window_dtype)
        if i < levels - 1:
            mcs.append(torch.relu(cs))
            pad = (x.shape[2] % 2, x.shape[3] % 2)
            x = F.avg_pool2d(x, kernel_size=2, padding=pad)
            y = F.avg_pool2d(y, kernel_size=2, padding=pad)
    stack = torch.stack(mcs + [torch.relu(s)], dim=0)  # (levels, N, C)
    per_channel = torch.prod(stack ** w.view(-1, 1, 1), dim=0)
    return per_channel.mean(dim=1)
