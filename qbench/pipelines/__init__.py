"""Pipelines: one ``pre -> code -> post`` shape per task, over named image roles.

A new pipeline kind is one new module here and one entry in :data:`PIPELINES` (first match wins).
"""

from __future__ import annotations

from ..errors import ConfigError
from ..vocabulary import COMPRESSED, ENHANCED, LOWRES, ORIGINAL
from .base import ImageRef, Keys, Pipeline, content_key
from .enhance import EnhancePipeline
from .learned_codec import LearnedCodecCodec, LearnedCodecPipeline
from .rescale import RescalePipeline

PIPELINES: list[type[Pipeline]] = [LearnedCodecPipeline, RescalePipeline, EnhancePipeline]


def pipeline_for(solver, codec) -> Pipeline:
    """The pipeline that runs ``solver`` after (or around) ``codec``."""
    for cls in PIPELINES:
        if cls.accepts(solver, codec):
            return cls(solver, codec)
    raise ConfigError(f"no pipeline runs solver {solver.card.name!r} ({type(solver).__name__}) "
                      f"with codec {getattr(codec, 'name', codec)!r}")


__all__ = ["ORIGINAL", "LOWRES", "COMPRESSED", "ENHANCED", "ImageRef", "Keys", "Pipeline",
           "content_key", "EnhancePipeline", "RescalePipeline", "LearnedCodecPipeline", "LearnedCodecCodec",
           "PIPELINES", "pipeline_for"]
