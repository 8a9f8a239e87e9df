"""The CPU kernels of PSNR, SSIM and MS-SSIM against reference implementations on real photographs.

scikit-image's sample photographs, JPEG-coded by Pillow at several qualities, measured by the
presets (the float32 distorted side of :mod:`qbench.metrics.prepared_ssim`, the numpy PSNR) and by:

* PSNR: pyiqa's ``psnr`` in float64 (``eps=0``: pyiqa adds 1e-8 to the MSE by default);
* SSIM: scikit-image's ``structural_similarity`` (Gaussian, sigma 1.5, population covariance:
  the Wang et al. / BasicSR protocol). pyiqa's SSIM clamps the contrast-structure map at zero per
  pixel, another protocol (up to 1e-4 apart at low JPEG qualities), so it is no oracle here;
* MS-SSIM: pytorch_msssim (the implementation CompressAI reports with), in float64 and in the
  float32 CompressAI runs it in.

Every value must agree to 1e-6 (dB for PSNR); float32 pytorch_msssim to 1e-5. The float64 path
(``precision="float64"``) must agree with the float32 one to 1e-6 as well.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from qbench.metrics import build
from qbench.metrics.prepared import compute, prepare

QUALITIES = (10, 50, 90)


def _photos() -> dict[str, np.ndarray]:
    import skimage.data as sd

    return {"astronaut": sd.astronaut(), "coffee": sd.coffee()[:, :451], "camera": sd.camera()[:, :, None]}


def _jpeg(x: np.ndarray, q: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(x[..., 0] if x.shape[2] == 1 else x).save(buf, format="JPEG", quality=q)
    y = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    return y[..., None] if y.ndim == 2 else y


@pytest.fixture(scope="module")
def coded() -> list[tuple[str, np.ndarray, np.ndarray]]:
    return [(f"{name}@q{q}", x, _jpeg(x, q)) for name, x in _photos().items() for q in QUALITIES]


def _t(a: np.ndarray):
    import torch

    return torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[None]


def test_psnr_matches_pyiqa(coded):
    pytest.importorskip("pyiqa")
    from pyiqa.archs.psnr_arch import psnr

    for what, x, y in coded:
        want = float(psnr(_t(x), _t(y), data_range=255.0, eps=0.0))
        assert abs(build("psnr_rgb").compute(x, y) - want) < 1e-6, what
        if x.shape[2] == 3:
            want_y = float(psnr(_t(x) / 255, _t(y) / 255, test_y_channel=True, color_space="ycbcr", eps=0.0))
            assert abs(build("psnr_y").compute(x, y) - want_y) < 1e-6, what


def test_ssim_matches_scikit_image(coded):
    from skimage.metrics import structural_similarity

    from qbench.metrics.pixels import luma

    def sk(a, b):
        return structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)

    for what, x, y in coded:
        rgb = np.mean([sk(x[..., c].astype(np.float64), y[..., c].astype(np.float64)) for c in range(x.shape[2])])
        assert abs(build("ssim_rgb").compute(x, y) - rgb) < 1e-6, what
        if x.shape[2] == 3:
            assert abs(build("ssim_y").compute(x, y) - sk(luma(x), luma(y))) < 1e-6, what


def test_ms_ssim_matches_pytorch_msssim(coded):
    pm = pytest.importorskip("pytorch_msssim")
    for what, x, y in coded:
        got = build("ms_ssim_rgb").compute(x, y)
        assert abs(got - float(pm.ms_ssim(_t(x), _t(y), data_range=255))) < 1e-6, what
        f32 = float(pm.ms_ssim(_t(x).float(), _t(y).float(), data_range=255))     # as CompressAI runs it
        assert abs(got - f32) < 1e-5, what


@pytest.mark.parametrize("kind,border,channels", [("psnr", 0, "rgb"), ("psnr", 2, "y"), ("ssim", 0, "y"),
                                                   ("ssim", 3, "rgb"), ("ms_ssim", 0, "rgb"), ("ms_ssim", 1, "y")])
def test_float32_kernels_agree_with_the_float64_path(coded, kind, border, channels):
    for what, x, y in coded:
        for out in (y, y.astype(np.float32) + np.float32(0.4)):          # uint8, and a float output
            fast = compute(prepare(x, kind, border, channels), out)
            exact = compute(prepare(x, kind, border, channels, precision="float64"), out)
            assert abs(fast - exact) < (1e-9 if kind == "psnr" else 1e-6), (what, out.dtype)


def test_kernels_import_no_torch(tmp_path):
    """PSNR, SSIM and MS-SSIM of a usual image need no torch: a JPEG-only suite's workers never
    import it."""
    code = ("import sys, json, numpy as np\nfrom qbench.metrics import build\n"
            "x = (np.arange(200 * 190 * 3) % 251).astype(np.uint8).reshape(200, 190, 3)\n"
            "y = x[::-1].copy()\n"
            "vals = [build(n).compute(x, y) for n in ('psnr_rgb', 'psnr_y', 'ssim_y', 'ssim_rgb', 'ms_ssim_rgb')]\n"
            "print(json.dumps(['torch' in sys.modules, vals]))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=True)
    imported, vals = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not imported and all(np.isfinite(vals))


def test_y_metrics_of_one_sample_convert_the_output_once(monkeypatch, coded):
    """psnr_y, ssim_y and psnrb_y of one output convert it to Y once, not once per metric."""
    from qbench.metrics import pixels

    _, x, y = coded[0]
    ms = [build(n) for n in ("psnr_y", "ssim_y", "psnrb_y")]
    preps = [m.prepare(x) for m in ms]
    want = [m.compute_prepared(p, y.copy()) for m, p in zip(ms, preps)]
    calls = []
    real = pixels.luma
    monkeypatch.setattr(pixels, "luma", lambda img: calls.append(img.shape) or real(img))
    out = y.copy()
    assert [m.compute_prepared(p, out) for m, p in zip(ms, preps)] == want
    assert len(calls) == 1
    other = y.copy()                                     # another array: converted again
    assert ms[0].compute_prepared(preps[0], other) == want[0] and len(calls) == 2


def test_preparing_a_reference_works_in_strips():
    """The reference's float64 statistics are filtered a strip of rows at a time: the working
    memory beside the prepared result is the strips' buffers and the float64 coarser scales, not
    whole-image float64 stacks (two workers preparing such stacks at once ran at half speed)."""
    import tracemalloc

    from qbench.metrics import prepared_ssim

    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(768, 3, 1024)).astype(np.float64)
    tracemalloc.start()
    try:
        prep = prepared_ssim.prepare(x, multiscale=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept = sum(a.nbytes for group in prep for a in group)
    whole_stack = 2 * x.nbytes                            # x and x^2 of the first scale, float64
    coarser = x.nbytes // 4 + x.nbytes // 16               # the float64 planes of scales 2 and 3
    assert peak - kept < coarser + 4 * prepared_ssim.STRIP_BYTES < whole_stack


@pytest.mark.parametrize("shape,crop", [((64, 80, 3), 0), ((64, 80, 3), 4), ((50, 70, 1), 0), ((33, 47, 4), 2)])
def test_uint8_psnr_is_exact(shape, crop):
    """PSNR of a uint8 pair equals the value from the exact integer sum of squared differences,
    on OpenCV's contiguous path and on the numpy path for crops and other layouts."""
    import math

    from qbench.metrics.prepared import psnr

    rng = np.random.default_rng(sum(shape) + crop)
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    y = np.clip(x.astype(int) + rng.integers(-60, 61, shape), 0, 255).astype(np.uint8)
    if crop:
        x, y = x[crop:-crop, crop:-crop], y[crop:-crop, crop:-crop]
    sse = int(((x.astype(np.int64) - y.astype(np.int64)) ** 2).sum())
    want = 10.0 * math.log10(255.0**2 / (sse / x.size))
    assert psnr(x, y) == want
    assert psnr(x, x) == math.inf


