"""Where qbench keeps files outside a run folder: the cache root and the weights and data roots below it.

``$QBENCH_CACHE`` (default ``~/.cache/qbench``) holds ``weights/`` (solver and metric weights) and
``data/`` (pinned datasets, unless ``--data-root`` or ``$QBENCH_DATA`` names another folder).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$QBENCH_CACHE`` or ``~/.cache/qbench``."""
    return Path(os.environ.get("QBENCH_CACHE", Path.home() / ".cache" / "qbench")).expanduser()


def weights_root() -> Path:
    """``$QBENCH_CACHE/weights`` or ``~/.cache/qbench/weights``."""
    return cache_root() / "weights"


def data_root(override: str | os.PathLike | None = None) -> Path:
    """Where pinned datasets are looked for: override, ``$QBENCH_DATA``, ``$QBENCH_CACHE/data``."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("QBENCH_DATA")
    return Path(env).expanduser() if env else cache_root() / "data"
