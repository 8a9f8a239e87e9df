"""Datasets: folders of images and built-in sets, identified by pixel hashes.

Third-party datasets register through the ``qbench.datasets`` entry-point group; an entry is a
callable ``(mode=..., limit=..., **params) -> Dataset``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..errors import ConfigError, QbenchError
from ..registry import Registry
from .base import Dataset, ImageRecord

if TYPE_CHECKING:
    from ..suite import DatasetSpec

REGISTRY: Registry[Callable[..., Dataset]] = Registry("dataset", group="qbench.datasets")
REGISTRY.register("folder", "qbench.datasets.folder:FolderDataset")
REGISTRY.register("skimage-samples", "qbench.datasets.builtin:SkimageSamples")
for _name in ("kodak", "classic5", "live1_gray", "live1_color", "div2k_valid"):
    REGISTRY.register(_name, f"qbench.datasets.builtin:{_name}")


def build(spec: "DatasetSpec", data_root: str | None = None) -> Dataset:
    """Instantiate the dataset a suite entry names."""
    factory = REGISTRY.get(spec.name)
    params: dict[str, Any] = dict(spec.params)
    if data_root and spec.name in ("kodak", "classic5", "live1_gray", "live1_color", "div2k_valid"):
        params.setdefault("data_root", data_root)
    try:
        return factory(mode=spec.mode, limit=spec.limit, **params)
    except TypeError as exc:
        raise ConfigError(f"dataset {spec.name!r}: bad parameters {sorted(params)} ({exc})") from None


__all__ = ["Dataset", "ImageRecord", "REGISTRY", "build", "QbenchError"]
