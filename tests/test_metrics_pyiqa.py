"""pyiqa-backed metrics: oracles where a closed form exists, and LPIPS on test-made weights."""

import numpy as np
import pytest
from scipy.signal import convolve2d

from qbench.errors import WeightsError
from qbench.metrics import build

from .conftest import smooth_image


def pair(seed=0, h=96, w=112):
    x = smooth_image(seed, h, w)
    rng = np.random.default_rng(seed)
    y = np.clip(x.astype(int) + rng.integers(-25, 26, x.shape), 0, 255).astype(np.uint8)
    return x, y


def np_gmsd(x: np.ndarray, y: np.ndarray) -> float:
    """GMSD (Xue et al. 2014) on YIQ luma x 255: 2x2 average + 2x downsampling, Prewitt/3, T=170."""
    def luma(img):
        f = img.astype(np.float64) / 255.0
        return np.round((0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]) * 255.0)

    def prep(img):
        a = convolve2d(luma(img), np.full((2, 2), 0.25), mode="same", boundary="fill")
        return a[::2, ::2]

    px = np.array([[1, 0, -1]] * 3) / 3.0

    def mag(a):
        gx = convolve2d(a, px[::-1, ::-1], mode="same")
        gy = convolve2d(a, px.T[::-1, ::-1], mode="same")
        return np.sqrt(gx**2 + gy**2)

    mx, my = mag(prep(x)), mag(prep(y))
    gms = (2 * mx * my + 170) / (mx**2 + my**2 + 170)
    return float(gms.std())


def test_identical_images_give_the_ideal_scores():
    x, _ = pair(1)
    assert build("fsim").compute(x, x) == pytest.approx(1.0, abs=1e-5)
    assert build("vif").compute(x, x) == pytest.approx(1.0, abs=1e-5)
    assert build("gmsd").compute(x, x) == pytest.approx(0.0, abs=1e-6)


def test_scores_degrade_with_distortion_and_gray_is_accepted():
    x, y = pair(2)
    _, z = pair(2)
    z = np.clip(x.astype(int) + 3 * (z.astype(int) - x.astype(int)), 0, 255).astype(np.uint8)
    assert build("fsim").compute(x, y) > build("fsim").compute(x, z)
    assert build("vif").compute(x, y) > build("vif").compute(x, z)
    g = smooth_image(3, 64, 64, 1)
    assert 0 < build("fsim").compute(g, g[::-1].copy()) < 1


def test_gmsd_close_to_numpy_oracle():
    x, y = pair(4)
    got = build("gmsd").compute(x, y)
    # boundary handling of the 2x2 pre-filter differs by a few pixels; values agree to ~1e-3
    assert got == pytest.approx(np_gmsd(x, y), abs=2e-3)


def _save_pinned(monkeypatch, module_attr: str, path, state):
    """Save ``state`` at ``path`` and re-pin the catalogue entry to the file's real sha256."""
    import dataclasses

    import torch

    from qbench.metrics import weights as mw
    from qbench.weights import sha256_file

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    wf = dataclasses.replace(getattr(mw, module_attr), sha256=sha256_file(path), sha256_prefix=None)
    monkeypatch.setattr(mw, module_attr, wf)
    if wf.filename in mw.TORCHVISION_FILES:
        monkeypatch.setitem(mw.TORCHVISION_FILES, wf.filename, wf)
    return wf


def test_lpips_end_to_end_on_test_made_weights(tmp_path, monkeypatch):
    import torch
    from torchvision.models import alexnet

    from qbench.weights import local_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    with pytest.raises(WeightsError, match="alexnet-owt-7be5be79.pth"):
        build("lpips")
    from qbench.metrics import weights as mw

    torch.manual_seed(0)
    _save_pinned(monkeypatch, "ALEXNET", local_path(mw.ALEXNET), alexnet(weights=None).state_dict())
    lins = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate([64, 192, 384, 256, 256])}
    wf = _save_pinned(monkeypatch, "LPIPS_ALEX", local_path(mw.LPIPS_ALEX), lins)
    metric = build("lpips")
    x, y = pair(5, 64, 64)
    assert metric.compute(x, x) == pytest.approx(0.0, abs=1e-6)
    d1 = metric.compute(x, y)
    assert np.isfinite(d1) and d1 > 0
    # a truncated / different file fails its pin with a clear message
    path = local_path(wf)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(WeightsError, match="sha256"):
        build("lpips")


def test_dists_end_to_end_on_test_made_weights(tmp_path, monkeypatch):
    import torch
    from torchvision.models import vgg16

    from qbench.metrics import weights as mw
    from qbench.metrics.pyiqa_metrics import verified_torchvision_weights
    from qbench.weights import local_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    with pytest.raises(WeightsError, match="vgg16-397923af.pth"):
        build("dists")
    torch.manual_seed(0)
    _save_pinned(monkeypatch, "VGG16", local_path(mw.VGG16), vgg16(weights=None).state_dict())
    from pyiqa.archs.dists_arch import DISTS

    with verified_torchvision_weights():
        net = DISTS(pretrained=False)      # the real architecture; alpha/beta randomly initialised
    own = {k: v for k, v in net.state_dict().items() if k in ("alpha", "beta")}
    _save_pinned(monkeypatch, "DISTS", local_path(mw.DISTS), own)
    metric = build("dists")
    x, y = pair(6, 64, 64)
    assert metric.compute(x, x) == pytest.approx(0.0, abs=1e-5)
    d = metric.compute(x, y)
    assert np.isfinite(d) and d > 0
