"""Execution engine: tiling with seamless blending, padding, AMP; classical enhancers; costs."""

import pandas as pd
import pytest
import torch

from qbench.errors import SolverError
from qbench.solvers.engine import EngineOptions, run_model, tiled

from .conftest import basic_suite


def small_cnn(scale: int = 1):
    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU()]
    layers += [torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU()] * 2
    layers += [torch.nn.Conv2d(16, 3 * scale * scale, 3, padding=1)]
    if scale > 1:
        layers.append(torch.nn.PixelShuffle(scale))
    return torch.nn.Sequential(*layers).eval()


@pytest.mark.parametrize("scale", [1, 2])
def test_tiled_equals_untiled_for_a_cnn(scale):
    """Receptive field radius 4 < overlap 16: tiles agree with the whole-image pass to float error
    away from tile borders; the ramp blending keeps the difference below 1e-5 everywhere."""
    net = small_cnn(scale)
    x = torch.rand(2, 3, 70, 93)
    whole = run_model(net, x)
    tiles = run_model(net, x, EngineOptions(tile=40, overlap=16))
    assert tiles.shape == whole.shape == (2, 3, 70 * scale, 93 * scale)
    assert (tiles - whole).abs().max() < 1e-5


def test_small_overlap_still_blends_without_seams():
    net = small_cnn()
    x = torch.rand(1, 3, 64, 64)
    out = tiled(net, x, tile=36, overlap=4)
    assert (out - run_model(net, x)).abs().mean() < 5e-3


def test_padding_to_a_multiple_is_cropped_back():
    calls = []

    def needs_multiple_of_8(t):
        calls.append(tuple(t.shape[-2:]))
        assert t.shape[-1] % 8 == 0 and t.shape[-2] % 8 == 0
        return t * 2

    x = torch.rand(1, 1, 21, 30)
    y = run_model(needs_multiple_of_8, x, multiple=8)
    assert calls == [(24, 32)] and torch.allclose(y, x * 2)


def test_amp_bf16_on_cpu_is_close_to_fp32():
    net = small_cnn()
    x = torch.rand(1, 3, 32, 32)
    assert (run_model(net, x, EngineOptions(amp="bf16")) - run_model(net, x)).abs().max() < 0.05


def test_engine_options_are_validated():
    with pytest.raises(SolverError, match="amp"):
        EngineOptions.from_mapping({"amp": "fp8"})
    with pytest.raises(SolverError, match="unknown engine option"):
        EngineOptions.from_mapping({"tiles": 3})
    with pytest.raises(SolverError, match="twice the overlap"):
        EngineOptions.from_mapping({"tile": 40, "overlap": 32})


def test_classical_enhancers_change_psnr_and_costs_are_reported(image_folder, tmp_path):
    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    data = basic_suite(image_folder, solvers=["identity", "gaussian", "bilateral", "nlm", "dct_deblock"],
                       codecs=[{"name": "jpeg", "qualities": [10]}])
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    write_reports(out)
    s = pd.read_csv(out / "summary.csv").set_index("solver")
    for name in ("gaussian", "bilateral", "nlm", "dct_deblock"):
        assert s.loc[name, "psnr_y"] != s.loc["identity", "psnr_y"]
    md = (out / "leaderboard.md").read_text()
    assert "## Solvers and cost" in md and "non-blind" in md
