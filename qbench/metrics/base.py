"""Metric contract and the full-reference metric driven by a preset.

A preset is data, not a branch on a name: ``{"type": "psnr", "channels": "y"}``. Inputs are
the pristine image as an ``(H, W, C)`` uint8 array and the restored one as uint8 or, when a suite
does not quantise outputs, float32/float64 on the 0..255 scale; values are plain floats.

Many outputs are measured against one reference, so a metric can ``prepare`` the reference once
and ``compute_prepared`` each output against it; ``compute(ref, out)`` gives the same value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:
    from .prepared import PreparedReference


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
    #: installed distributions whose code computes the values (their versions enter :attr:`version`)
    libraries: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, preset: dict[str, Any], crop_border: int | None = None):
        self.name = name
        self.preset = dict(preset)
        self._preset_crop = int(self.preset.get("crop_border", 0))   # a preset may name its crop
        if crop_border is not None:
            self.preset["crop_border"] = int(crop_border)
        self.crop_border = int(self.preset.get("crop_border", 0))
        self.device = "cpu"          # the runner sets its device; values do not depend on it
        self.info = MetricInfo(name=name, higher_is_better=bool(self.preset.get("higher_is_better", True)),
                               unit=str(self.preset.get("unit", "")),
                               description=str(self.preset.get("description", "")), kind=self.kind)

    @property
    def key(self) -> str:
        """The name, with ``@cropN`` when a suite's ``crop_border`` differs from the preset's own."""
        return f"{self.name}@crop{self.crop_border}" if self.crop_border != self._preset_crop else self.name

    @property
    def version(self) -> str:
        """Hash of the preset (the protocol), of the implementation's code identity
        (:func:`qbench.codeid.code_identity`) and of the versions of its :attr:`libraries`: a changed
        protocol, edited code or another library release never reuses old values."""
        from ..codeid import code_identity, versions_of

        blob = json.dumps([self.preset, code_identity(self), versions_of(self.libraries)], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def compute(self, ref: np.ndarray, out: np.ndarray) -> float:
        """The value of ``out`` measured against the reference ``ref``."""
        raise NotImplementedError(f"{type(self).__name__} does not compare an image with a reference")

    def prepare(self, ref: np.ndarray) -> Any:
        """What :meth:`compute_prepared` needs of ``ref``; by default the reference itself."""
        return ref

    def compute_prepared(self, prepared: Any, out: np.ndarray) -> float:
        """The value of ``out`` against a reference returned by :meth:`prepare`."""
        return self.compute(prepared, out)


def _functional(kind: str):
    from . import functional as F

    return {"psnr": F.psnr, "psnrb": F.psnrb, "ssim": F.ssim, "ms_ssim": F.ms_ssim}[kind]


class FullReferenceMetric(Metric):
    """A full-reference metric: the protocol of a function of :mod:`qbench.metrics.functional`.

    On the CPU values come from :mod:`qbench.metrics.prepared` (the reference prepared once, see
    :meth:`prepare`); on another ``device`` from the batched functional code, which is the oracle.

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

    @property
    def version(self) -> str:
        """:attr:`Metric.version`; for SSIM and MS-SSIM also the Gaussian filter's pass along W
        (:func:`qbench.metrics.band.pass_along_w`: OpenCV and its release, or numpy's GEMM), whose
        float32 sums enter the values in their last bits."""
        base = super().version
        if self.preset["type"] not in ("ssim", "ms_ssim"):
            return base
        from .band import pass_along_w

        return hashlib.sha256(f"{base}\0{pass_along_w()}".encode()).hexdigest()[:12]

    @property
    def _on_cpu(self) -> bool:
        return str(self.device).split(":")[0] == "cpu"

    def prepare(self, ref: np.ndarray) -> PreparedReference:
        """Crop, Y, float64 and (SSIM / MS-SSIM) the reference's per-scale statistics, once.

        Computed on the CPU with numpy whatever ``device`` is; the result holds plain arrays.
        """
        from .prepared import prepare

        return prepare(ref, self.preset["type"], self.crop_border, self.preset.get("channels", "rgb"))

    def compute_prepared(self, prepared: PreparedReference, out: np.ndarray) -> float:
        """The value of ``out`` (uint8, or float in [0, 255]) against a prepared reference."""
        from .prepared import compute

        if prepared.protocol != (self.preset["type"], self.crop_border, self.preset.get("channels", "rgb")):
            raise ValueError(f"{self.name}: reference prepared for {prepared.protocol}")
        return compute(prepared, out)

    def compute(self, ref: np.ndarray, out: np.ndarray) -> float:
        """``compute_prepared(prepare(ref), out)`` on the CPU; the functional path elsewhere."""
        if not self._on_cpu:
            return self.compute_functional([ref], [out])[0]
        return self.compute_prepared(self.prepare(ref), out)

    def compute_batch(self, refs: list[np.ndarray], outs: list[np.ndarray]) -> list[float]:
        """Values for same-size pairs; a reference repeated in a row is prepared once."""
        if not self._on_cpu:
            return self.compute_functional(refs, outs)
        values, last, prep = [], None, None
        for ref, out in zip(refs, outs, strict=True):
            if ref is not last:
                last, prep = ref, self.prepare(ref)
            values.append(self.compute_prepared(prep, out))
        return values

    def compute_functional(self, refs: list[np.ndarray], outs: list[np.ndarray]) -> list[float]:
        """Values by :mod:`qbench.metrics.functional` on ``device``, batched: the oracle of the
        prepared path (same protocol, other summation order)."""
        import torch

        from .functional import crop, rgb_to_y
        from .pixels import as_metric_hwc

        def stack(imgs):
            arr = np.stack([as_metric_hwc(i).astype(np.float64) for i in imgs])
            return torch.from_numpy(arr).permute(0, 3, 1, 2).to(self.device)

        x, y = stack(refs), stack(outs)
        if x.shape != y.shape:
            raise ValueError(f"{self.name}: reference {tuple(x.shape)} and output {tuple(y.shape)} differ")
        x, y = crop(x, self.crop_border), crop(y, self.crop_border)
        if self.preset.get("channels") == "y":
            x, y = rgb_to_y(x), rgb_to_y(y)
        fn = _functional(self.preset["type"])
        return [float(v) for v in fn(x, y, data_range=255.0)]
