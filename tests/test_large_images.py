"""Large images: PSNR, SSIM and MS-SSIM measured in row bands (float64), with bounded memory and the
same values (to 1e-6: the whole-image path measures SSIM in float32)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from qbench.metrics import prepared, prepared_stream
from qbench.metrics.prepared import compute, prepare

from .conftest import REPO, smooth_image

PROTOCOLS = [("psnr", 0, "rgb"), ("psnr", 3, "y"), ("ssim", 0, "y"), ("ssim", 2, "rgb"),
             ("ms_ssim", 0, "rgb"), ("ms_ssim", 1, "y")]


def _pair(h: int, w: int, c: int):
    x = smooth_image(1, h, w, c)
    noise = np.random.default_rng(2).integers(-12, 13, x.shape)
    return x, np.clip(x.astype(np.int64) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(301, 283, 3), (257, 330, 1)])
def test_streamed_values_equal_the_whole_image_path(monkeypatch, one_torch_thread, shape):
    x, y = _pair(*shape)
    outputs = [y, y.astype(np.float32) + np.float32(0.3)]         # uint8 and float (quantize: false)
    whole = {p: [compute(prepare(x, *p), o) for o in outputs] for p in PROTOCOLS}
    monkeypatch.setattr(prepared, "STREAM_ABOVE", 0)
    monkeypatch.setattr(prepared_stream, "STRIP_BYTES", 150_000)   # many strips and bands
    monkeypatch.setattr(prepared_stream, "BAND_BYTES", 40_000)
    for p in PROTOCOLS:
        prep = prepare(x, *p)
        assert prep.pixels is not None and np.shares_memory(prep.pixels, x)      # a view, no copy
        got = [compute(prep, o) for o in outputs]
        # PSNR: the same float64 arithmetic, sums grouped differently; SSIM / MS-SSIM: the streamed
        # path is float64, the whole-image one float32 on the differences (within 1e-6)
        tol = 1e-9 if p[0] == "psnr" else 1e-6
        assert got == pytest.approx(whole[p], abs=tol, rel=0), p
        if p[0] == "psnr" and p[2] == "rgb":
            assert got[0] == whole[p][0]                 # integer sums: exact


def test_streamed_values_match_the_functional_oracle(monkeypatch, one_torch_thread):
    from qbench import metrics

    x, y = _pair(200, 190, 3)
    monkeypatch.setattr(prepared, "STREAM_ABOVE", 0)
    monkeypatch.setattr(prepared_stream, "STRIP_BYTES", 100_000)
    for name in ("psnr_rgb", "psnr_y", "ssim_y", "ms_ssim_rgb"):
        m = metrics.build(name)
        assert m.compute(x, y) == pytest.approx(m.compute_functional([x], [y])[0], rel=1e-9), name


def test_only_large_images_are_streamed():
    assert not prepared.streamed((512, 768, 3), 0, "rgb") and not prepared.streamed((2040, 2040, 3), 0, "rgb")
    assert prepared.streamed((8000, 8000, 3), 0, "y") and prepared.streamed((2400, 2400, 3), 0, "rgb")
    assert not prepared.streamed((2400, 2400, 3), 0, "y")


CHILD = r"""
import json, sys
import numpy as np, torch
torch.set_num_threads(1)
from qbench.metrics import prepared, prepared_stream
from qbench.metrics.prepared import compute, prepare
prepared.STREAM_ABOVE = 16 << 20         # stream this smaller image, in small strips (a fast test)
prepared_stream.STRIP_BYTES = 4 << 20
n = int(sys.argv[1])
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (n, n, 3), dtype=np.uint8)
y = x.copy(); y[::3] //= 2
compute(prepare(x[:200, :200], "ms_ssim", 0, "rgb"), y[:200, :200])     # warm up allocators and imports

def hwm():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])

def reset():
    with open("/proc/self/clear_refs", "w") as f:     # resets the peak (VmHWM) to the current RSS
        f.write("5")

peaks = {}
for p in [("psnr", 0, "rgb"), ("ms_ssim", 0, "rgb")]:
    reset()
    base = hwm()
    compute(prepare(x, *p), y)
    peaks[p[0]] = hwm() - base
print(json.dumps({"extra_kib": peaks}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak RSS from /proc (Linux)")
def test_peak_memory_of_a_large_image_is_bounded():
    """A 1200x1200 RGB image (4.3 MB of pixels, float64 planes 35 MB) streamed in 4 MiB strips: the
    whole-image path's peak for MS-SSIM is about ten times its float64 planes; streamed, the
    strips' buffers and MS-SSIM's coarser scales of both images remain."""
    n = 1200
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    extra_mib = max(got["extra_kib"].values()) / 1024
    image_mib = n * n * 3 / 2**20
    # strips (4 MiB of filtered maps, their inputs and work buffers: ~15 MiB) and MS-SSIM's coarser
    # scales of both images (a third of the float64 planes: 2.7 bytes per pixel and channel each)
    assert extra_mib < 40 + 6 * image_mib, (extra_mib, got)


def test_coarser_scales_of_uint8_pixels_are_stored_exactly_in_float32():
    from qbench.metrics import prepared_ssim
    from qbench.metrics.pixels import planes

    for shape, channels in [((181, 203, 3), "rgb"), ((190, 177, 1), "y"), ((181, 203, 3), "y")]:
        x, _ = _pair(*shape)
        whole, p = [], planes(x, 0, channels)
        for _ in range(4):
            p = prepared_ssim.pool2(p)
            whole.append(p)
        got = prepared_stream.pyramid(x, channels)
        exact = channels == "rgb" or shape[2] == 1
        assert all(g.dtype == (np.float32 if exact else np.float64) for g in got)
        assert all(np.array_equal(g.astype(np.float64), w) for g, w in zip(got, whole, strict=True))
