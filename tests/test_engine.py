"""Execution engine: tiling with seamless blending, padding, AMP, OOM fallback, suite options, costs."""

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


def test_out_of_memory_retries_with_smaller_tiles():
    net = small_cnn()
    sizes = []

    def fussy(t):
        sizes.append(max(t.shape[-2:]))
        if max(t.shape[-2:]) > 40:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return net(t)

    x = torch.rand(1, 3, 96, 90)
    out = run_model(fussy, x, EngineOptions(overlap=16, min_tile=16))
    assert sizes[:2] == [96, 48] and max(sizes[2:]) <= 24
    assert out.shape == x.shape and (out - run_model(net, x)).abs().mean() < 5e-3
    with pytest.raises(SolverError, match="out of device memory"):
        run_model(fussy, x, EngineOptions(overlap=16, min_tile=64))


def test_suite_engine_mapping_is_strict_and_reaches_the_solver(image_folder):
    from qbench.errors import SuiteError
    from qbench.solvers import build
    from qbench.suite import parse_suite

    spec = {"name": "dncnn3", "engine": {"tile": 64, "overlap": 8, "batch_size": 2, "amp": "bf16"}}
    suite = parse_suite(basic_suite(image_folder, solvers=["identity", spec]))
    assert "engine" not in suite.canonical()["solvers"][0]       # absent: suite hash unchanged
    eng = suite.solvers[1].engine
    solver = build("dncnn3", {}, eng.model_dump())
    assert (solver.engine.tile, solver.engine.overlap, solver.engine.batch_size, solver.engine.amp) == (64, 8, 2, "bf16")
    assert solver.spec()["engine"] == {"tile": 64, "overlap": 8, "amp": "bf16"}   # enters cache keys
    assert "engine" not in build("dncnn3").spec()
    for bad in ({"tiles": 64}, {"tile": 16, "overlap": 8}, {"amp": "fp8"}, {"batch_size": 0}):
        with pytest.raises(SuiteError):
            parse_suite(basic_suite(image_folder, solvers=[{"name": "dncnn3", "engine": bad}]))


def test_seeding_is_deterministic():
    from qbench.solvers.engine import seed_everything

    seed_everything(7)
    a = torch.rand(3)
    seed_everything(7)
    assert torch.equal(a, torch.rand(3))


def test_cost_counts_parameters_and_flops_per_megapixel():
    from qbench.solvers.engine import measure_cost

    net = small_cnn()
    cost = measure_cost(net, net, channels=3, device="cpu", size=32)
    assert cost.params == sum(p.numel() for p in net.parameters())
    # conv FLOPs = 2 x multiply-accumulates per output pixel: 9 x (3*16 + 16*16 + 16*16 + 16*3)
    assert cost.flops_per_mp == pytest.approx(2 * 9 * 608 * 1e6)
    assert cost.seconds_per_mp > 0 and cost.peak_mem_mb is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_amp_fp16_and_tiling_match_fp32():
    net = small_cnn().cuda()
    x = torch.rand(2, 3, 130, 170, device="cuda")
    ref = run_model(net, x)
    assert (run_model(net, x, EngineOptions(amp="fp16")) - ref).abs().max() < 0.02
    assert (run_model(net, x, EngineOptions(tile=64, overlap=16)) - ref).abs().max() < 1e-4
