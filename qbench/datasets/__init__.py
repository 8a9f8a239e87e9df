"""Datasets: folders of images and built-in sets, identified by pixel hashes.

Third-party datasets register through the ``qbench.datasets`` entry-point group; an entry is a
callable ``(mode=..., limit=..., **params) -> Dataset``.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConfigError, QbenchError
from ..registry import Registry
from .base import Dataset, ImageRecord

REGISTRY: Registry[Callable[..., Dataset]] = Registry("dataset", group="qbench.datasets")
REGISTRY.register("folder", "qbench.datasets.folder:FolderDataset")
REGISTRY.register("skimage-samples", "qbench.datasets.builtin:SkimageSamples")
#: built-in datasets looked for under the data root (the keys of ``builtin.SOURCES``)
PINNED = ("kodak", "classic5", "live1_gray", "live1_color", "div2k_valid",
          "set5", "set14", "bsd100", "urban100", "clic_professional_valid")
for _name in PINNED:
    REGISTRY.register(_name, f"qbench.datasets.builtin:{_name}")


def build(name: str, params: dict[str, Any] | None = None, mode: str = "auto", limit: int | None = None,
          data_root: str | None = None) -> Dataset:
    """Instantiate dataset ``name`` (a suite's dataset entry) under a channel policy."""
    factory = REGISTRY.get(name)
    params = dict(params or {})
    if data_root and name in PINNED:
        params.setdefault("data_root", data_root)
    valid = _parameter_names(factory)
    if valid is not None:
        from ..params import check_names

        check_names(f"dataset {name!r}", valid, params)
    try:
        return factory(mode=mode, limit=limit, **params)
    except TypeError as exc:
        raise ConfigError(f"dataset {name!r}: bad parameters {sorted(params)} ({exc})") from None


def _parameter_names(factory: Any) -> set[str] | None:
    """The keyword parameters a dataset factory takes besides mode/limit (None: it takes any)."""
    import inspect

    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {n for n, p in sig.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in ("self", "mode", "limit")}


__all__ = ["Dataset", "ImageRecord", "REGISTRY", "build", "QbenchError"]
