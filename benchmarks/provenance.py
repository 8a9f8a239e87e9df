"""What the benchmarks record about the qbench they timed, and where (imported by the scripts beside it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def describe(source: Path | None = None) -> str:
    """The commit of the qbench checkout at ``source`` (this one by default), with ``-dirty`` when
    its files were changed; ``unknown`` outside a git checkout."""
    root = source or Path(__file__).resolve().parents[1]
    try:
        return subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def save_json(result: dict, path: Path | None) -> None:
    """Write ``result`` as indented JSON to ``path`` (its folder made), when a path is given."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
