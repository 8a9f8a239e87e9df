"""Weight files shared by metrics and solvers: pinned URL + sha256, a documented cache, safe loads.

Cache folders (``WeightFile.root``):

* ``qbench``: ``$QBENCH_CACHE/weights`` (default ``~/.cache/qbench/weights``) — solver weights;
* ``torch_hub``: ``$TORCH_HOME/hub/checkpoints`` — torchvision backbones, shared with torchvision;
* ``pyiqa``: ``$TORCH_HOME/hub/pyiqa`` — pyiqa's metric weights, shared with pyiqa.

clean-fid's Inception (a TorchScript archive) is kept under ``$QBENCH_CACHE/weights/metrics/cleanfid``,
not in clean-fid's world-writable ``/tmp``, and is loaded by :func:`load_torchscript` only after its
bytes match the full sha256 pin.

A weight file that is absent is downloaded only when downloads are allowed; offline, the error
names the file and where to place it. Every file is verified against its pin before use: the full
sha256 where it is published, else the sha256 prefix in the release's file name (the torch.hub
convention, ``name-<prefix>.pth``). Every weight file qbench may use is listed in a catalogue
(``qbench weights list``); solvers contribute theirs through their SolverCard.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WeightsError
from .paths import weights_root


@dataclass(frozen=True)
class WeightFile:
    """One pinned weight file."""

    filename: str
    url: str
    sha256: str | None = None        # None: not pinned (the run records the observed hash)
    size: int | None = None
    subdir: str = ""                 # folder under the cache root, e.g. "solvers/fbcnn"
    description: str = ""
    sha256_prefix: str | None = None  # hash prefix from the release name, when no full hash is known
    root: str = "qbench"             # qbench | torch_hub | pyiqa
    git_blob: str | None = None      # git blob id (sha1 of "blob <size>\\0" + content) of a file
                                     # published in a git repository, when no sha256 is published


def torch_home() -> Path:
    """``$TORCH_HOME`` or ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch`` (torch.hub's rule)."""
    env = os.environ.get("TORCH_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "torch"


def root_dir(root: str) -> Path:
    """The folder of weights root ``root`` (``qbench``, ``torch_hub`` or ``pyiqa``)."""
    roots = {"qbench": weights_root, "torch_hub": lambda: torch_home() / "hub" / "checkpoints",
             "pyiqa": lambda: torch_home() / "hub" / "pyiqa"}
    if root not in roots:
        raise WeightsError(f"unknown weights root {root!r}; choose from {sorted(roots)}")
    return roots[root]()


def local_path(wf: WeightFile) -> Path:
    """Where weight file ``wf`` is kept."""
    return root_dir(wf.root) / wf.subdir / wf.filename


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def git_blob_id(path: Path, chunk: int = 1 << 20) -> str:
    """What ``git hash-object FILE`` prints: sha1 of ``b"blob <size>\\0"`` + the content."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(wf: WeightFile, path: Path | None = None) -> Path:
    """Check that the file exists and matches its pin; return its path."""
    path = path or local_path(wf)
    if not path.is_file():
        raise WeightsError(missing_message(wf, path))
    if wf.git_blob and git_blob_id(path) != wf.git_blob:
        raise WeightsError(f"weight file {path} is not the published file (git blob {git_blob_id(path)[:12]}…, "
                           f"expected {wf.git_blob[:12]}…: corrupt, truncated or a different file); "
                           f"delete it and place the file from {wf.url} there")
    if wf.sha256 or wf.sha256_prefix:
        got = sha256_file(path)
        if (wf.sha256 and got != wf.sha256) or (wf.sha256_prefix and not got.startswith(wf.sha256_prefix)):
            raise WeightsError(f"weight file {path} has sha256 {got[:16]}…, expected {(wf.sha256 or wf.sha256_prefix)[:16]}… "
                               f"(corrupt, truncated or a different release); delete it and place the "
                               f"file from {wf.url} there")
    return path


def missing_message(wf: WeightFile, path: Path) -> str:
    """The offline error: which file to download from where and where to place it."""
    env = {"qbench": " (or set QBENCH_CACHE)", "torch_hub": " (or set TORCH_HOME)",
           "pyiqa": " (or set TORCH_HOME)"}.get(wf.root, "")
    return (f"weight file {wf.filename!r} not found at {path}; download {wf.url} and place it there"
            f"{env}, or run 'qbench weights fetch {wf.filename}' where the network is reachable")


def ensure(wf: WeightFile, allow_download: bool = True) -> Path:
    """Return the verified local file, downloading it first when allowed and possible."""
    path = local_path(wf)
    if path.is_file():
        return verify(wf, path)
    if not allow_download:
        raise WeightsError(missing_message(wf, path))
    from .download import download
    from .errors import DataNotFoundError

    try:
        download(wf.url, path)
    except DataNotFoundError as exc:
        raise WeightsError(f"{missing_message(wf, path)} (download failed: {exc})") from None
    return verify(wf, path)


def load_state_dict(path: Path, sha256: str | None = None):
    """Load a checkpoint with ``torch.load(weights_only=True)`` (no arbitrary unpickling). With
    ``sha256``, the file is read once and those very bytes are hashed and loaded, so a file replaced
    after it was pinned (or hashed into a cache key) is refused, never loaded in its place."""
    import torch

    source: Any = path
    if sha256 is not None:
        data = Path(path).read_bytes()
        got = hashlib.sha256(data).hexdigest()
        if got != sha256:
            raise WeightsError(f"weight file {path} has sha256 {got[:16]}…, expected {sha256[:16]}… "
                               "(it changed since it was hashed)")
        source = io.BytesIO(data)
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad files
        raise WeightsError(f"cannot load weights {path}: {type(exc).__name__}: {exc}") from exc


def load_torchscript(wf: WeightFile, path: Path | None = None, device: str = "cpu"):
    """Load a TorchScript archive (``torch.jit.load``) whose bytes match ``wf``'s full sha256 pin.

    A TorchScript archive holds code and cannot be loaded with ``weights_only=True``; trust rests on
    the pin instead: the file is read once, its bytes are hashed, and only those verified bytes are
    handed to ``torch.jit.load`` (no second read that a swapped file could slip into). An unpinned
    archive is refused."""
    import io

    import torch

    path = path or local_path(wf)
    if not wf.sha256:
        raise WeightsError(f"refusing to load TorchScript archive {path}: {wf.filename!r} has no sha256 pin")
    if not path.is_file():
        raise WeightsError(missing_message(wf, path))
    data = path.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != wf.sha256:
        raise WeightsError(f"weight file {path} has sha256 {got[:16]}…, expected {wf.sha256[:16]}… "
                           f"(corrupt, truncated or a different file); not loaded; delete it and place the "
                           f"file from {wf.url} there")
    try:
        return torch.jit.load(io.BytesIO(data), map_location=device)
    except Exception as exc:  # torch raises several types for bad archives
        raise WeightsError(f"cannot load TorchScript archive {path}: {type(exc).__name__}: {exc}") from exc


# -- the catalogue -----------------------------------------------------------------------------
_CATALOGUE: dict[str, WeightFile] = {}


def register(key: str, wf: WeightFile) -> WeightFile:
    """Add a weight file to the catalogue under ``key`` (e.g. ``metric/lpips/alex``)."""
    _CATALOGUE[key] = wf
    return wf


def registered() -> dict[str, WeightFile]:
    """The weight files registered so far (see :func:`qbench.catalogue.catalogue` for all)."""
    return dict(_CATALOGUE)

