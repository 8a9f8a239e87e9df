"""Prepared references: same values as the unprepared call and the functional oracle.

``compute_prepared(prepare(ref), out)`` is what ``compute`` runs on the CPU, so the two are
equal exactly; the functional implementation (``compute_functional``, float64) must agree to
1e-9 dB (PSNR, PSNR-B: float64 too, another summation order) or 1e-6 (SSIM / MS-SSIM: the
distorted side is measured in float32, see :mod:`qbench.metrics.prepared_ssim`).
"""

import io
import math
import pickle

import numpy as np
import pytest
import torch

from qbench.errors import ImageError
from qbench.images import as_hwc, to_tensor
from qbench.metrics import PRESETS, Metric, build
from qbench.metrics.functional.ssim import gaussian_1d
from qbench.metrics import band
from qbench.metrics.gaussian import filter_valid
from qbench.metrics.pixels import as_metric_hwc, unit_tensor
from qbench.metrics import prepared_ssim
from qbench.metrics.prepared_ssim import pool2
from qbench.metrics.prepared_stream import pool2 as stream_pool2

from .conftest import smooth_image


def tolerance(name: str) -> float:
    return 1e-9 if name.startswith("psnr") else 1e-6


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img[..., 0] if img.shape[2] == 1 else img).save(buf, format="JPEG", quality=quality)
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    return out[..., None] if out.ndim == 2 else out


def distorted(x: np.ndarray, seed: int) -> list[np.ndarray]:
    """JPEG versions, a noisy uint8 one and a float32 one (a run with quantize: false)."""
    rng = np.random.default_rng(seed)
    noisy = np.clip(x + rng.normal(0, 9, x.shape), 0, 255)
    return [jpeg(x, 10), jpeg(x, 60), np.round(noisy).astype(np.uint8), noisy.astype(np.float32)]


def assert_agree(name: str, m, x: np.ndarray, outs: list[np.ndarray]) -> None:
    prep = m.prepare(x)
    for y in outs:
        got = m.compute_prepared(prep, y)
        assert got == m.compute(x, y)                       # one code path
        oracle = m.compute_functional([x], [y])[0]
        assert math.isfinite(got) and abs(got - oracle) <= tolerance(name), (name, y.dtype, got, oracle)


# 181 x 203: odd sides, and larger than 160 px (MS-SSIM's five scales)
@pytest.mark.parametrize("crop", [None, 4])
@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_prepared_equals_unprepared_and_oracle(name, channels, crop):
    x = smooth_image(11 + channels, 181, 203, channels)
    assert_agree(name, build(name, crop_border=crop), x, distorted(x, 5))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_photo_against_jpeg_qualities(name):
    from skimage.data import chelsea

    x = np.ascontiguousarray(chelsea()[40:240, 100:330])          # 200 x 230 RGB photo
    assert_agree(name, build(name), x, [jpeg(x, q) for q in (5, 35, 75, 95)])


def test_random_pixels_odd_size():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (167, 171, 3), dtype=np.uint8)
    y = rng.integers(0, 256, x.shape, dtype=np.uint8)
    for name in PRESETS:
        assert_agree(name, build(name, crop_border=2), x, [y])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_integer_valued_float_output_equals_uint8(name):
    x = smooth_image(21, 170, 176)
    y = jpeg(x, 30)
    m = build(name)
    prep = m.prepare(x)
    assert m.compute_prepared(prep, y.astype(np.float32)) == m.compute_prepared(prep, y)
    assert m.compute_prepared(prep, y.astype(np.float64)) == m.compute_prepared(prep, y)


@pytest.mark.parametrize("name", ["psnr_rgb", "psnr_y", "psnrb_y"])
def test_identical_images_give_inf(name):
    x = smooth_image(2, 64, 72)
    m = build(name)
    assert m.compute_prepared(m.prepare(x), x.copy()) == math.inf == m.compute_functional([x], [x])[0]


def test_prepared_reference_is_plain_arrays_and_pickles():
    x = smooth_image(4, 170, 180)
    y = jpeg(x, 20)
    m = build("ms_ssim_rgb")
    prep = m.prepare(x)
    arrays = (*prep.planes, *prep.twice, *prep.mu, *prep.a0)
    assert len(prep.planes) == len(prep.twice) == 5 and all(isinstance(a, np.ndarray) for a in arrays)
    assert prep.nbytes == sum(a.nbytes for a in arrays)
    assert m.compute_prepared(pickle.loads(pickle.dumps(prep)), y) == m.compute_prepared(prep, y)


def test_compute_batch_prepares_repeated_references_once():
    x, z = smooth_image(5, 64, 70), smooth_image(6, 64, 70)
    outs = [jpeg(x, 20), jpeg(x, 50), jpeg(z, 20)]
    m = build("ssim_y")
    assert m.compute_batch([x, x, z], outs) == [m.compute(r, o) for r, o in zip([x, x, z], outs)]


def test_mismatches_are_errors():
    x = smooth_image(7, 64, 70)
    prep = build("psnr_y").prepare(x)
    with pytest.raises(ValueError, match="prepared for"):
        build("psnr_rgb").compute_prepared(prep, x)
    with pytest.raises(ValueError, match="differ"):
        build("psnr_y").compute_prepared(prep, x[:60])
    with pytest.raises(ValueError, match="larger than 160"):
        build("ms_ssim_y").prepare(smooth_image(7, 150, 300))
    with pytest.raises(ValueError, match="smaller than the 11x11"):
        build("ssim_y", crop_border=2).prepare(smooth_image(7, 14, 40))


