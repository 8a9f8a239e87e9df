"""The install is what the README says: one OpenCV build, the one qbench declares, is the one loaded."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import metadata
from pathlib import Path

import pytest

from .conftest import REPO


def _declared_opencv() -> str:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = [re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0] for d in deps if d.lower().startswith("opencv")]
    assert len(names) == 1, f"qbench should declare exactly one OpenCV wheel, declares {names}"
    return names[0]


def test_loaded_cv2_binary_is_the_declared_opencv_wheel():
    """pyiqa requires opencv-python-headless and its dependency facexlib requires opencv-python:
    both wheels unpack into one cv2/ folder and the last one installed wins. qbench declares the
    one whose binary pip leaves there, so what runs is what the dependency list says."""
    import cv2

    name = _declared_opencv()
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"qbench declares {name}, which is not installed")
    entries = [f for f in dist.files or () if re.fullmatch(r"cv2/cv2[^/]*\.(so|pyd)", f.as_posix())]
    assert entries and entries[0].hash is not None, f"{name} records no cv2 binary"
    entry = entries[0]
    loaded = Path(cv2.__file__).parent / Path(entry.as_posix()).name
    digest = base64.urlsafe_b64encode(hashlib.new(entry.hash.mode, loaded.read_bytes()).digest()).rstrip(b"=").decode()
    others = [d for d in ("opencv-python", "opencv-python-headless", "opencv-contrib-python") if d != name]
    present = [d for d in others if _installed(d)]
    assert digest == entry.hash.value, (f"{loaded} is not {name}'s build (another OpenCV wheel installed over it: "
                                        f"{present}); see the README's install notes")


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
        return True
    except metadata.PackageNotFoundError:
        return False
