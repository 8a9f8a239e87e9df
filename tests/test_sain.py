"""SAIN (Self-Asymmetric Invertible Network): official key names, the E-block low-res image, the
latent mixture, weight handling and an end-to-end rescale run.

No network: the tests save randomly initialised state dicts of the real architecture where
``qbench weights path sain_x2_jpeg`` points (in the per-test QBENCH_CACHE).
"""

import math
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch
from qbench_baselines.sain import CONFIGS, SAINx2JPEG, SAINx2WebP, SAINx4JPEG, build_sain

from qbench.errors import WeightsError
from qbench.images import read_image
from qbench.runner import Runner
from qbench.solvers import Context
from qbench.suite import parse_suite
from qbench.weights import local_path

from .conftest import REPO, basic_suite, save, smooth_image
from .test_irn import place

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: the user's weights cache, read before the per-test QBENCH_CACHE isolation
USER_WEIGHTS = Path(os.environ.get("QBENCH_CACHE", Path.home() / ".cache" / "qbench")).expanduser() / "weights"
DATA_ENV = os.environ.get("QBENCH_DATA")
KODIM = REPO.parent / "shared" / "datasets" / "kodak" / "kodim01.png"


def perturbed(filename: str, seed: int = 0):
    """A random-init net whose zero-initialised last convs are non-zero too (else every coupling
    is the identity and the checks below are trivial) and whose mixture is not ~N(0, 1)."""
    torch.manual_seed(seed)
    net = build_sain(filename)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("conv5.weight", "conv5.bias")):
                p.normal_(0, 0.02)
        net.gmm.gmm_para.normal_(0, 0.5)
    return net.eval()


@pytest.fixture(autouse=True)
def unpinned_for_test_made_weights(monkeypatch):
    """Test-made checkpoints are not the published files: drop the git blob pin here (the pin
    itself is checked by the two tests that restore it)."""
    from dataclasses import replace

    for cls in (SAINx2JPEG, SAINx2WebP, SAINx4JPEG):
        monkeypatch.setattr(cls, "card", replace(cls.card, weights=(replace(cls.card.weights[0], git_blob=None),)))


def test_the_published_files_are_pinned_by_git_blob_id(monkeypatch):
    """A file whose git blob id is not the repository's is refused; one whose id matches loads."""
    from dataclasses import replace

    from qbench_baselines.sain import GIT_BLOB_IDS

    from qbench.weights import git_blob_id

    path = place(SAINx2JPEG, perturbed("SAINx2_JPEG.pth").state_dict())
    wf = SAINx2JPEG.card.weights[0]
    monkeypatch.setattr(SAINx2JPEG, "card", replace(SAINx2JPEG.card, weights=(
        replace(wf, git_blob=GIT_BLOB_IDS["SAINx2_JPEG.pth"]),)))
    with pytest.raises(WeightsError, match="not the published file"):
        SAINx2JPEG().setup("cpu")
    monkeypatch.setattr(SAINx2JPEG, "card", replace(SAINx2JPEG.card, weights=(replace(wf, git_blob=git_blob_id(path)),)))
    SAINx2JPEG().setup("cpu")


def test_git_blob_id_is_what_git_hash_object_prints(tmp_path):
    import subprocess

    from qbench.weights import git_blob_id

    f = tmp_path / "w.bin"
    f.write_bytes(bytes(range(256)) * 50)
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    out = subprocess.run(["git", "hash-object", str(f)], capture_output=True, text=True, check=True).stdout.strip()
    assert git_blob_id(f) == out


# -- 1. the architecture -------------------------------------------------------------------------
def official_names(filename: str) -> dict[str, tuple[int, ...]]:
    """Key names and shapes of the official SAINet (inv_arch.py, subnet_constructor.py,
    guassian_mixture.py): haar_operations, down_operations (E, F, G, H), comp_operations (F, G, H),
    gmm.gmm_para."""
    scale, e_blocks, v_blocks, k = CONFIGS[filename]
    out: dict[str, tuple[int, ...]] = {}
    channels, gc = 3, 32
    for i in range(int(math.log2(scale))):
        out[f"haar_operations.{i}.haar_weights"] = (4 * channels, 1, 2, 2)
        channels *= 4
    subnets = {"E": (channels - 3, 3), "F": (channels - 3, 3), "G": (3, channels - 3), "H": (3, channels - 3)}
    for group, n, subs in (("down_operations", e_blocks, "EFGH"), ("comp_operations", v_blocks, "FGH")):
        for i in range(n):
            for sub in subs:
                cin, cout = subnets[sub]
                for c in range(1, 5):
                    out[f"{group}.{i}.{sub}.conv{c}.weight"] = (gc, cin + (c - 1) * gc, 3, 3)
                    out[f"{group}.{i}.{sub}.conv{c}.bias"] = (gc,)
                out[f"{group}.{i}.{sub}.conv5.weight"] = (cout, cin + 4 * gc, 3, 3)
                out[f"{group}.{i}.{sub}.conv5.bias"] = (cout,)
    out["gmm.gmm_para"] = (3, k)
    return out


