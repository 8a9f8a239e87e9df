"""Full-reference presets against independent numpy / scikit-image oracles."""

import numpy as np
import pytest
from scipy.ndimage import correlate1d
from skimage.metrics import structural_similarity

from qbench.metrics import build

from .conftest import smooth_image


def np_y(img: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr luma on [0, 255] floats (BasicSR convention), independent of qbench."""
    f = img.astype(np.float64)
    if f.shape[2] == 1:
        return f[..., 0]
    return 16.0 + (65.481 * f[..., 0] + 128.553 * f[..., 1] + 24.966 * f[..., 2]) / 255.0


def np_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def pair(seed=0, h=180, w=200, c=3):
    x = smooth_image(seed, h, w, c)
    rng = np.random.default_rng(seed + 100)
    y = np.clip(x.astype(int) + rng.integers(-20, 21, x.shape), 0, 255).astype(np.uint8)
    return x, y


@pytest.mark.parametrize("c", [3, 1])
def test_psnr_rgb_and_y_match_numpy_to_1e6_db(c):
    x, y = pair(1, c=c)
    assert abs(build("psnr_rgb").compute(x, y) - np_psnr(x, y)) < 1e-6
    assert abs(build("psnr_y").compute(x, y) - np_psnr(np_y(x)[..., None], np_y(y)[..., None])) < 1e-6


def test_crop_border_matches_numpy():
    x, y = pair(2)
    m = build("psnr_y", crop_border=4)
    assert m.key == "psnr_y@crop4"
    ref = np_psnr(np_y(x)[4:-4, 4:-4, None], np_y(y)[4:-4, 4:-4, None])
    assert abs(m.compute(x, y) - ref) < 1e-6


def test_psnr_on_jpeg_decoded_images_matches_numpy():
    from qbench.codecs import build as build_codec

    x = smooth_image(7, 64, 72)
    codec = build_codec("jpeg")
    y = codec.decode(codec.encode(x, 20).data)
    assert abs(build("psnr_rgb").compute(x, y) - np_psnr(x, y)) < 1e-6


def sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    # Gaussian sigma 1.5, truncate 3.5 -> 11 taps; population covariance; mean over the valid
    # region (skimage crops (win-1)/2 from each side): the Wang et al. / BasicSR protocol.
    return structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)


def test_ssim_y_matches_skimage():
    x, y = pair(3)
    got = build("ssim_y").compute(x, y)
    assert abs(got - sk_ssim(np_y(x), np_y(y))) < 1e-6        # the preset's distorted side is float32


def test_ssim_rgb_is_channel_mean_of_skimage():
    x, y = pair(4)
    ref = np.mean([sk_ssim(x[..., c].astype(np.float64), y[..., c].astype(np.float64)) for c in range(3)])
    assert abs(build("ssim_rgb").compute(x, y) - ref) < 1e-6


def np_ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Independent numpy MS-SSIM (pytorch_msssim protocol), per channel then mean."""
    w = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    coords = np.arange(11) - 5.0
    g = np.exp(-coords**2 / (2 * 1.5**2))
    g /= g.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def filt(z):
        z = correlate1d(z, g, axis=0, mode="constant")[5:-5]
        return correlate1d(z, g, axis=1, mode="constant")[:, 5:-5]

    def pool(z):
        h, wd = z.shape
        # torch's avg_pool2d(padding=1) on an odd side: windows start one pixel before the
        # image (zero padding counted in the average), as pytorch_msssim downsamples
        z = np.pad(z, ((h % 2, 0), (wd % 2, 0)))
        return z.reshape(z.shape[0] // 2, 2, z.shape[1] // 2, 2).mean(axis=(1, 3))

    vals = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch].astype(np.float64), b[..., ch].astype(np.float64)
        terms = []
        for lvl in range(5):
            mx, my = filt(x), filt(y)
            sxx, syy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
            cs = (2 * sxy + c2) / (sxx + syy + c2)
            if lvl < 4:
                terms.append(max(cs.mean(), 0.0))
                x, y = pool(x), pool(y)
            else:
                terms.append(max(((2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs).mean(), 0.0))
        vals.append(np.prod(np.array(terms) ** w))
    return float(np.mean(vals))


def test_ms_ssim_math_matches_numpy_oracle_with_odd_sizes():
    import torch

    from qbench.metrics.functional import ms_ssim

    x, y = pair(5, h=181, w=203)
    t = [torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[None] for a in (x, y)]
    got = float(ms_ssim(*t, window_dtype=torch.float64))      # float64 window: pure math check
    assert abs(got - np_ms_ssim(x, y)) < 1e-9
    # the preset builds the window in float32, as pytorch_msssim does: a ~1e-6 effect
    assert abs(build("ms_ssim_rgb").compute(x, y) - got) < 1e-5


def test_ms_ssim_rgb_equals_pytorch_msssim():
    torch = pytest.importorskip("torch")
    pm = pytest.importorskip("pytorch_msssim")
    x, y = pair(6, h=181, w=203)
    t = [torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[None] for a in (x, y)]
    assert abs(build("ms_ssim_rgb").compute(x, y) - float(pm.ms_ssim(*t, data_range=255))) < 1e-6


def test_ms_ssim_rejects_too_small_images():
    x, y = pair(6, h=120, w=200)
    with pytest.raises(ValueError, match="larger than 160"):
        build("ms_ssim_rgb").compute(x, y)


def test_gray_image_y_and_rgb_metrics_use_the_gray_channel():
    x, y = pair(8, c=1)
    assert build("psnr_y").compute(x, y) == build("psnr_rgb").compute(x, y)
    assert build("ssim_y").compute(x, y) == build("ssim_rgb").compute(x, y)


def test_metric_version_changes_with_protocol():
    assert build("psnr_y").version != build("psnr_y", crop_border=2).version
    assert build("psnr_y").version != build("psnr_rgb").version
    assert build("psnr_y").info.higher_is_better