def test_luma_is_matlab_rgb2ycbcr_in_float64_in_that_order():
    """Y = ((R c0 + G c1) + B c2) / 255 + 16 in float64, for uint8, float32 and cropped views: the
    order the committed leaderboards were computed in (the values must not move by an ulp)."""
    from qbench.metrics.constants import BT601_Y
    from qbench.metrics.pixels import luma

    rng = np.random.default_rng(5)
    for img in (rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), rng.uniform(0, 255, (30, 41, 3)).astype(np.float32),
                rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)[4:-4, 2:-2]):
        c = img.astype(np.float64)
        want = ((c[..., 0] * BT601_Y[0] + c[..., 1] * BT601_Y[1]) + c[..., 2] * BT601_Y[2]) / 255.0 + 16.0
        assert np.array_equal(luma(img), want)


def test_the_ssim_versions_name_the_filters_pass_along_w(monkeypatch):
    """SSIM and MS-SSIM values depend in their last bits on the pass along W (OpenCV and its
    release, or numpy's GEMM without cv2): their versions change with it, so stored values are
    not reused across it; PSNR's (exact either way) does not."""
    from qbench.metrics import band

    before = {n: build(n).version for n in ("ssim_y", "ms_ssim_rgb", "psnr_rgb")}
    monkeypatch.setattr(band, "opencv", lambda: None)
    after = {n: build(n).version for n in before}
    assert after["ssim_y"] != before["ssim_y"] and after["ms_ssim_rgb"] != before["ms_ssim_rgb"]
    assert after["psnr_rgb"] == before["psnr_rgb"]
