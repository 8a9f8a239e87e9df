"""Any checkpoint spandrel recognises, as an enhancer: ``{name: spandrel, params: {checkpoint: f.pth}}``.

The file is loaded with ``torch.load(weights_only=True)`` and its architecture detected by
spandrel's registry of known architectures (FBCNN, SwinIR, Real-ESRGAN / ESRGAN, Compact,
DRUNet, SCUNet, DnCNN, ...): nothing outside that allow-list is built. Its sha256 enters the
cache keys (the path does not: a moved file keeps its results, a retrained one does not).

* scale: a 1x model restores directly; a super-resolution model (scale s > 1) runs at xs and its
  output is resized back to the input size with Lanczos, as Real-ESRGAN's ``--outscale 1``
  (``sr: refuse`` turns such a model down instead);
* channels: a colour model (3 input channels) on a gray image gets the gray channel replicated
  and returns the mean of its output channels; a gray model (1 input channel) on an RGB image
  restores R, G and B one at a time;
* a network that is not a plain image-to-image model (inpainting with a mask, face restoration
  at a fixed size, ...) is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qbench.errors import ConfigError, SolverError, WeightsError
from qbench.solvers import Context, SolverCard

from .learned import SpandrelEnhancer, load_spandrel

#: spandrel purposes run as image-to-image enhancers
PURPOSES = ("Restoration", "SR")


class SpandrelCheckpoint(SpandrelEnhancer):
    """An enhancer from one checkpoint file of any architecture spandrel knows."""

    defaults: dict[str, Any] = {"checkpoint": None, "architecture": None, "sr": "resize"}
    card = SolverCard(
        name="spandrel", task="enhance", paper="any architecture spandrel recognises (its own checkpoint)",
        license="that of the checkpoint", blind=True, channels=("gray", "rgb"),
        description="params: checkpoint (path), architecture (optional spandrel id the file must hold), "
                    "sr: resize | refuse")

    def __init__(self, **params: Any):
        super().__init__(**params)
        ckpt = self.params["checkpoint"]
        if not ckpt:
            raise ConfigError("spandrel: give params: {checkpoint: path/to/model.pth}")
        if self.params["sr"] not in ("resize", "refuse"):
            raise ConfigError(f"spandrel: sr must be 'resize' or 'refuse', got {self.params['sr']!r}")
        self.path = Path(str(ckpt)).expanduser().resolve()
        if not self.path.is_file():
            raise WeightsError(f"spandrel: checkpoint {str(ckpt)!r} not found (looked at {self.path})")
        self.architecture = str(self.params["architecture"] or "")

    # -- identity -------------------------------------------------------------------------
    def weights_sha256(self) -> list[str]:
        """The checkpoint's sha256 (read once per instance)."""
        from qbench.weights import sha256_file

        if "_sha256" not in self.__dict__:
            self._sha256 = sha256_file(self.path)
        return [self._sha256]

    def spec(self) -> dict[str, Any]:
        """The spec without the checkpoint's path: its content (sha256) is what decides outputs."""
        spec = super().spec()
        spec["params"] = {k: v for k, v in spec["params"].items() if k != "checkpoint"}
        return spec

    # -- loading ----------------------------------------------------------------------------
    def setup(self, device: str = "cpu") -> None:
        self.device = device
        self.network(None)

    def network(self, ctx: Context | None):
        if "model" in self._models:
            return self._models["model"]
        desc = load_spandrel(self.path, self.architecture, sha256=self.weights_sha256()[0])
        from spandrel import ImageModelDescriptor

        purpose = getattr(desc, "purpose", "")
        if purpose not in PURPOSES or not isinstance(desc, ImageModelDescriptor):
            raise SolverError(f"spandrel: {self.path.name} holds a {desc.architecture.id} {purpose or ''} network, "
                              f"not an image-to-image restoration or super-resolution model")
        if desc.scale > 1 and self.params["sr"] == "refuse":
            raise SolverError(f"spandrel: {self.path.name} is a x{desc.scale} super-resolution "
                              f"{desc.architecture.id} network; an enhancer returns the input size "
                              "(sr: resize runs it at its scale and resizes back with Lanczos)")
        if desc.input_channels not in (1, 3) or desc.output_channels != desc.input_channels:
            raise SolverError(f"spandrel: {self.path.name}: {desc.input_channels} input and "
                              f"{desc.output_channels} output channels (need 1 -> 1 or 3 -> 3)")
        desc.to(self.device).eval()
        self._models["model"] = desc
        return desc

    # -- running ------------------------------------------------------------------------------
    def enhance(self, batch, ctx: Context):
        desc = self.network(ctx)
        n, c, h, w = batch.shape
        x = batch
        if desc.input_channels == 3 and c == 1:
            x = batch.repeat(1, 3, 1, 1)
        elif desc.input_channels == 1 and c == 3:
            x = batch.reshape(n * 3, 1, h, w)
        out = super().enhance(x, ctx)
        if desc.scale > 1:
            out = _resize_back(out, h, w)
        if desc.input_channels == 1 and c == 3:
            out = out.reshape(n, 3, h, w)
        elif desc.input_channels == 3 and c == 1:
            out = out.mean(dim=1, keepdim=True)
        return out


def _resize_back(big, h: int, w: int):
    """Quantise the xs output and resize it to ``(h, w)`` with OpenCV's Lanczos (Real-ESRGAN's
    ``--outscale``)."""
    import cv2
    import torch

    from qbench.images import quantize, to_tensor

    outs = []
    for img in quantize(big):
        small = cv2.resize(img, (w, h), interpolation=cv2.INTER_LANCZOS4)
        outs.append(to_tensor(small if small.ndim == 3 else small[:, :, None], big.device))
    return torch.cat(outs)
