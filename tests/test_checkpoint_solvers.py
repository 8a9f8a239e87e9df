"""Checkpoint-only solvers: any spandrel architecture from a file, CompressAI networks from one's own
weights. The weights are made here: randomly initialised networks of the real architectures."""

import sqlite3

import numpy as np
import pytest

from qbench.errors import SolverError, WeightsError
from qbench.report import write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import basic_suite, save, smooth_image


def _save_net(net, path, wrap=None):
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    state = net.state_dict()
    torch.save({wrap: state} if wrap else state, path)
    return path


def _spandrel_nets(folder):
    """Five architectures spandrel detects, small configurations, seeded."""
    import torch
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.DnCNN import DnCNN
    from spandrel.architectures.DRUNet import DRUNet
    from spandrel.architectures.SCUNet import SCUNet
    from spandrel.architectures.SwinIR import SwinIR

    torch.manual_seed(0)
    return {
        "dncnn": _save_net(DnCNN(in_nc=1, out_nc=1, nc=8, nb=5), folder / "dncnn_gray.pth"),
        "swinir": _save_net(SwinIR(img_size=16, embed_dim=12, depths=[1], num_heads=[1], window_size=4,
                                   mlp_ratio=2.0, upscale=1, upsampler=""), folder / "swinir.pth", wrap="params"),
        "compact_x2": _save_net(Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2),
                                folder / "compact_x2.pth", wrap="params_ema"),
        "drunet": _save_net(DRUNet(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=2), folder / "drunet.pth"),
        "scunet": _save_net(SCUNet(in_nc=3, config=[1] * 7, dim=64), folder / "scunet.pth"),
    }


@pytest.fixture
def small_images(tmp_path):
    folder = tmp_path / "imgs"
    save(smooth_image(1, 40, 52), folder / "rgb.png")            # not a multiple of 8 (DRUNet pads)
    save(smooth_image(2, 32, 40, 1), folder / "gray.png")
    return folder


def test_spandrel_checkpoints_of_five_architectures_run_in_a_suite(small_images, tmp_path, one_torch_thread):
    import torch

    from qbench.images import read_image, to_tensor
    from qbench.solvers import Context, build
    from qbench_baselines.learned import load_spandrel

    nets = _spandrel_nets(tmp_path / "w")
    data = basic_suite(small_images, codecs=[{"name": "jpeg", "qualities": [30]}], metrics=["psnr_y"],
                       solvers=[{"name": "spandrel", "label": k, "params": {"checkpoint": str(p)}}
                                for k, p in nets.items()])
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False, device="cpu").run()
    assert not res.failures, res.failures
    assert res.samples == 10 and res.outputs_computed == 10
    write_reports(out)
    db = sqlite3.connect(out / "results.sqlite")
    rows = db.execute("SELECT p.solver, p.image, a.path, e.bytes_path FROM plan p JOIN artefacts a "
                      "ON a.key = p.out_key AND a.role = 'enhanced' JOIN encodings e ON e.enc_key = p.enc_key").fetchall()
    assert len(rows) == 10
    outputs = {(s, i): (read_image(a), read_image(b)) for s, i, a, b in rows}
    for (solver, image), (restored, decoded) in outputs.items():
        assert restored.shape == decoded.shape, (solver, image)
    # oracle: the gray DnCNN restores R, G and B of a colour image one at a time
    desc = load_spandrel(nets["dncnn"]).eval()
    restored, decoded = outputs[("dncnn", "rgb")]
    with torch.inference_mode():
        want = desc.model(to_tensor(decoded).permute(1, 0, 2, 3)).clamp(0, 1).permute(1, 0, 2, 3)
    want = np.round(want[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.abs(restored.astype(int) - want.astype(int)).max() <= 1      # float summation order
    # a colour model on a gray image returns gray; an SR model is brought back to the input size
    assert outputs[("swinir", "gray")][0].shape[2] == 1
    assert outputs[("compact_x2", "rgb")][0].shape == (40, 52, 3)
    # an image below the architecture's nominal minimum size (SwinIR here: 16 px)
    solver = build("spandrel", {"checkpoint": str(nets["swinir"])})
    solver.setup("cpu")
    with torch.inference_mode():
        small = solver.enhance(torch.rand(1, 3, 10, 13), Context())
    assert tuple(small.shape) == (1, 3, 10, 13)
    # a second run reuses everything (the spec, with the checkpoint's sha256, is stable)
    again = Runner(parse_suite(data), out, workers=0, progress=False, device="cpu").run()
    assert not again.computed_anything


def test_checkpoint_identity_is_its_content_not_its_path(tmp_path):
    import shutil

    import torch
    from spandrel.architectures.DnCNN import DnCNN

    from qbench.solvers import build

    torch.manual_seed(0)
    a = _save_net(DnCNN(in_nc=1, out_nc=1, nc=8, nb=5), tmp_path / "a.pth")
    moved = shutil.copy(a, tmp_path / "elsewhere.pth")
    torch.manual_seed(1)
    retrained = _save_net(DnCNN(in_nc=1, out_nc=1, nc=8, nb=5), tmp_path / "b.pth")
    h = build("spandrel", {"checkpoint": str(a)}).spec_hash()
    assert build("spandrel", {"checkpoint": str(moved)}).spec_hash() == h
    assert build("spandrel", {"checkpoint": str(retrained)}).spec_hash() != h
    from qbench.weights import sha256_file

    assert build("spandrel", {"checkpoint": str(a)}).spec()["weights"] == [sha256_file(a)]


def test_the_checkpoint_loaded_is_the_one_hashed_into_the_keys(tmp_path, monkeypatch):
    """The cache keys carry the checkpoint's sha256; a file replaced after that is refused even
    when it is put back before anything could hash it again (the loaded bytes are the hashed ones)."""
    import shutil

    import torch
    from spandrel.architectures.DnCNN import DnCNN

    from qbench.solvers import build

    torch.manual_seed(0)
    path = _save_net(DnCNN(in_nc=1, out_nc=1, nc=8, nb=5), tmp_path / "net.pth")
    original = shutil.copy(path, tmp_path / "original.pth")
    torch.manual_seed(1)
    other = _save_net(DnCNN(in_nc=1, out_nc=1, nc=8, nb=5), tmp_path / "other.pth")
    solver = build("spandrel", {"checkpoint": str(path)})
    solver.spec_hash()                                      # keys made from the original file
    shutil.copy(other, path)                                # replaced before the model is loaded ...
    real_load = torch.load

    def load_then_restore(*args, **kwargs):                 # ... and put back right after it is read
        out = real_load(*args, **kwargs)
        shutil.copy(original, path)
        return out

    monkeypatch.setattr(torch, "load", load_then_restore)
    with pytest.raises(WeightsError, match="changed since it was hashed"):
        solver.setup("cpu")


def test_checkpoint_errors_are_clear(tmp_path):
    import torch
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.DnCNN import DnCNN

    from qbench.errors import ConfigError
    from qbench.solvers import build

    with pytest.raises(WeightsError, match="checkpoint 'nope.pth' not found"):
        build("spandrel", {"checkpoint": "nope.pth"})
    with pytest.raises(ConfigError, match="give params"):
        build("spandrel", {})
    sr = _save_net(Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2), tmp_path / "sr.pth")
    with pytest.raises(SolverError, match="x2 super-resolution Compact network"):
        build("spandrel", {"checkpoint": str(sr), "sr": "refuse"}).setup("cpu")
    gray = _save_net(DnCNN(in_nc=1, out_nc=1, nc=8, nb=5), tmp_path / "g.pth")
    with pytest.raises(WeightsError, match="holds a DnCNN network, expected FBCNN"):
        build("spandrel", {"checkpoint": str(gray), "architecture": "FBCNN"}).setup("cpu")
    junk = tmp_path / "junk.pth"
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, junk)
    with pytest.raises(WeightsError, match="spandrel cannot load it"):
        build("spandrel", {"checkpoint": str(junk)}).setup("cpu")


