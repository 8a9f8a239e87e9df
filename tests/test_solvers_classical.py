"""Classical enhancers: no weights, OpenCV filters and POCS deblocking with the decoder's tables."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.fft import dctn

from qbench.codecs import build as build_codec
from qbench.errors import ConfigError
from qbench.images import quantize, to_tensor
from qbench.solvers import Context, build

from .conftest import basic_suite, smooth_image

CLASSICAL = ("gaussian", "bilateral", "nlm", "dct_deblock")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def jpeg(img: np.ndarray, quality: int):
    codec = build_codec("jpeg", {}, None)
    enc = codec.encode(img, quality)
    return codec.decode(enc.data, channels=img.shape[2]), enc.side_info["qtables"]


def run(name: str, decoded: np.ndarray, tables) -> np.ndarray:
    solver = build(name)
    solver.setup("cpu")
    ctx = Context(codec="jpeg", quality=10.0, qtables=(tuple(map(tuple, tables)),))
    out = solver.enhance(to_tensor(decoded), ctx)
    assert out.shape == (1, decoded.shape[2], *decoded.shape[:2]) and torch.isfinite(out).all()
    return quantize(out)[0]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", CLASSICAL)
def test_classical_enhancers_keep_shape_and_change_pixels(name, channels):
    img = smooth_image(5, 45, 61, channels)             # odd size: not a multiple of 8
    decoded, tables = jpeg(img, 10)
    out = run(name, decoded, tables)
    assert out.shape == decoded.shape and out.dtype == np.uint8
    assert not np.array_equal(out, decoded)


def test_dct_deblock_improves_psnr_and_stays_in_the_quantisation_set():
    # a photograph (scikit-image's embedded camera man, 64x96 crop): blocking at QF 10 is what the
    # filter removes; on noise-dominated synthetic texture there is little blocking to remove
    from skimage.data import camera

    img = np.ascontiguousarray(camera()[128:192, 160:256, None])
    decoded, tables = jpeg(img, 10)
    out = run("dct_deblock", decoded, tables)
    assert psnr(img, out) > psnr(img, decoded) + 0.3      # measured: +0.62 dB
    # every 8x8 DCT coefficient of the output lies in the decoded coefficient's quantisation
    # interval, up to the effect of rounding the output to uint8 (at most 4 per coefficient)
    q = np.asarray(tables[0], dtype=np.float64).reshape(8, 8)

    def coeffs(a):
        a = a[..., 0].astype(np.float64) - 128
        return dctn(a.reshape(8, 8, 12, 8).transpose(0, 2, 1, 3), axes=(2, 3), norm="ortho")

    assert np.all(np.abs(coeffs(out) - coeffs(decoded)) <= q / 2 + 4.0)


def test_dct_deblock_needs_quantisation_tables():
    solver = build("dct_deblock")
    assert not solver.card.blind
    with pytest.raises(ConfigError, match="quantisation tables"):
        solver.enhance(torch.rand(1, 1, 16, 16), Context(codec="webp", quality=50.0))


def test_importing_classical_baselines_does_not_import_cv2():
    code = "import sys, qbench_baselines.classical; assert 'cv2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_classical_enhancers_change_psnr_in_a_run_and_costs_are_reported(image_folder, tmp_path):
    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    data = basic_suite(image_folder, solvers=["identity", *CLASSICAL], codecs=[{"name": "jpeg", "qualities": [10]}])
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    write_reports(out)
    s = pd.read_csv(out / "summary.csv").set_index("solver")
    for name in CLASSICAL:
        assert s.loc[name, "psnr_y"] != s.loc["identity", "psnr_y"]
    assert s.loc["dct_deblock", "psnr_y"] > s.loc["identity", "psnr_y"]
    md = (out / "leaderboard.md").read_text()
    assert "## Solvers and cost" in md and "non-blind" in md


@pytest.mark.parametrize("name", ["gaussian", "bilateral", "nlm", "dct_deblock"])
def test_the_opencv_version_is_part_of_a_classical_solvers_identity(name, monkeypatch):
    """OpenCV computes these outputs, so another OpenCV build must not reuse stored results."""
    import cv2

    from qbench import solvers

    solver = solvers.build(name, {})
    assert solver.spec()["versions"] == {"opencv": cv2.__version__}
    before = solver.spec_hash()
    monkeypatch.setattr(cv2, "__version__", cv2.__version__ + "-other")
    assert solvers.build(name, {}).spec_hash() != before


@pytest.mark.parametrize("name", ["bicubic", "irn_x2", "sain_x2_jpeg", "fbcnn_color"])
def test_the_torch_version_is_part_of_a_network_solvers_identity(name, monkeypatch):
    import torch

    from qbench import solvers

    solver = solvers.build(name, {})
    assert solver.spec()["versions"]["torch"] == torch.__version__
    before = solver.spec_hash()
    monkeypatch.setattr(torch, "__version__", "0.0-other")
    assert solvers.build(name, {}).spec_hash() != before