@pytest.mark.parametrize("filename", sorted(CONFIGS))
def test_state_dict_matches_the_official_names_and_shapes(filename):
    state = build_sain(filename).state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == official_names(filename)


def test_configurations_follow_the_official_test_options():
    assert CONFIGS == {"SAINx2_JPEG.pth": (2, 5, 3, 5), "SAINx2_WebP.pth": (2, 5, 3, 5),
                       "SAINx4_JPEG.pth": (4, 10, 6, 5)}
    x4 = build_sain("SAINx4_JPEG.pth")
    assert len(x4.down_operations) == 10 and len(x4.comp_operations) == 6
    block = x4.down_operations[0].E
    assert torch.count_nonzero(block.conv5.weight) == 0 and 0 < block.conv1.weight.std() < 0.1
    assert not any(h.haar_weights.requires_grad for h in x4.haar_operations)


@pytest.mark.parametrize("filename", ["SAINx2_JPEG.pth", "SAINx4_JPEG.pth"])
def test_forward_then_inverse_reconstructs_the_input(filename):
    net, s = perturbed(filename), CONFIGS[filename][0]
    torch.manual_seed(1)
    x = torch.rand(2, 3, 8 * s, 12 * s)
    with torch.no_grad():
        y = net(x)
        back = net(y, rev=True)
    assert y.shape == (2, 3 * s * s, 8, 12)
    assert (back - x).abs().max() < 1e-4
    assert (y[:, :3] - torch.nn.functional.avg_pool2d(x, s)).abs().max() > 1e-3   # not a plain Haar


def test_lowres_is_the_last_e_blocks_x1_plus_e_of_x2():
    """SAIN transmits the last E-InvBlock's ``LR = x1 + E(x2)``, not the network output (which
    passes the V-blocks and models the compressed image)."""
    net = perturbed("SAINx2_JPEG.pth", seed=2)
    x = torch.rand(1, 3, 16, 20)
    with torch.no_grad():
        h = net.haar_operations[0](x)
        for block in net.down_operations[:-1]:
            h = block(h)
        last = net.down_operations[-1]
        expected = h[:, :3] + last.E(h[:, 3:])
        got = net.lowres(x)
        assert torch.allclose(got, expected, atol=1e-6)
        assert (got - net(x)[:, :3]).abs().max() > 1e-3
        # the E-block's coupling: y1 = LR - F(x2), y2 = x2 * exp(s(y1)) + G(y1)
        y = last(h)
        y1 = expected - last.F(h[:, 3:])
        s = torch.sigmoid(last.H(y1)) * 2 - 1
        assert torch.allclose(y[:, :3], y1, atol=1e-6)
        assert torch.allclose(y[:, 3:], h[:, 3:] * torch.exp(s) + last.G(y1), atol=1e-5)
        assert torch.allclose(last(y, rev=True), h, atol=1e-5)


def test_mixture_samples_have_the_mixture_moments():
    gmm = build_sain("SAINx2_JPEG.pth").gmm
    para = torch.tensor([[0.5, -1.0, 2.0, 0.0, 0.3], [-2.0, -0.5, 0.0, 1.0, 3.0], [-1.0, 0.0, -2.0, 0.5, -3.0]])
    with torch.no_grad():
        gmm.gmm_para.copy_(para)
    w, mu, var = torch.softmax(para[0], 0), para[1], para[2].exp()
    mean = float((w * mu).sum())
    std = math.sqrt(float((w * (var + mu ** 2)).sum()) - mean ** 2)
    torch.manual_seed(0)
    z = gmm.sample((400_000,)).double()
    assert z.mean().item() == pytest.approx(mean, abs=4 * std / math.sqrt(z.numel()))
    assert z.std().item() == pytest.approx(std, rel=0.01)
    # the empirical CDF matches the mixture's CDF (sum of weighted normal CDFs) within 1e-2
    for t in (-2.0, -0.5, 0.0, 0.1, 1.0, 3.0):
        cdf = float(sum(wk * 0.5 * (1 + math.erf((t - mk) / math.sqrt(2 * vk)))
                        for wk, mk, vk in zip(w.tolist(), mu.tolist(), var.tolist())))
        assert (z <= t).double().mean().item() == pytest.approx(cdf, abs=1e-2)
    torch.manual_seed(0)
    assert torch.equal(gmm.sample((400_000,)).double(), z)          # seeded: reproducible


