"""The discriminator probe (Real-ESRGAN's UNetDiscriminatorSN) and the report's by-role section."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import torch

from qbench import metrics
from qbench.errors import WeightsError
from qbench.metrics import discriminator as D
from qbench.report import load_report_data, write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite
from qbench.weights import local_path

from .conftest import save, smooth_image

NAME = "disc_realesrgan"


def random_netd(seed: int = 0, path=None, drop: str | None = None):
    """A seeded random UNetDiscriminatorSN saved as {'params': state_dict} where the metric looks."""
    torch.manual_seed(seed)
    model = D.unet_sn(3, 64, True)
    model.train()
    with torch.no_grad():            # a few power iterations so u / v are not the fresh random ones
        for _ in range(2):
            model(torch.rand(1, 3, 16, 16))
    state = model.state_dict()
    if drop:
        state.pop(drop)
    path = path or local_path(D.REALESRGAN_NETD)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params": state}, path)
    return model.eval(), path


def test_state_dict_names_are_realesrgans():
    keys = set(D.unet_sn().state_dict())
    assert {"conv0.weight", "conv0.bias", "conv9.weight", "conv9.bias"} <= keys
    for i in range(1, 9):
        assert {f"conv{i}.weight_orig", f"conv{i}.weight_u", f"conv{i}.weight_v"} <= keys
        assert f"conv{i}.bias" not in keys
    assert len(keys) == 4 + 8 * 3
    shapes = {k: tuple(v.shape) for k, v in D.unet_sn().state_dict().items()}
    assert shapes["conv1.weight_orig"] == (128, 64, 4, 4) and shapes["conv3.weight_orig"] == (512, 256, 4, 4)
    assert shapes["conv4.weight_orig"] == (256, 512, 3, 3) and shapes["conv9.weight"] == (1, 64, 3, 3)
    assert D.UNetDiscriminatorSN is type(D.unet_sn())


def test_value_is_the_mean_sigmoid_of_the_loaded_model():
    model, _ = random_netd(1)
    m = D.make(NAME)()
    assert m.kind == "no_reference" and m.info.higher_is_better
    img = smooth_image(5, 64, 48)
    x = torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        want = float(torch.sigmoid(model(x)).mean())
    assert m.compute_image(img) == pytest.approx(want, rel=1e-5)
    assert m.compute_image(img.astype(np.float64)) == pytest.approx(want, rel=1e-5)
    # gray is replicated to RGB
    gray = smooth_image(6, 40, 32, 1)
    assert m.compute_image(gray) == pytest.approx(m.compute_image(np.repeat(gray, 3, axis=2)), rel=1e-6)
    # a size that is not a multiple of 8 is padded and the score averaged over the image only
    odd = smooth_image(7, 37, 29)
    v = m.compute_image(odd)
    assert 0 < v < 1
    xp = torch.nn.functional.pad(torch.from_numpy(odd.astype(np.float32) / 255).permute(2, 0, 1)[None],
                                 (0, 3, 0, 3), mode="replicate")
    with torch.no_grad():
        assert v == pytest.approx(float(torch.sigmoid(model(xp))[..., :37, :29].mean()), rel=1e-5)


def test_missing_or_mismatched_weights_raise_weights_error(tmp_path):
    with pytest.raises(WeightsError, match="RealESRGAN_x4plus_netD.pth"):
        D.make(NAME)()
    random_netd(2, drop="conv5.weight_u")
    with pytest.raises(WeightsError, match="conv5.weight_u"):
        D.make(NAME)()
    path = local_path(D.REALESRGAN_NETD)
    torch.save({"params": D.unet_sn(3, 32).state_dict()}, path)          # another width
    with pytest.raises(WeightsError, match="do not fit"):
        D.make(NAME)()
    from qbench.errors import ConfigError

    with pytest.raises(ConfigError, match="conditional"):
        D.DiscriminatorMetric("d", {**D.DEFAULT_PRESET, "conditional": True})
    with pytest.raises(ConfigError, match="unknown discriminator arch"):
        D.DiscriminatorMetric("d", {**D.DEFAULT_PRESET, "arch": "nope"})


def test_params_ema_is_accepted_and_the_file_hash_enters_the_version():
    model, path = random_netd(3)
    v1 = D.make(NAME)().version
    assert D.make(NAME)().version == v1
    torch.save({"params_ema": model.state_dict()}, path)   # same tensors, another file
    v2 = D.make(NAME)().version
    random_netd(4)
    v3 = D.make(NAME)().version
    assert len({v1, v2, v3}) == 3


def test_arch_is_pluggable():
    class Tiny(torch.nn.Module):
        def __init__(self, num_in_ch=3):
            super().__init__()
            self.conv = torch.nn.Conv2d(num_in_ch, 1, 1)

        def forward(self, x):
            return self.conv(x)

    D.ARCHS.register("tiny_test", Tiny, replace=True)
    try:
        torch.manual_seed(0)
        tiny = Tiny()
        torch.save({"params": tiny.state_dict()}, _mkparent(local_path(D.REALESRGAN_NETD)))
        m = D.DiscriminatorMetric("tiny", {**D.DEFAULT_PRESET, "arch": "tiny_test"})
        img = smooth_image(9, 16, 16)
        x = torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]
        with torch.no_grad():
            assert m.compute_image(img) == pytest.approx(float(torch.sigmoid(tiny(x)).mean()), rel=1e-6)
        assert m.version != D.DiscriminatorMetric("d", {**D.DEFAULT_PRESET, "arch": "tiny_test",
                                                       "crop_border": 2}).version
    finally:
        D.ARCHS._entries.pop("tiny_test", None)
        D.ARCHS._origin.pop("tiny_test", None)


def _mkparent(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _suite(folder, metric_names):
    return {"name": "disc", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [10]}], "anchor": None, "metrics": metric_names,
            "solvers": ["identity", {"name": "tests.solvers_for_tests:Brighten", "label": "br"}],
            "output": {"bootstrap": 50}}


def _means(db, metric):
    """Per (solver, role): mean over images of ``metric`` read back through the plan."""
    q = {"original": "p.image_hash AND v.role = 'original'", "compressed": "p.enc_key AND v.role = 'compressed'",
         "enhanced": "p.out_key AND v.role = p.out_role"}
    out = {}
    for role, on in q.items():
        for solver, mean, n in db.execute(f'SELECT p.solver, AVG(v.value), COUNT(*) FROM plan p JOIN "values" v '
                                          f"ON v.key = {on} WHERE v.metric = ? GROUP BY p.solver", (metric,)):
            out[(solver, role)] = (mean, n)
    return out


def test_end_to_end_on_every_role_and_the_report_section(tmp_path):
    random_netd(5)
    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(80 + i, 64, 64), folder / f"{i}.png")
    out = tmp_path / "out"
    res = Runner(parse_suite(_suite(folder, ["psnr_rgb", NAME, "bef_y"])), out, workers=0, progress=False).run()
    assert not res.failures and not res.skipped_metrics
    db = sqlite3.connect(out / "results.sqlite")
    roles = dict(db.execute('SELECT role, COUNT(*) FROM "values" WHERE metric = ? GROUP BY role', (NAME,)))
    assert roles == {"original": 2, "compressed": 2, "enhanced": 2}
    m = metrics.build(NAME)
    for image, h in db.execute("SELECT DISTINCT image, image_hash FROM plan"):
        from qbench.images import read_image

        got = db.execute('SELECT value FROM "values" WHERE key = ? AND role = \'original\' AND metric = ?',
                         (h, NAME)).fetchone()[0]
        assert got == pytest.approx(m.compute_image(read_image(folder / f"{image}.png")), rel=1e-6)
    means = _means(db, NAME)
    # identity's enhanced image is its compressed one: the same stored value
    assert means[("identity", "enhanced")] == means[("identity", "compressed")]
    assert means[("br", "enhanced")] != means[("br", "compressed")]

    data = load_report_data(out)
    assert set(data.role_values["role"]) == {"original", "compressed", "enhanced"}
    assert set(data.role_values["metric"]) == {NAME, "bef_y"}          # no-reference metrics only
    write_reports(out, formats=("md", "html"))
    md = (out / "leaderboard.md").read_text()
    assert "## No-reference values by role" in md
    assert md.index("## Gain over the compressed input") < md.index("## No-reference values by role")
    page = (out / "leaderboard.html").read_text()
    assert ">No-reference values by role</h2>" in page and "enhanced − original" in page
    from qbench.report.roles import role_means

    table = role_means(data)
    for metric in (NAME, "bef_y"):
        ms = _means(db, metric)
        for solver in ("identity", "br"):
            row = table[(table["metric"] == metric) & (table["solver"] == solver)].iloc[0]
            assert row["images"] == 2
            for role in ("original", "compressed", "enhanced"):
                assert row[role] == pytest.approx(ms[(solver, role)][0], rel=1e-12)
            assert row["enhanced_minus_original"] == pytest.approx(ms[(solver, "enhanced")][0]
                                                                   - ms[(solver, "original")][0], abs=1e-12)
            assert row["compressed_minus_original"] == pytest.approx(ms[(solver, "compressed")][0]
                                                                     - ms[(solver, "original")][0], abs=1e-12)
            assert f"{row['original']:.4f}" in md and f"{row['compressed_minus_original']:+.4f}" in md
    bef = table[(table["metric"] == "bef_y") & (table["solver"] == "identity")].iloc[0]
    assert bef["compressed_minus_original"] > 0                   # JPEG adds blocking


def test_missing_weights_skip_the_metric_with_the_reason(tmp_path):
    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(90 + i, 32, 32), folder / f"{i}.png")
    out = tmp_path / "out"
    res = Runner(parse_suite(_suite(folder, ["psnr_rgb", "bef_y", NAME])), out, workers=0, progress=False).run()
    assert not res.failures and "not found" in res.skipped_metrics[NAME]
    write_reports(out, formats=("md",))
    md = (out / "leaderboard.md").read_text()
    assert "## No-reference values by role" in md and "bef_y" in md.split("## No-reference values by role")[1]
