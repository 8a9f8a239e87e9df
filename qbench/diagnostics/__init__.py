"""Per-image diagnostics over the triplet (original, compressed, enhanced) of each sample.

Diagnostics register like metrics: built-ins here, third-party ones through the
``qbench.diagnostics`` entry-point group (an entry is a :class:`TripletDiagnostic` subclass, called
``cls(name, params, label)``); region stratifiers through ``qbench.stratifiers``. A suite enables
them under ``diagnostics: per_image:``.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..registry import Registry
from .base import TripletDiagnostic, match_size

REGISTRY: Registry[type[TripletDiagnostic]] = Registry("diagnostic", group="qbench.diagnostics")
REGISTRY.register("residual", "qbench.diagnostics.residual:ResidualDiagnostic")
REGISTRY.register("region", "qbench.diagnostics.regions:RegionDiagnostic")
REGISTRY.register("region_defocus", "qbench.diagnostics.regions:DefocusRegions")
REGISTRY.register("region_texture", "qbench.diagnostics.regions:TextureRegions")

STRATIFIERS: Registry = Registry("stratifier", group="qbench.stratifiers")
STRATIFIERS.register("defocus", "qbench.diagnostics.regions:DefocusStratifier")
STRATIFIERS.register("texture", "qbench.diagnostics.regions:TextureStratifier")


def build(name: str, params: dict | None = None, label: str | None = None) -> TripletDiagnostic:
    """Instantiate a registered diagnostic (or a ``module:Class`` import string)."""
    cls = REGISTRY.get(name)
    if not (isinstance(cls, type) and issubclass(cls, TripletDiagnostic)):
        raise ConfigError(f"diagnostic {name!r} is not a TripletDiagnostic subclass")
    return cls(name, params, label)


__all__ = ["REGISTRY", "STRATIFIERS", "TripletDiagnostic", "build", "match_size"]