# -- 2. weights ----------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["", "module."])
def test_setup_loads_a_state_dict_strictly(prefix):
    net = perturbed("SAINx2_WebP.pth", seed=3)
    place(SAINx2WebP, {prefix + k: v for k, v in net.state_dict().items()})
    solver = SAINx2WebP()
    solver.setup("cpu")
    mine = solver.net.state_dict()
    assert list(mine) == list(net.state_dict())
    assert all(torch.equal(v, mine[k]) for k, v in net.state_dict().items())
    assert solver.modules() == [solver.net]


@pytest.mark.parametrize("bad,match", [
    ("other_scale", "not a SAIN SAINx2_JPEG checkpoint"),
    ("missing_gmm", "(?s)not a SAIN SAINx2_JPEG checkpoint.*gmm.gmm_para"),
    ("irn_layout", "not a SAIN SAINx2_JPEG checkpoint"),
    ("not_a_dict", "expected a state dict"),
])
def test_setup_rejects_mismatched_checkpoints(bad, match):
    from qbench_baselines.irn import build_irn

    state = {"other_scale": lambda: build_sain("SAINx4_JPEG.pth").state_dict(),
             "missing_gmm": lambda: {k: v for k, v in build_sain("SAINx2_JPEG.pth").state_dict().items()
                                     if not k.startswith("gmm.")},
             "irn_layout": lambda: build_irn(2).state_dict(),
             "not_a_dict": lambda: [torch.zeros(3)]}[bad]()
    place(SAINx2JPEG, state)
    with pytest.raises(WeightsError, match=match):
        SAINx2JPEG().setup("cpu")


def test_registered_under_entry_points_with_cards():
    from qbench import solvers

    for cls in (SAINx2JPEG, SAINx2WebP, SAINx4JPEG):
        assert solvers.resolve(cls.card.name) is cls
        assert cls.card.task == "rescale" and cls.card.scale == cls.scale and cls.card.license == "Apache-2.0"
    assert [c.card.weights[0].filename for c in (SAINx2JPEG, SAINx2WebP, SAINx4JPEG)] == \
        ["SAINx2_JPEG.pth", "SAINx2_WebP.pth", "SAINx4_JPEG.pth"]


# -- 3. the rescaler -----------------------------------------------------------------------------
def test_gaussian_scale_zero_gives_the_inverse_with_a_zero_latent():
    net = perturbed("SAINx2_JPEG.pth", seed=4)
    place(SAINx2JPEG, net.state_dict())
    solver = SAINx2JPEG(gaussian_scale=0)
    solver.setup("cpu")
    low = solver.downscale(torch.rand(1, 3, 16, 16), Context())
    with torch.no_grad():
        expected = net(torch.cat((low, torch.zeros(1, 9, 8, 8)), 1), rev=True)[:, :3]
    assert torch.allclose(solver.upscale(low, Context()), expected, atol=1e-6)
    assert solver.spec_hash() != SAINx2JPEG().spec_hash()


