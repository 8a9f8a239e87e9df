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
from .presets import DISCRIMINATOR_PRESETS, DISTRIBUTION_PRESETS, NOREF_PRESETS, PRESETS, PYIQA_PRESETS

REGISTRY: Registry[Callable[..., Metric]] = Registry("metric", group="qbench.metrics")
for _name, _preset in PRESETS.items():
    REGISTRY.register(_name, functools.partial(FullReferenceMetric, _name, _preset))


def _lazy_factory(module: str, cls: str, presets: dict, name: str):
    """A factory that imports the metric class (and its heavy dependencies) only when built."""
    def make(crop_border: int | None = None) -> Metric:
        from importlib import import_module

        return getattr(import_module(module, __name__), cls)(name, presets[name], crop_border)
    return make


for _name in PYIQA_PRESETS:
    REGISTRY.register(_name, _lazy_factory(".pyiqa_metrics", "PyiqaMetric", PYIQA_PRESETS, _name))
for _name in NOREF_PRESETS:
    REGISTRY.register(_name, _lazy_factory(".noref", "NoReferenceMetric", NOREF_PRESETS, _name))
for _name in DISCRIMINATOR_PRESETS:
    REGISTRY.register(_name, _lazy_factory(".discriminator", "DiscriminatorMetric", DISCRIMINATOR_PRESETS, _name))
for _name in DISTRIBUTION_PRESETS:
    REGISTRY.register(_name, _lazy_factory(".distribution", "DistributionMetric", DISTRIBUTION_PRESETS, _name))


def build(name: str, crop_border: int | None = None) -> Metric:
    """Instantiate a metric preset by name."""
    factory = REGISTRY.get(name)
    metric = factory(crop_border=crop_border)
    if not isinstance(metric, Metric):
        raise ConfigError(f"metric {name!r} did not build a Metric (got {type(metric).__name__})")
    return metric


def describe(name: str, crop_border: int | None = None) -> tuple[str, bool, str]:
    """(key, higher_is_better, kind) of a metric without building it (no weights needed)."""
    for table, kind in ((PRESETS, "full_reference"), (PYIQA_PRESETS, "full_reference"),
                        (NOREF_PRESETS, "no_reference"), (DISCRIMINATOR_PRESETS, "no_reference"),
                        (DISTRIBUTION_PRESETS, "distribution")):
        if name in table:
            own = int(table[name].get("crop_border", 0))
            key = f"{name}@crop{crop_border}" if crop_border is not None and crop_border != own else name
            return key, bool(table[name].get("higher_is_better", True)), kind
    metric = build(name, crop_border=crop_border)
    return metric.key, metric.info.higher_is_better, metric.kind


__all__ = ["describe", "Metric", "MetricInfo", "FullReferenceMetric", "PRESETS", "REGISTRY", "build"]
