"""What a run records about where it ran: versions, device, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ..errors import ConfigError


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def no_gpu_driver() -> bool:
    """True when this machine certainly has no CUDA (or ROCm) driver, so that
    ``torch.cuda.is_available()`` is False without importing torch (about 1 s); False when unsure."""
    if not sys.platform.startswith("linux") or os.path.exists("/dev/kfd"):     # ROCm torch answers torch.cuda
        return False
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return True
    return False


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; validates ``cuda[:i]``. Imports torch only
    when a GPU driver is present or a CUDA device is asked for."""
    if device == "cpu":
        return "cpu"
    if device == "auto" and no_gpu_driver():
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: no CUDA device is available")
        idx = device.partition(":")[2]
        if idx and (not idx.isdigit() or int(idx) >= torch.cuda.device_count()):
            raise ConfigError(f"--device {device}: there are {torch.cuda.device_count()} CUDA devices")
        return device
    raise ConfigError(f"--device must be auto, cpu or cuda[:i], got {device!r}")


def git_commit(cwd: Path | None = None) -> str | None:
    """The git commit of ``cwd`` (None outside a checkout or without git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or Path.cwd(), capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def collect_environment(device: str) -> dict:
    """Versions, device and git commit recorded with every run."""
    import qbench

    from ..codecs.jpeg import libjpeg_version

    env = {
        "qbench": qbench.__version__, "python": sys.version.split()[0], "platform": platform.platform(),
        "torch": _version("torch"), "torchvision": _version("torchvision"), "pyiqa": _version("pyiqa"),
        "pillow": _version("pillow"), "numpy": _version("numpy"), "libjpeg": libjpeg_version(),
        "device": device, "git_commit": git_commit(),
    }
    if device.startswith("cuda"):
        import torch

        env["device_name"] = torch.cuda.get_device_name(torch.device(device))
    else:
        env["device_name"] = platform.processor() or platform.machine()
    return env
