"""Network classes defined inside a function (so ``torch`` is imported on first use, not when a
baseline module is imported) but picklable by reference: each class is published under its
module's name, and the module's ``__getattr__`` builds them on first attribute access."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Callable


def publish(module: str, classes: dict[str, type]) -> SimpleNamespace:
    """Give each class ``module`` as its module and its key as its qualified name."""
    for name, cls in classes.items():
        cls.__module__, cls.__qualname__ = module, name
    return SimpleNamespace(**classes)


def module_getattr(module: str, names: tuple[str, ...], build: Callable[[], SimpleNamespace]):
    """A module-level ``__getattr__`` (PEP 562) that serves ``names`` from ``build()``."""
    def __getattr__(name: str):
        if name in names:
            return getattr(build(), name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return __getattr__
