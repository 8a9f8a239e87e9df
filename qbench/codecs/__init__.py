"""Codecs: the :class:`Codec` contract, one module per family, and the codec registry.

Third-party codecs register through the ``qbench.codecs`` entry-point group.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import ConfigError, QbenchError
from ..registry import Registry
from .base import Codec, Encoded

REGISTRY: Registry[type[Codec]] = Registry("codec", group="qbench.codecs")
REGISTRY.register("jpeg", "qbench.codecs.jpeg:PillowJPEG")
REGISTRY.register("webp", "qbench.codecs.webp:WebP")
REGISTRY.register("avif", "qbench.codecs.avif:AVIF")
REGISTRY.register("jxl", "qbench.codecs.jxl:JPEGXL")
REGISTRY.register("heif", "qbench.codecs.heif:HEIF")
REGISTRY.register("j2k", "qbench.codecs.j2k:JPEG2000")
REGISTRY.register("png", "qbench.codecs.png:PNG")
REGISTRY.register("external", "qbench.codecs.external:ExternalCodec")


def build(name: str, params: dict[str, Any] | None = None,
          qualities: Sequence[float] | None = None) -> Codec:
    """Instantiate a registered codec and check its quality ladder."""
    cls = REGISTRY.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Codec)):
        raise ConfigError(f"{name!r} is not a Codec subclass")
    codec = cls(**(params or {}))
    for q in qualities or ():
        codec.check_quality(q)
    return codec


__all__ = ["Codec", "Encoded", "REGISTRY", "build", "QbenchError"]
