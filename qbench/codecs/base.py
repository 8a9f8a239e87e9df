"""The codec contract.

A codec turns an ``(H, W, C)`` uint8 image into real bytes at a quality setting and back. Rate is
always measured on those bytes: ``bpp = 8 * len(bitstream) / (H * W)`` of the pristine image.
Each codec declares its parameters (validated at construction), the meaning and range of its
quality knob, and the library versions that determine its output (part of every cache key).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class Encoded:
    """One compressed image: its bitstream and what the decoder can tell about it."""

    data: bytes
    side_info: dict[str, Any] = field(default_factory=dict)


class Codec(ABC):
    """Base class of every codec. Subclasses set the class attributes and implement encode/decode."""

    name: ClassVar[str] = ""
    quality_name: ClassVar[str] = "quality"
    quality_range: ClassVar[tuple[float, float]] = (0, 100)
    higher_quality_is_better: ClassVar[bool] = True
    #: quality settings are integers (searched exactly by rate control)
    integer_quality: ClassVar[bool] = False
    #: parameter name -> default value; anything else is rejected
    defaults: ClassVar[dict[str, Any]] = {}
    #: types of parameters whose default does not say it (see :mod:`qbench.params`)
    param_types: ClassVar[dict[str, Any]] = {}
    #: runs on the device in the runner's main process (a learned codec), not in CPU workers
    device_bound: ClassVar[bool] = False

    def __init__(self, **params: Any):
        from ..params import check_params

        self.params = check_params(f"codec {self.name!r}", self.defaults, params, self.param_types)
        self.validate_params()

    def validate_params(self) -> None:
        """Hook for subclasses: raise :class:`ConfigError` on a bad parameter value."""

    def check_quality(self, quality: float) -> None:
        """Raise :class:`ConfigError` when ``quality`` is outside :attr:`quality_range`."""
        lo, hi = self.quality_range
        if not (lo <= quality <= hi):
            raise ConfigError(f"codec {self.name!r}: {self.quality_name} {quality} outside [{lo}, {hi}]")

    def knob(self) -> str:
        """What the quality setting is, as reports label it: ``q`` (a 0-100 quality scale),
        ``ratio``, ``distance``, ... (default: :attr:`quality_name`, ``quality`` written ``q``)."""
        return "q" if self.quality_name == "quality" else self.quality_name

    def rate_increases_with_quality(self) -> bool:
        """Whether a larger quality value gives more bytes (used by rate control)."""
        return self.higher_quality_is_better

    def search_range(self) -> tuple[float, float]:
        """The quality range rate control searches (a practical sub-range of ``quality_range``)."""
        return float(self.quality_range[0]), float(self.quality_range[1])

    @classmethod
    @abstractmethod
    def library_versions(cls) -> dict[str, str]:
        """Versions of the libraries whose output this codec reproduces (part of cache keys)."""

    @abstractmethod
    def encode(self, img: np.ndarray, quality: float) -> Encoded:
        """Compress an ``(H, W, C)`` uint8 image."""

    @abstractmethod
    def decode(self, data: bytes, channels: int | None = None) -> np.ndarray:
        """Decompress to ``(H, W, C)`` uint8; ``channels`` is the encoded image's channel count
        (formats without a gray mode carry gray as RGB and convert back)."""

    def spec(self) -> dict[str, Any]:
        """What determines this codec's output: name, parameters, library versions and its code
        identity (:func:`qbench.codeid.code_identity`)."""
        from ..codeid import code_identity

        return {"name": self.name, "params": dict(sorted(self.params.items())),
                "versions": self.library_versions(), **code_identity(self)}

    def spec_hash(self) -> str:
        """16 hex of the sha256 of :meth:`spec` (what determines the output): the cost-table key."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.spec(), sort_keys=True, default=str).encode()).hexdigest()[:16]
