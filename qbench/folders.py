"""Folders a command creates, so that a command that fails can remove what it left empty."""

from __future__ import annotations

from pathlib import Path


def missing_folders(path: str | Path) -> list[Path]:
    """The folders ``Path(path).mkdir(parents=True)`` would create, deepest first."""
    missing = []
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    return missing


def remove_empty(folders: list[Path]) -> None:
    """Remove those of ``folders`` that exist and are empty, deepest first (so a folder emptied by
    removing its children goes too)."""
    for folder in sorted(set(folders), key=lambda f: len(f.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:            # absent or not empty: leave it
            pass
