"""Weight files shared by metrics and solvers: pinned URL + sha256, a documented cache, safe loads.

Cache folder: ``$QBENCH_CACHE/weights`` (default ``~/.cache/qbench/weights``). A weight file
that is absent is downloaded only when downloads are allowed; offline, the error names the file
and where to place it. Every file is verified against its sha256 pin before use.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import WeightsError


@dataclass(frozen=True)
class WeightFile:
    """One pinned weight file."""

    filename: str
    url: str
    sha256: str | None = None        # None: not pinned (the run records the observed hash)
    size: int | None = None
    subdir: str = ""                 # folder under the cache root, e.g. "solvers/fbcnn"
    description: str = ""


def cache_dir() -> Path:
    """``$QBENCH_CACHE/weights`` or ``~/.cache/qbench/weights``."""
    root = Path(os.environ.get("QBENCH_CACHE", Path.home() / ".cache" / "qbench")).expanduser()
    return root / "weights"


def local_path(wf: WeightFile) -> Path:
    return cache_dir() / wf.subdir / wf.filename


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(wf: WeightFile, path: Path | None = None) -> Path:
    """Check that the file exists and matches its pin; return its path."""
    path = path or local_path(wf)
    if not path.is_file():
        raise WeightsError(missing_message(wf, path))
    if wf.sha256:
        got = sha256_file(path)
        if got != wf.sha256:
            raise WeightsError(f"weight file {path} has sha256 {got[:16]}…, expected {wf.sha256[:16]}… "
                               f"(corrupt, truncated or a different release); delete it and place the "
                               f"file from {wf.url} there")
    return path


def missing_message(wf: WeightFile, path: Path) -> str:
    return (f"weight file {wf.filename!r} not found at {path}; download {wf.url} and place it there "
            f"(or set QBENCH_CACHE), or run 'qbench weights fetch'")


def ensure(wf: WeightFile, allow_download: bool = True) -> Path:
    """Return the verified local file, downloading it first when allowed and possible."""
    path = local_path(wf)
    if path.is_file():
        return verify(wf, path)
    if not allow_download:
        raise WeightsError(missing_message(wf, path))
    from .datasets.download import download
    from .errors import DataNotFoundError

    try:
        download(wf.url, path)
    except DataNotFoundError as exc:
        raise WeightsError(f"{missing_message(wf, path)} (download failed: {exc})") from None
    return verify(wf, path)


def load_state_dict(path: Path):
    """Load a checkpoint with ``torch.load(weights_only=True)`` (no arbitrary unpickling)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad files
        raise WeightsError(f"cannot load weights {path}: {type(exc).__name__}: {exc}") from exc
