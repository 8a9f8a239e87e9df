"""Peak signal-to-noise ratio."""

from __future__ import annotations

import torch


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """PSNR per image: ``10 log10(data_range^2 / MSE)``, MSE over all channels and pixels.

    No epsilon is added (pyiqa adds 1e-8 to the MSE, which shifts values by up to ~4e-5 dB at
    data range 1); identical images give ``+inf``. Computed in float64.
    """
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
    x = x.to(torch.float64)
    y = y.to(torch.float64)
    mse = ((x - y) ** 2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)