# -- 4. end to end -------------------------------------------------------------------------------
def test_runs_end_to_end_through_jpeg(tmp_path):
    net = perturbed("SAINx2_JPEG.pth", seed=7)
    place(SAINx2JPEG, net.state_dict())
    folder = tmp_path / "imgs"
    sizes = {"a.png": (32, 48), "b.png": (29, 45)}
    for i, (name, hw) in enumerate(sizes.items()):
        save(smooth_image(30 + i, *hw), folder / name)
    data = basic_suite(folder, codecs=[{"name": "jpeg", "qualities": [50, 90]}],
                       metrics=["psnr_y", {"name": "ssim_y", "crop_border": 2}],
                       solvers=[{"name": "qbench_baselines.sain:SAINx2JPEG", "label": "sain"}])
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    with sqlite3.connect(out / "results.sqlite") as db:
        lowres = [read_image(p) for (p,) in db.execute("SELECT path FROM artefacts WHERE role='lowres'")]
        values = [v for (v,) in db.execute('SELECT value FROM "values" WHERE metric = ?', ("psnr_y",))]
    assert sorted(img.shape[:2] for img in lowres) == [(15, 23), (16, 24)]
    # the stored low-res image is the last E-block's LR, quantised to uint8
    x = torch.from_numpy(read_image(folder / "a.png").copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        expected = (net.lowres(x).clamp(0, 1) * 255).round().squeeze(0).permute(1, 2, 0).byte().numpy()
    stored = next(img for img in lowres if img.shape[:2] == (16, 24))
    assert np.abs(stored.astype(int) - expected.astype(int)).max() <= 1
    assert len(values) == 4 and all(math.isfinite(v) and v > 10 for v in values)


# -- 5. the released weights (only where the user's cache holds them) ---------------------------
REAL = USER_WEIGHTS / "solvers" / "sain" / "SAINx2_JPEG.pth"


@pytest.mark.skipif(not (REAL.is_file() and KODIM.is_file()), reason="official SAINx2_JPEG.pth or Kodak absent")
def test_official_x2_jpeg_weights_beat_bicubic_on_a_kodak_crop():
    """With the released weights, x2 through JPEG QF 90 beats MATLAB bicubic down/up by > 1 dB Y-PSNR
    (the paper reports +4.0 dB on DIV2K)."""
    from PIL import Image
    from qbench_baselines.matlab_bicubic import MatlabBicubic

    from qbench.codecs import build as build_codec
    from qbench.metrics import build

    target = local_path(SAINx2JPEG.card.weights[0])
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REAL, target)
    img = np.array(Image.open(KODIM).convert("RGB"))[:192, :256]
    jpeg, psnr_y = build_codec("jpeg"), build("psnr_y", crop_border=2)
    to_t = lambda a: torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].float() / 255   # noqa: E731
    to_u8 = lambda t: (t.clamp(0, 1) * 255).round().squeeze(0).permute(1, 2, 0).byte().numpy()  # noqa: E731
    ctx = Context(original_size=img.shape[:2])
    scores = []
    for solver in (SAINx2JPEG(), MatlabBicubic(scale=2)):
        solver.setup("cpu")
        low = to_u8(solver.downscale(to_t(img), ctx))
        torch.manual_seed(0)
        up = solver.upscale(to_t(jpeg.decode(jpeg.encode(low, 90).data)), ctx)
        scores.append(psnr_y.compute(img, to_u8(up)))
    assert scores[0] > scores[1] + 1.0, scores


#: SAIN x2 (JPEG) on Set5 / Set14 at JPEG QF 30/50/70/80/90, read off the cross-dataset figure of
#: the paper (AAAI 2023; figures/benchmark.png of its repository), about +-0.02 dB
SAIN_X2_FIGURE = {"set5": (32.17, 34.02, 35.65, 36.45, 37.05), "set14": (29.58, 31.16, 32.46, 33.07, 33.43)}
#: figure reading (+-0.02 dB) and the latent: SAIN draws z from its Gaussian mixture, qbench seeds the
#: draw per sample, so the means of one draw move by a few hundredths of a dB (IRN reports < 0.02 dB
#: between draws for its N(0, 1) latent)
SAIN_X2_TOLERANCE_DB = 0.1


def _sr_data_root() -> Path | None:
    from qbench.datasets.builtin import PinnedDataset

    for root in ([Path(DATA_ENV)] if DATA_ENV else []) + [REPO.parent / "shared" / "datasets"]:
        if all(not PinnedDataset(d, data_root_override=str(root)).missing() for d in ("set5", "set14")):
            return root
    return None


@pytest.mark.skipif(not REAL.is_file(), reason=f"official SAINx2_JPEG.pth not in {REAL.parent} "
                                               "('qbench weights fetch sain_x2_jpeg' downloads it)")
def test_official_x2_jpeg_weights_reproduce_the_cross_dataset_figure(tmp_path):
    """SAIN x2 through `qbench run` with SAIN's own protocol (suites/sain_bicubic_set5_set14.yaml, the
    solver swapped for sain_x2_jpeg) gives the paper's Set5 / Set14 curves."""
    import yaml

    from qbench.report import load_report_data, summarize

    root = _sr_data_root()
    if root is None:
        pytest.skip("set5 / set14 not found under $QBENCH_DATA or the shared datasets folder")
    target = local_path(SAINx2JPEG.card.weights[0])
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REAL, target)
    data = yaml.safe_load((REPO / "suites" / "sain_bicubic_set5_set14.yaml").read_text())
    data["solvers"] = ["sain_x2_jpeg"]
    res = Runner(parse_suite(data), tmp_path / "o", workers=0, progress=False, data_root=str(root)).run()
    assert not res.failures
    summary, _ = summarize(load_report_data(tmp_path / "o"), n_boot=0)
    for dataset, values in SAIN_X2_FIGURE.items():
        for q, want in zip((30, 50, 70, 80, 90), values):
            row = summary[(summary.dataset == dataset) & (summary.quality == q)].iloc[0]
            assert row["n_failed"] == 0
            assert row["psnr_y_crop2"] == pytest.approx(want, abs=SAIN_X2_TOLERANCE_DB), (dataset, q)
