"""Report files are replaced atomically: written beside their target, then renamed over it, so a
run killed while writing its reports leaves the previous complete file, never a truncated one."""

from __future__ import annotations

import os
from pathlib import Path


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_csv(frame, path: Path) -> Path:
    """A DataFrame as CSV (no index) at ``path``, atomically."""
    return write_text(path, frame.to_csv(index=False))
