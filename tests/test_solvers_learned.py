"""Learned baselines load test-made weight files of their official architectures through spandrel."""

import dataclasses
import io

import pytest
import torch

from qbench.errors import WeightsError
from qbench.solvers import Context, build
from qbench.weights import local_path, sha256_file

from .conftest import basic_suite


def esrgan():
    from spandrel.architectures.ESRGAN import ESRGAN
    return ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)          # RealESRGAN_x4plus


def compact():
    from spandrel.architectures.Compact import Compact
    return Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4, act_type="prelu")


def fbcnn(c):
    from spandrel.architectures.FBCNN import FBCNN
    return FBCNN(in_nc=c, out_nc=c, nc=[64, 128, 256, 512], nb=4)


def dncnn3():
    from spandrel.architectures.DnCNN import DnCNN
    return DnCNN(in_nc=1, out_nc=1, nc=64, nb=20, act_mode="R")


def swinir_car(c):
    from spandrel.architectures.SwinIR import SwinIR
    return SwinIR(upscale=1, in_chans=c, img_size=126, window_size=7, img_range=255.0, depths=[6] * 6,
                  embed_dim=180, num_heads=[6] * 6, mlp_ratio=2, upsampler="", resi_connection="1conv")


# solver -> (official architecture, channels, probe side); probes are tiny to keep CPU time low
CASES = {
    "realesrgan_x4plus": (esrgan, 3, 8),
    "realesr_general_x4v3": (compact, 3, 12),
    "fbcnn_color": (lambda: fbcnn(3), 3, 16),
    "fbcnn_gray": (lambda: fbcnn(1), 1, 16),
    "dncnn3": (dncnn3, 1, 16),
    "swinir_car_gray": (lambda: swinir_car(1), 1, 14),
}
_MADE: dict = {}


def place_weights(solver, make, which=0):
    """Save a randomly initialised network of ``make``'s architecture where the cache expects the
    solver's weight file (each architecture is built once per test session)."""
    if make not in _MADE:
        torch.manual_seed(0)
        buf = io.BytesIO()
        torch.save(make().state_dict(), buf)
        _MADE[make] = buf.getvalue()
    path = local_path(solver.card.weights[which])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_MADE[make])
    return path


def pin_to(monkeypatch, cls, path):
    """Re-pin the class's weight files to the test-made file (the release hash cannot match it)."""
    pins = tuple(dataclasses.replace(wf, sha256=sha256_file(path)) if wf.filename == path.name else wf
                 for wf in cls.card.weights)
    monkeypatch.setattr(cls, "card", dataclasses.replace(cls.card, weights=pins))


@pytest.mark.parametrize("name", sorted(CASES))
def test_loads_official_architecture_and_restores(name, monkeypatch):
    make, channels, side = CASES[name]
    solver = build(name)
    pinned = bool(solver.card.weights[0].sha256)
    with pytest.raises(WeightsError, match=solver.card.weights[0].filename):
        solver.setup("cpu")                       # offline and absent: says which file, where
    path = place_weights(solver, make)
    if pinned:                                    # the release pin rejects any other file
        with pytest.raises(WeightsError, match="sha256"):
            build(name).setup("cpu")
        pin_to(monkeypatch, type(solver), path)
    solver = build(name)
    solver.setup("cpu")
    assert solver.modules() and solver.weights_sha256()[0] == sha256_file(path)
    x = torch.rand(2, channels, side, side + 8)
    ctx = Context(codec="jpeg", quality=10.0)
    y = solver.enhance(x, ctx)
    assert y.shape == x.shape and torch.isfinite(y).all()
    # a truncated file is a clear error, not a crash
    path.write_bytes(path.read_bytes()[: 4096])
    with pytest.raises(WeightsError, match="sha256" if pinned else "cannot load"):
        build(name).setup("cpu")


def test_release_pins_are_recorded():
    for name in ("realesrgan_x4plus", "realesr_general_x4v3"):
        wf = build(name).card.weights[0]
        assert len(wf.sha256) == 64 and wf.url.startswith("https://github.com/xinntao/Real-ESRGAN/releases/")
    for name in ("fbcnn_color", "dncnn3", "swinir_car_color"):   # unpinned: observed hash is recorded
        assert all(wf.sha256 is None and wf.url.startswith("https://github.com/") for wf in build(name).card.weights)


def test_wrong_architecture_is_rejected():
    solver = build("fbcnn_color")
    place_weights(solver, dncnn3)
    with pytest.raises(WeightsError, match="holds a DnCNN network, expected FBCNN"):
        solver.setup("cpu")


def test_swinir_picks_weights_by_quality_and_is_non_blind():
    solver = build("swinir_car_gray")
    assert not solver.card.blind
    assert solver.weight_for(Context(quality=30.0)).filename.endswith("jpeg30.pth")
    assert solver.weight_for(Context(quality=35.0)).filename.endswith("jpeg40.pth") or \
        solver.weight_for(Context(quality=35.0)).filename.endswith("jpeg30.pth")
    place_weights(solver, CASES["swinir_car_gray"][0], which=0)
    solver.setup("cpu")
    with pytest.raises(WeightsError, match="jpeg40.pth"):
        solver.enhance(torch.rand(1, 1, 14, 14), Context(quality=40.0))


@pytest.mark.parametrize("problem", ["missing", "wrong"])
def test_missing_or_wrong_weights_fail_that_solver_only(image_folder, tmp_path, problem):
    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    import pandas as pd

    name, filename = ("fbcnn_color", "fbcnn_color.pth") if problem == "missing" else \
        ("realesr_general_x4v3", "realesr-general-x4v3.pth")
    if problem == "wrong":
        path = local_path(build(name).card.weights[0])
        path.parent.mkdir(parents=True)
        path.write_bytes(b"not a checkpoint")
    out = tmp_path / "out"
    res = Runner(parse_suite(basic_suite(image_folder, solvers=["identity", name])), out,
                 workers=0, progress=False).run()
    assert res.failures and all(filename in err for _, _, err in res.failures)
    if problem == "wrong":
        assert all("sha256" in err for _, _, err in res.failures)
    write_reports(out)
    summary = pd.read_csv(out / "summary.csv")
    measured = summary[summary["n_images"] > 0]
    assert set(measured["solver"]) == {"identity"}          # no value of the failed solver
    failed = summary[summary["solver"] == name]             # its rows say that every image failed
    assert len(failed) and (failed["n_images"] == 0).all() and (failed["n_failed"] > 0).all()
    assert filename in (out / "leaderboard.md").read_text()
