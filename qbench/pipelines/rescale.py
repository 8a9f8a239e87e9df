"""x -> Rescaler.downscale -> codec -> Rescaler.upscale -> x_hat (IRN/SAIN style).

The low-resolution image is an artefact of its own (role ``lowres``), keyed by the image and the
rescaler only: it is computed once per image and shared by every codec point.
"""

from __future__ import annotations

from .base import ImageRef, Pipeline, content_key


class RescalePipeline(Pipeline):
    """x -> Rescaler.downscale -> codec -> Rescaler.upscale -> x_hat."""

    kind = "rescale"

    @classmethod
    def accepts(cls, solver, codec) -> bool:
        """Any rescaler."""
        from ..solvers import Rescaler

        return isinstance(solver, Rescaler)

    @property
    def has_pre(self) -> bool:
        """Always: the downscale is the ``pre`` step."""
        return True

    def pre_key(self, image: ImageRef) -> str:
        """The low-res image's key: the image and the rescaler's spec (shared by every codec point)."""
        spec = dict(self.solver.spec())
        return content_key("lowres", image.pixel_hash, spec)

    def pre(self, batch, ctx):
        """The rescaler's downscale."""
        return self.solver.downscale(batch, ctx)

    def post(self, batch, ctx):
        """The rescaler's upscale."""
        return self.solver.upscale(batch, ctx)
