"""PSNR-B against an independent loop-based numpy implementation of Yim & Bovik's definition."""

import math

import numpy as np
import pytest

from qbench.metrics import build

from .conftest import smooth_image
from .test_metrics_core import np_y


def np_psnrb(ref: np.ndarray, dist: np.ndarray) -> float:
    ref = ref.astype(np.float64)
    dist = dist.astype(np.float64)
    h, w = dist.shape
    d_b = d_n = 0.0
    for col in range(w - 1):
        diff = float(np.sum((dist[:, col] - dist[:, col + 1]) ** 2))
        if col % 8 == 7:
            d_b += diff
        else:
            d_n += diff
    for row in range(h - 1):
        diff = float(np.sum((dist[row, :] - dist[row + 1, :]) ** 2))
        if row % 8 == 7:
            d_b += diff
        else:
            d_n += diff
    n_b = h * (w // 8 - 1) + w * (h // 8 - 1)
    n_n = h * (w - 1) + w * (h - 1) - n_b
    boundary, inner = d_b / n_b, d_n / n_n
    bef = math.log2(8) / math.log2(min(h, w)) * (boundary - inner) if boundary > inner else 0.0
    mse = np.mean((ref - dist) ** 2)
    return 10 * math.log10(255.0**2 / (mse + bef))


@pytest.mark.parametrize("shape", [(64, 64, 1), (72, 96, 3), (80, 104, 1)])
def test_psnrb_matches_numpy_on_jpeg_images(shape):
    from qbench.codecs import build as build_codec

    x = smooth_image(11, *shape)
    codec = build_codec("jpeg")
    y = codec.decode(codec.encode(x, 10).data)
    got = build("psnrb_y").compute(x, y)
    ref = np_psnrb(np_y(x), np_y(y))
    assert abs(got - ref) < 1e-6
    assert got <= build("psnr_y").compute(x, y) + 1e-12  # BEF >= 0: PSNR-B never exceeds PSNR


def test_psnrb_equals_psnr_without_blocking():
    rng = np.random.default_rng(0)
    x = smooth_image(3, 64, 64, 1)
    noise = np.clip(x.astype(int) + rng.integers(-3, 4, x.shape), 0, 255).astype(np.uint8)
    # noise is not aligned to the 8x8 grid, so boundary and inner differences are alike
    assert build("psnrb_y").compute(x, noise) == pytest.approx(build("psnr_y").compute(x, noise), abs=0.05)
