"""Metric contract and the full-reference metric driven by a preset.

A preset is data, not a branch on a name: ``{"type": "psnr", "channels": "y"}``. Inputs are
the pristine and the restored image as ``(H, W, C)`` uint8 arrays (outputs are quantised before
measurement unless a suite says otherwise); values are plain floats.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class MetricInfo:
    """What a leaderboard needs to know about a metric."""

    name: str
    higher_is_better: bool
    unit: str = ""
    description: str = ""
    kind: Literal["full_reference", "no_reference", "distribution"] = "full_reference"


class Metric:
    """Base class: a named protocol with a version that enters cache keys."""

    kind: ClassVar[str] = "full_reference"

    def __init__(self, name: str, preset: dict[str, Any], crop_border: int | None = None):
        self.name = name
        self.preset = dict(preset)
        if crop_border is not None:
            self.preset["crop_border"] = int(crop_border)
        self.crop_border = int(self.preset.get("crop_border", 0))
        self.device = "cpu"          # the runner sets its device; values do not depend on it
        self.info = MetricInfo(name=name, higher_is_better=bool(self.preset.get("higher_is_better", True)),
                               unit=str(self.preset.get("unit", "")),
                               description=str(self.preset.get("description", "")), kind=self.kind)

    @property
    def key(self) -> str:
        return f"{self.name}@crop{self.crop_border}" if self.crop_border else self.name

    @property
    def version(self) -> str:
        """Hash of the preset (the protocol): a changed protocol never reuses old values."""
        blob = json.dumps(self.preset, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]




def _functional(kind: str):
    from . import functional as F

    return {"psnr": F.psnr, "psnrb": F.psnrb, "ssim": F.ssim, "ms_ssim": F.ms_ssim}[kind]


class FullReferenceMetric(Metric):
    """A full-reference metric computed by a function of :mod:`qbench.metrics.functional`.

    Preset keys: ``type`` (psnr | psnrb | ssim | ms_ssim), ``channels`` (rgb | y), ``crop_border``.
    ``rgb`` measures every channel of the stored image; ``y`` converts RGB to BT.601 Y first.
    A single-channel image is measured on its gray channel under either setting.
    """

    def __init__(self, name: str, preset: dict[str, Any], crop_border: int | None = None):
        super().__init__(name, preset, crop_border)
        if self.preset.get("type") not in ("psnr", "psnrb", "ssim", "ms_ssim"):
            raise ConfigError(f"metric {name!r}: unknown type {self.preset.get('type')!r}")
        if self.preset.get("channels", "rgb") not in ("rgb", "y"):
            raise ConfigError(f"metric {name!r}: channels must be 'rgb' or 'y'")

    def compute_batch(self, refs: list[np.ndarray], outs: list[np.ndarray]) -> list[float]:
        """Values for same-size pairs of ``(H, W, C)`` uint8 images."""
        import torch

        from ..images import as_hwc
        from .functional import crop, rgb_to_y

        def stack(imgs):
            arr = np.stack([as_hwc(i) for i in imgs]).astype(np.float64)
            return torch.from_numpy(arr).permute(0, 3, 1, 2).to(self.device)

        x, y = stack(refs), stack(outs)
        if x.shape != y.shape:
            raise ValueError(f"{self.name}: reference {tuple(x.shape)} and output {tuple(y.shape)} differ")
        x, y = crop(x, self.crop_border), crop(y, self.crop_border)
        if self.preset.get("channels") == "y":
            x, y = rgb_to_y(x), rgb_to_y(y)
        fn = _functional(self.preset["type"])
        return [float(v) for v in fn(x, y, data_range=255.0)]

    def compute(self, ref: np.ndarray, out: np.ndarray) -> float:
        return self.compute_batch([ref], [out])[0]
