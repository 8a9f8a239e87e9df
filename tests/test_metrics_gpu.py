"""Metrics give the same values on the GPU as on the CPU (skipped without CUDA)."""

import pytest

from qbench.metrics import build

from .test_metrics_core import pair

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["psnr_rgb", "psnr_y", "ssim_y", "ms_ssim_rgb", "psnrb_y", "gmsd"])
def test_cuda_equals_cpu(name):
    x, y = pair(9)
    cpu = build(name).compute(x, y)
    m = build(name)
    m.device = "cuda"
    assert m.compute(x, y) == pytest.approx(cpu, abs=1e-6)
