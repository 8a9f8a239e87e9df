"""Bicubic rescaling: the reference point for IRN/SAIN-style compression-robust rescalers."""

from __future__ import annotations

from qbench.solvers import Context, Rescaler, SolverCard
from qbench.solvers.base import torch_versions


class Bicubic(Rescaler):
    """Downscale with antialiased bicubic, upscale with bicubic (PyTorch ``interpolate``)."""

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """torch's version: its interpolation computes both steps."""
        return torch_versions()

    card = SolverCard(name="bicubic", task="rescale", license="MIT", blind=True, scale=2,
                      description="antialiased bicubic down, bicubic up (torch.nn.functional.interpolate)")
    defaults = {"scale": 2}

    def __init__(self, **params):
        super().__init__(**params)
        if int(self.params["scale"]) < 1:
            from qbench.errors import ConfigError
            raise ConfigError("bicubic: scale must be a positive integer")

    def downscale(self, batch, ctx: Context):
        import torch.nn.functional as F

        s = int(self.params["scale"])
        h, w = batch.shape[-2:]
        return F.interpolate(batch, size=(max(1, round(h / s)), max(1, round(w / s))),
                             mode="bicubic", align_corners=False, antialias=True)

    def upscale(self, batch, ctx: Context):
        import torch.nn.functional as F

        if ctx.original_size is None:
            from qbench.errors import SolverError
            raise SolverError("bicubic.upscale needs ctx.original_size")
        return F.interpolate(batch, size=ctx.original_size, mode="bicubic", align_corners=False)