def test_compressai_architecture_from_own_checkpoints(tmp_path, one_torch_thread):
    pytest.importorskip("compressai")
    import torch
    from compressai.models import FactorizedPrior, ScaleHyperprior

    from qbench.errors import ConfigError
    from qbench.solvers import build

    torch.manual_seed(0)
    ckpts = []
    for i, (n, m) in enumerate(((8, 12), (8, 16))):
        net = FactorizedPrior(n, m)
        for p in net.parameters():          # a crude "training": different weights per rate point
            p.data.add_(0.01 * (i + 1) * torch.randn_like(p))
        path = tmp_path / f"fp{i}.pth.tar"
        torch.save({"epoch": 3, "state_dict": net.state_dict()}, path)     # CompressAI's train.py layout
        ckpts.append(path)
    folder = tmp_path / "imgs"
    save(smooth_image(5, 48, 64), folder / "x.png")
    data = basic_suite(folder, codecs=[{"name": "bmshj2018_factorized", "label": "mine",
                                        "params": {"checkpoint": [str(p) for p in ckpts]}, "qualities": [1, 2]}],
                       metrics=["psnr_rgb"])
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False, device="cpu").run()
    assert not res.failures, res.failures
    assert res.encodings_computed == 2
    db = sqlite3.connect(out / "results.sqlite")
    bpp = [r[0] for r in db.execute("SELECT bpp FROM encodings ORDER BY quality")]
    assert len(bpp) == 2 and all(b > 0 for b in bpp)
    # the checkpoints' sha256 identify the codec; a quality past the list is a config error
    codec = build("bmshj2018_factorized", {"checkpoint": [str(p) for p in ckpts]})
    from qbench.weights import sha256_file

    assert codec.spec()["weights"] == [sha256_file(p) for p in ckpts] and "checkpoint" not in codec.spec()["params"]
    with pytest.raises(ConfigError, match=r"quality 3 not in \[1, 2\]"):
        from qbench.runner.resolve import build_codec
        from qbench.suite import CodecSpec

        build_codec(CodecSpec(name="bmshj2018_factorized", params={"checkpoint": [str(p) for p in ckpts]},
                              qualities=[3]))
    # strict loading: a hyperprior's weights are not a factorized-prior network
    hp = tmp_path / "hp.pth"
    torch.save(ScaleHyperprior(8, 12).state_dict(), hp)
    wrong = build("bmshj2018_factorized", {"checkpoint": str(hp)})
    with pytest.raises(WeightsError, match="not a bmshj2018-factorized network"):
        wrong.setup("cpu")
