"""Shared fixtures: tiny seeded images on disk, an isolated cache, a suite writer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml


def smooth_image(seed: int, h: int, w: int, channels: int = 3) -> np.ndarray:
    """A seeded natural-ish image: smooth gradients plus texture (compresses like a photo)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, channels))
    for c in range(channels):
        fx, fy = rng.uniform(0.01, 0.08, 2)
        img[..., c] = 128 + 60 * np.sin(fx * xx + rng.uniform(0, 6)) * np.cos(fy * yy + rng.uniform(0, 6))
    img += rng.normal(0, 12, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def save(img: np.ndarray, path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img[..., 0] if img.shape[2] == 1 else img).save(path)
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("qbench_cache")
    monkeypatch.setenv("QBENCH_CACHE", str(cache))
    monkeypatch.delenv("QBENCH_DATA", raising=False)
    return cache


@pytest.fixture
def one_torch_thread():
    """Torch on one intra-op thread for the test: on a busy 2-core machine, torch's thread
    barriers make a 2-thread forward pass many times slower than a 1-thread one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Four small images: two RGB (one odd-sized), two gray."""
    folder = tmp_path / "imgs"
    save(smooth_image(1, 96, 128), folder / "a.png")
    save(smooth_image(2, 77, 101), folder / "b.png")
    save(smooth_image(3, 96, 96, 1), folder / "c.png")
    save(smooth_image(4, 64, 80, 1), folder / "d.png")
    return folder


@pytest.fixture
def write_suite(tmp_path):
    def write(data: dict, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path
    return write


def basic_suite(folder: Path, **over) -> dict:
    data = {
        "name": "t",
        "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
        "codecs": [{"name": "jpeg", "qualities": [10, 50]}],
        "solvers": ["identity"],
        "metrics": ["psnr_rgb", "psnr_y", "ssim_y"],
        "output": {"bootstrap": 200},
    }
    data.update(over)
    return data


def plan_suite(suite, store):
    """The components, pipelines and samples of ``suite`` (its first dataset indexed into
    ``store``), planned as a run plans them, on the CPU."""
    from qbench import datasets
    from qbench.runner.plan import index_dataset, make_pipelines, plan_samples
    from qbench.runner.resolve import build_components

    comps = build_components(suite, "cpu")
    spec = suite.datasets[0]
    images = index_dataset("folder", datasets.build(spec.name, spec.params, spec.mode, spec.limit, None), store,
                           lambda *a: None)
    pipes = make_pipelines(comps)
    return comps, pipes, plan_samples(images, comps, pipes, True)


REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYTHONHASHSEED", "0")
