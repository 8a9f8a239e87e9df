"""Solvers: the plugin API (Enhancer, Rescaler, LearnedCodec) and the solver registry.

Solvers, first-party baselines included, register through the ``qbench.solvers`` entry-point
group; a suite may also name one by import string (``my_pkg.mod:MySolver``).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..registry import Registry
from .base import Context, Enhancer, LearnedCodec, Rescaler, Solver, SolverCard

REGISTRY: Registry[type[Solver]] = Registry("solver", group="qbench.solvers")


def resolve(name: str) -> type[Solver]:
    """The solver class a name (or import string) refers to."""
    cls = REGISTRY.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Solver)):
        raise ConfigError(f"{name!r} is not a Solver subclass (Enhancer, Rescaler or LearnedCodec)")
    if not isinstance(getattr(cls, "card", None), SolverCard):
        raise ConfigError(f"solver {name!r} has no SolverCard 'card' attribute")
    return cls


def build(name: str, params: dict[str, Any] | None = None, engine: dict[str, Any] | None = None) -> Solver:
    """An instance of solver ``name`` with ``params``; ``engine`` sets batching/tiling/AMP."""
    solver = resolve(name)(**(params or {}))
    if engine:
        solver.configure_engine(engine)
    return solver


__all__ = ["Context", "Enhancer", "Rescaler", "LearnedCodec", "Solver", "SolverCard",
           "REGISTRY", "resolve", "build"]
