"""Full-reference metrics computed by pyiqa's implementations.

What each computes (pyiqa 0.1.x), on images in [0, 1]; a gray image is replicated to 3 channels:

* ``fsim``: FSIMc (chromatic FSIM, Zhang et al. 2011) on RGB, higher is better;
* ``vif``: wavelet-domain VIF (Sheikh & Bovik 2006, the ``vifvec`` MATLAB release: steerable
  pyramid, 4 levels x 6 orientations, GSM model) on the YIQ luma x 255, higher is better;
* ``gmsd``: GMSD (Xue et al. 2014) on the YIQ luma x 255 (pyiqa's ``test_y_channel``), lower is better;
* ``lpips``: LPIPS v0.1, AlexNet, inputs scaled from [0, 1] to [-1, 1], lower is better;
* ``dists``: DISTS (Ding et al. 2020), VGG16, lower is better.

LPIPS and DISTS need weight files. qbench never lets pyiqa or torchvision download or unpickle
them: files are verified against their pins and loaded with ``weights_only=True``; a missing
file raises :class:`~qbench.errors.WeightsError` when the metric is built, so a suite reports the
metric as skipped (with the reason) and finishes everything else.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from ..errors import ConfigError, WeightsError
from .base import Metric

NO_WEIGHTS = {"fsim": "FSIM", "vif": "VIF", "gmsd": "GMSD"}


@contextlib.contextmanager
def verified_torchvision_weights():
    """Make torchvision's ``weights=...`` loads use verified local files with weights_only=True."""
    from torchvision.models import _api

    from ..weights import ensure, load_state_dict
    from .weights import TORCHVISION_FILES

    original = _api.WeightsEnum.get_state_dict

    def get_state_dict(self, *args: Any, **kwargs: Any):
        name = self.url.rsplit("/", 1)[-1]
        wf = TORCHVISION_FILES.get(name)
        if wf is None:
            raise WeightsError(f"torchvision weight file {name} is not in qbench's catalogue")
        return load_state_dict(ensure(wf, allow_download=False))

    _api.WeightsEnum.get_state_dict = get_state_dict
    try:
        yield
    finally:
        _api.WeightsEnum.get_state_dict = original


class PyiqaMetric(Metric):
    """A pyiqa full-reference metric; preset keys: ``type`` (pyiqa name)."""

    libraries = ("pyiqa",)

    def __init__(self, name: str, preset: dict[str, Any], crop_border: int | None = None):
        super().__init__(name, preset, crop_border)
        kind = self.preset.get("type")
        if kind not in (*NO_WEIGHTS, "lpips", "dists"):
            raise ConfigError(f"metric {name!r}: unsupported pyiqa type {kind!r}")
        self._net = None
        self.check_weights()

    def weight_files(self):
        """The weight files this preset needs (backbone and head), checked before pyiqa loads them."""
        from .weights import ALEXNET, DISTS, LPIPS_ALEX, VGG16

        return {"lpips": [ALEXNET, LPIPS_ALEX], "dists": [VGG16, DISTS]}.get(self.preset["type"], [])

    def check_weights(self) -> None:
        """Raise WeightsError now (at build time) when a needed file is missing or fails its pin."""
        from ..weights import verify

        for wf in self.weight_files():
            verify(wf)

    def _build(self):
        import torch

        kind = self.preset["type"]
        if kind in NO_WEIGHTS:
            import pyiqa

            return pyiqa.create_metric(kind, device=torch.device(self.device), as_loss=False)
        from ..weights import load_state_dict, local_path

        with verified_torchvision_weights():
            if kind == "lpips":
                from pyiqa.archs.lpips_arch import LPIPS

                net = LPIPS(pretrained=False, net="alex", version="0.1")
            else:
                from pyiqa.archs.dists_arch import DISTS

                net = DISTS(pretrained=False)
        own = self.weight_files()[1]
        state = load_state_dict(local_path(own))
        if "params" in state and isinstance(state["params"], dict):
            state = state["params"]
        missing = [k for k in state if k not in net.state_dict()]
        if missing:
            raise WeightsError(f"{own.filename}: unexpected keys {missing[:4]} for {kind}")
        net.load_state_dict(state, strict=False)
        return net.eval().to(self.device)

    def compute_batch(self, refs: list[np.ndarray], outs: list[np.ndarray]) -> list[float]:
        """Values of ``outs`` against ``refs`` (same-size pairs) in one network call."""
        import torch

        from .pixels import unit_tensor

        if self._net is None:
            self._net = self._build()
        x = unit_tensor(refs, self.device)      # uint8, or float outputs on the 0..255 scale
        y = unit_tensor(outs, self.device)
        if self.crop_border:
            b = self.crop_border
            x, y = x[..., b:-b, b:-b], y[..., b:-b, b:-b]
        if x.shape[1] == 1:
            x, y = x.repeat(1, 3, 1, 1), y.repeat(1, 3, 1, 1)
        with torch.inference_mode():
            if self.preset["type"] == "lpips":
                score = self._net(y, x, normalize=True)
            else:
                score = self._net(y, x)
        return [float(v) for v in score.flatten().cpu()]

    def compute(self, ref: np.ndarray, out: np.ndarray) -> float:
        """The value of one pair (a batch of one)."""
        return self.compute_batch([ref], [out])[0]
