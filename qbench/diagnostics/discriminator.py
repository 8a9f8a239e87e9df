"""``disc_conditional``: the conditional discriminator of :mod:`qbench.metrics.discriminator` as a
triplet diagnostic, ``D(O|C)``, ``D(C|C)`` and ``D(E|C)`` of every sample (see docs/diagnostics.md)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError
from ..metrics.discriminator import CONDITIONAL_PRESET, ConditionalDiscriminatorMetric
from .base import TripletDiagnostic


class ConditionalDiscriminatorDiagnostic(TripletDiagnostic):
    """``disc_conditional``: ``D(O|C)``, ``D(C|C)`` and ``D(E|C)`` of each sample, the mean sigmoid
    score of a conditional discriminator (:class:`ConditionalDiscriminatorMetric`) on the original,
    compressed and enhanced image, each given the compressed image; plus ``enhanced_minus_original``.

    Parameters: ``weights`` (a name of :data:`qbench.metrics.discriminator.WEIGHTS`; default the user-trained
    ``conditional_unet_sn``), ``arch`` (a name of :data:`qbench.metrics.discriminator.ARCHS`), ``arch_params`` and
    ``crop_border``. The weight file's sha256 enters :attr:`version`. A missing file raises
    :class:`~qbench.errors.WeightsError` when the diagnostic is built.
    """

    defaults: ClassVar[dict[str, Any]] = {"weights": "conditional_unet_sn", "arch": "unet_sn", "arch_params": {},
                                          "crop_border": 0}
    description = "conditional discriminator D(x | compressed) on O, C and E (enhancement-bias probe)"
    NAMES = ("original", "compressed", "enhanced", "enhanced_minus_original")

    def check(self) -> None:
        """Check the parameters and build the conditional metric (raises when its weight file is missing)."""
        p = self.params
        if not isinstance(p["arch_params"], dict) or int(p["crop_border"]) < 0:
            raise ConfigError(f"diagnostic {self.name!r}: arch_params must be a mapping and crop_border >= 0")
        preset = {**CONDITIONAL_PRESET, "arch": str(p["arch"]), "weights": str(p["weights"])}
        if p["arch_params"]:
            preset["arch_params"] = dict(p["arch_params"])
        self.metric = ConditionalDiscriminatorMetric(self.label, preset, int(p["crop_border"]) or None)

    @property
    def version(self) -> str:
        """The class, revision and parameters (:meth:`TripletDiagnostic.version`) and the
        conditional metric's own version, which holds the weight file's sha256."""
        import hashlib

        return hashlib.sha256(f"{super().version}:{self.metric.version}".encode()).hexdigest()[:12]

    def value_names(self) -> list[str]:
        """``original``, ``compressed``, ``enhanced`` and ``enhanced_minus_original``."""
        return list(self.NAMES)

    def compute_prepared(self, prepared: Any, compressed: np.ndarray,
                         enhanced: np.ndarray | None) -> dict[str, float]:
        """``D(O|C)``, ``D(C|C)``, ``D(E|C)`` (E is C for a pass-through) and ``D(E|C) - D(O|C)``."""
        m = self.metric
        o = m.compute_conditional(prepared, compressed)
        c = m.compute_conditional(compressed, compressed)
        e = c if enhanced is None else m.compute_conditional(enhanced, compressed)
        return {"original": o, "compressed": c, "enhanced": e, "enhanced_minus_original": e - o}
