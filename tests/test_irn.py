"""IRN (Invertible Image Rescaling): invertibility, official key names, weight handling, end to end.

No network: the official checkpoints live on Google Drive, so the tests save randomly initialised
state dicts where ``qbench weights path IRN_x2.pth`` points (in the per-test QBENCH_CACHE).
"""

import math
import sqlite3
from pathlib import Path

import pytest
import torch
from qbench_baselines.irn import IRNx2, build_irn

from qbench.errors import WeightsError
from qbench.images import read_image
from qbench.runner import Runner
from qbench.solvers import Context
from qbench.suite import parse_suite
from qbench.weights import local_path

from .conftest import basic_suite, save, smooth_image


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def perturbed(scale: int, seed: int = 0):
    """A random-init net whose last convs are non-zero too (IRN zero-inits them, which would
    make every coupling the identity and the invertibility check trivial)."""
    torch.manual_seed(seed)
    net = build_irn(scale)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("conv5.weight", "conv5.bias")):
                p.normal_(0, 0.02)
    return net.eval()


# -- 1. the architecture -------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [2, 4])
def test_forward_then_inverse_reconstructs_the_input(scale):
    net = perturbed(scale)
    torch.manual_seed(1)
    x = torch.rand(2, 3, 8 * scale, 12 * scale)
    with torch.no_grad():
        y = net(x)
        assert y.shape == (2, 3 * 4 ** int(math.log2(scale)), 8, 12)
        back = net(y, rev=True)
        # the couplings are not the identity: the low-res part differs from a plain Haar average
        plain = torch.nn.functional.avg_pool2d(x, scale)
        assert (y[:, :3] - plain).abs().max() > 1e-3
    assert (back - x).abs().max() < 1e-4


def official_names(scale: int) -> dict[str, tuple[int, ...]]:
    """Key names and shapes of the official InvRescaleNet (Inv_arch.py / Subnet_constructor.py):
    operations = [Haar(3), 8 x InvBlockExp(12, 3), Haar(12), 8 x InvBlockExp(48, 3)] for x4."""
    out: dict[str, tuple[int, ...]] = {}
    i, channels, gc = 0, 3, 32
    for _ in range(int(math.log2(scale))):
        out[f"operations.{i}.haar_weights"] = (4 * channels, 1, 2, 2)
        i += 1
        channels *= 4
        for _ in range(8):
            for sub, (cin, cout) in {"F": (channels - 3, 3), "G": (3, channels - 3),
                                     "H": (3, channels - 3)}.items():
                for k in range(1, 5):
                    out[f"operations.{i}.{sub}.conv{k}.weight"] = (gc, cin + (k - 1) * gc, 3, 3)
                    out[f"operations.{i}.{sub}.conv{k}.bias"] = (gc,)
                out[f"operations.{i}.{sub}.conv5.weight"] = (cout, cin + 4 * gc, 3, 3)
                out[f"operations.{i}.{sub}.conv5.bias"] = (cout,)
            i += 1
    return out


@pytest.mark.parametrize("scale", [2, 4])
def test_state_dict_matches_the_official_names_and_shapes(scale):
    state = build_irn(scale).state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == official_names(scale)
    assert "operations.1.F.conv1.weight" in state and "operations.0.haar_weights" in state
    if scale == 4:
        assert state["operations.9.haar_weights"].shape == (48, 1, 2, 2)
        assert state["operations.10.F.conv1.weight"].shape == (32, 45, 3, 3)


def test_initialisation_follows_irn():
    net = build_irn(2)
    block = net.operations[1].F
    assert torch.count_nonzero(block.conv5.weight) == 0 and torch.count_nonzero(block.conv1.bias) == 0
    assert 0 < block.conv1.weight.std() < 0.1                      # xavier x 0.1
    assert not net.operations[0].haar_weights.requires_grad


# -- 2. weights ----------------------------------------------------------------------------------
def place(cls, state: dict) -> Path:
    path = local_path(cls.card.weights[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


@pytest.mark.parametrize("prefix", ["", "module."])
def test_setup_loads_a_state_dict_strictly(prefix):
    net = perturbed(2, seed=3)
    place(IRNx2, {prefix + k: v for k, v in net.state_dict().items()})
    solver = IRNx2()
    solver.setup("cpu")
    for (k, a), b in zip(net.state_dict().items(), solver.net.state_dict().values()):
        assert torch.equal(a, b), k
    assert solver.modules() == [solver.net]


def test_setup_rejects_a_checkpoint_of_the_other_scale():
    place(IRNx2, build_irn(4).state_dict())
    with pytest.raises(WeightsError, match="not an IRN x2 checkpoint"):
        IRNx2().setup("cpu")


# -- 3. the rescaler -----------------------------------------------------------------------------
def test_a_gray_image_is_refused_with_the_fix():
    from qbench.errors import SolverError

    place(IRNx2, perturbed(2).state_dict())
    solver = IRNx2()
    solver.setup("cpu")
    for step in (solver.downscale, solver.upscale):
        with pytest.raises(SolverError, match="takes RGB images.*mode: rgb"):
            step(torch.rand(1, 1, 16, 16), Context(original_size=(32, 32)))


def test_gaussian_scale_is_a_parameter_in_the_spec():
    # gaussian_scale 0 makes z = 0: the upscale is then deterministic without seeding
    place(IRNx2, perturbed(2).state_dict())
    a, b = IRNx2(gaussian_scale=0.0), IRNx2(gaussian_scale=0)
    a.setup("cpu")
    b.setup("cpu")
    low = a.downscale(torch.rand(1, 3, 16, 16), Context(original_size=(16, 16)))
    assert torch.equal(a.upscale(low, Context()), b.upscale(low, Context()))
    assert a.spec_hash() == b.spec_hash() != IRNx2().spec_hash()


# -- 4. end to end -------------------------------------------------------------------------------
def test_runs_end_to_end_with_ceil_sized_lowres(tmp_path):
    place(IRNx2, perturbed(2, seed=7).state_dict())
    folder = tmp_path / "imgs"
    sizes = {"a.png": (48, 64), "b.png": (45, 61)}
    for i, (name, hw) in enumerate(sizes.items()):
        save(smooth_image(20 + i, *hw), folder / name)
    data = basic_suite(folder, codecs=[{"name": "jpeg", "qualities": [50, 90]}], metrics=["psnr_y"],
                       solvers=[{"name": "qbench_baselines.irn:IRNx2", "label": "irn"}])
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    with sqlite3.connect(out / "results.sqlite") as db:
        shapes = sorted(read_image(path).shape[:2] for (path,) in db.execute(
            "SELECT path FROM artefacts WHERE role='lowres'"))
        values = [v for (v,) in db.execute('SELECT value FROM "values" WHERE metric = ?', ("psnr_y",))]
    assert shapes == sorted((math.ceil(h / 2), math.ceil(w / 2)) for h, w in sizes.values())
    assert len(values) >= 4 and all(math.isfinite(v) and v > 10 for v in values)
