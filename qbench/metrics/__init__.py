"""Metrics: pure functions (:mod:`.functional`), presets that name the protocol, and a registry.

Third-party metrics register through the ``qbench.metrics`` entry-point group; an entry is a
callable ``(crop_border=None) -> Metric``.
"""

from __future__ import annotations

import functools
from typing import Callable

from ..errors import ConfigError
from ..registry import Registry
from .base import FullReferenceMetric, Metric, MetricInfo
from .presets import PRESETS, PYIQA_PRESETS

REGISTRY: Registry[Callable[..., Metric]] = Registry("metric", group="qbench.metrics")
for _name, _preset in PRESETS.items():
    REGISTRY.register(_name, functools.partial(FullReferenceMetric, _name, _preset))


def _pyiqa_factory(name: str):
    def make(crop_border: int | None = None) -> Metric:
        from .pyiqa_metrics import PyiqaMetric

        return PyiqaMetric(name, PYIQA_PRESETS[name], crop_border)
    return make


for _name in PYIQA_PRESETS:
    REGISTRY.register(_name, _pyiqa_factory(_name))


def build(name: str, crop_border: int | None = None) -> Metric:
    """Instantiate a metric preset by name."""
    factory = REGISTRY.get(name)
    metric = factory(crop_border=crop_border)
    if not isinstance(metric, Metric):
        raise ConfigError(f"metric {name!r} did not build a Metric (got {type(metric).__name__})")
    return metric


__all__ = ["Metric", "MetricInfo", "FullReferenceMetric", "PRESETS", "REGISTRY", "build"]