def test_metric_pixels_accept_floats_but_pixel_hashing_stays_uint8():
    img = np.zeros((4, 5, 3), np.float32)
    assert as_metric_hwc(img) is img
    assert as_metric_hwc(np.zeros((4, 5), np.uint8)).shape == (4, 5, 1)
    with pytest.raises(ImageError, match="float32"):
        as_hwc(img)
    for bad in (np.zeros((4, 5, 3), np.int16), np.zeros((4, 5, 3), np.float16), np.zeros((4, 5, 2), np.uint8)):
        with pytest.raises(ImageError):
            as_metric_hwc(bad)


def test_unit_tensor_matches_to_tensor_for_uint8():
    imgs = [smooth_image(8, 20, 24), smooth_image(9, 20, 24)]
    assert torch.equal(unit_tensor(imgs), to_tensor(imgs))
    assert torch.equal(unit_tensor([i.astype(np.float32) for i in imgs]), to_tensor(imgs))


def test_default_prepare_keeps_the_reference():
    class Diff(Metric):
        def compute(self, ref, out):
            return float(np.abs(ref.astype(float) - out).mean())

    m = Diff("diff", {})
    x, y = smooth_image(1, 8, 8), smooth_image(2, 8, 8)
    assert m.prepare(x) is x
    assert m.compute_prepared(m.prepare(x), y) == m.compute(x, y)


@pytest.mark.parametrize("shape", [(11, 2, 11), (19, 1, 12), (37, 3, 45), (64, 2, 100)])
def test_filter_valid_matches_scipy(shape):
    from scipy.ndimage import correlate1d

    a = np.random.default_rng(0).uniform(0, 255, shape)
    g = gaussian_1d(11, 1.5, torch.float32).double().numpy()
    want = correlate1d(a, g, axis=0, mode="constant")[5:-5]
    want = correlate1d(want, g, axis=2, mode="constant")[:, :, 5:-5]
    got = filter_valid(torch.from_numpy(a), tuple(g)).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-11)


@pytest.mark.parametrize("rows", [None, "opencv", "gemm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(11, 2, 11), (19, 1, 12), (37, 3, 45), (64, 2, 100)])
def test_numpy_band_filter_matches_scipy(shape, dtype, rows):
    from scipy.ndimage import correlate1d

    a = np.random.default_rng(0).uniform(0, 255, shape)
    g = gaussian_1d(11, 1.5, torch.float32).double().numpy()
    want = correlate1d(a, g, axis=0, mode="constant")[5:-5]
    want = correlate1d(want, g, axis=2, mode="constant")[:, :, 5:-5]
    got = band.filter_valid(a.astype(dtype), tuple(g), rows=rows)
    assert got.dtype == dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-11 if dtype == np.float64 else 1e-3)


def test_the_pass_along_w_is_opencvs_row_filter_when_cv2_imports(monkeypatch):
    """OpenCV's row filter does the pass along W (faster than GEMMs there); the GEMM pass stays
    for a machine without cv2, and both give the same valid columns, maps-first and contiguous,
    in the caller's buffers."""
    import cv2

    calls = []
    real = cv2.filter2D
    monkeypatch.setattr(cv2, "filter2D", lambda *a, **k: (calls.append(a[2].shape), real(*a, **k))[1])
    a = np.random.default_rng(2).uniform(-40, 40, (3, 42, 3, 77)).astype(np.float32)
    g = tuple(float(v) for v in gaussian_1d(11, 1.5, torch.float32).numpy())
    mid, wide = np.empty(3 * 32 * 3 * 77, np.float32), np.empty(3 * 32 * 3 * 77, np.float32)
    got = band.filter_maps(a, g, mid=mid, wide=wide)
    assert calls == [(1, 11)] and np.shares_memory(got, wide) and got.flags.c_contiguous
    assert got.shape == (3, 32, 3, 77)
    gemm = band.filter_maps(a, g, rows="gemm")
    np.testing.assert_allclose(got[..., 5:-5], gemm[..., 5:-5], rtol=0, atol=2e-5)
    assert not gemm[..., :5].any() and not gemm[..., -5:].any()
    for m in range(3):                                   # each map as filter_valid filters it alone
        np.testing.assert_allclose(got[m, ..., 5:-5], band.filter_valid(a[m], g), rtol=0, atol=2e-5)
    monkeypatch.setattr(band, "opencv", lambda: None)
    np.testing.assert_array_equal(band.filter_maps(a, g), gemm)
    assert len(calls) == 4
    with pytest.raises(ValueError, match="opencv or gemm"):
        band.filter_maps(a, g, rows="fft")


@pytest.mark.parametrize("hw", [(8, 10), (9, 10), (8, 11), (13, 7)])
def test_pool2_is_torch_avg_pool2d(hw):
    a = torch.from_numpy(np.random.default_rng(1).uniform(0, 255, (hw[0], 2, hw[1])))
    want = torch.nn.functional.avg_pool2d(a.permute(1, 0, 2).contiguous()[None], 2,
                                          padding=(hw[0] % 2, hw[1] % 2))[0].permute(1, 0, 2)
    assert torch.equal(torch.from_numpy(pool2(a.numpy())), want)
    assert torch.equal(stream_pool2(a), want)


def test_windows_are_the_protocols():
    """SSIM's float64 window and MS-SSIM's window built in float32, as the oracle builds them."""
    assert prepared_ssim.TAPS_SSIM == tuple(gaussian_1d(11, 1.5, torch.float64).tolist())
    assert prepared_ssim.TAPS_MS_SSIM == tuple(gaussian_1d(11, 1.5, torch.float32).double().tolist())
