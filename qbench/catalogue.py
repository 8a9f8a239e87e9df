"""The weight catalogue: every weight file qbench may use (metric weights and those declared by
registered solvers), for ``qbench weights list|path|verify|fetch``."""

from __future__ import annotations

from . import solvers
from .metrics import discriminator as _discriminator  # noqa: F401  (registers the discriminator weights)
from .metrics import weights as _metric_weights  # noqa: F401  (registers the metric weight files)
from .weights import WeightFile, registered


def catalogue(include_solvers: bool = True) -> dict[str, WeightFile]:
    """Every weight file qbench may use: metric weights plus those of every registered solver."""
    out = registered()
    if include_solvers:
        for name in solvers.REGISTRY.names():
            try:
                cls = solvers.resolve(name)
            except Exception:  # a broken plugin must not hide the others
                continue
            for wf in cls.card.weights:
                if isinstance(wf, WeightFile):
                    out[f"solver/{name}/{wf.filename}"] = wf
    return out
