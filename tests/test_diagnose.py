"""``qbench diagnose``: the FID triangle geometry, the conditional discriminator, the document."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

from qbench.errors import ConfigError, WeightsError
from qbench.images import read_image
from qbench.metrics import discriminator as D
from qbench.report.triangle import side, triangle
from qbench.weights import local_path

from .conftest import save, smooth_image


@pytest.fixture(autouse=True)
def fresh_stage_caches():
    """In-process runs keep built metrics in the stage cache keyed by name; these tests write new
    random weights under the same names, so the cache is emptied around each test."""
    from qbench.runner import stages

    stages._METRICS.clear()
    yield
    stages._METRICS.clear()


# -- geometry ----------------------------------------------------------------------------------
def test_triangle_reference_shapes():
    at_c = triangle(3.0, 3.0, 0.0)                       # E = C: the solver returned its input
    assert (at_c.offset, at_c.height, at_c.flag) == (0.5, 0.0, "")
    at_o = triangle(3.0, 0.0, 3.0)                       # E = O: a perfect restoration
    assert (at_o.offset, at_o.height, at_o.flag) == (-0.5, 0.0, "")
    eq = triangle(2.0, 2.0, 2.0)
    assert eq.offset == pytest.approx(0.0, abs=1e-15) and eq.height == pytest.approx(math.sqrt(3) / 2)
    right = triangle(4.0, 3.0, 5.0)                      # E straight above O
    assert (right.x, right.y, right.offset, right.height) == pytest.approx((0.0, 3.0, -0.5, 0.75))
    beyond = triangle(1.0, 2.0, 1.0)                     # collinear, E past C: a proper (flat) triangle
    assert beyond.offset == pytest.approx(1.5) and beyond.height == 0 and beyond.flag == ""


def test_triangle_recovers_random_points():
    """Oracle: distances of random planar points, embedded back, give the points (up to a reflection)."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        o, c, e = rng.normal(size=(3, 2)) * rng.uniform(0.1, 10)
        t = triangle(float(np.linalg.norm(c - o)), float(np.linalg.norm(e - o)), float(np.linalg.norm(e - c)))
        base = (c - o) / np.linalg.norm(c - o)
        rel = e - o
        along, across = float(rel @ base), abs(float(rel[0] * base[1] - rel[1] * base[0]))
        assert t.flag == ""
        assert t.x == pytest.approx(along, abs=1e-9 * t.oc + 1e-12)
        assert t.y == pytest.approx(across, abs=1e-6 * t.oc + 1e-12)
        assert t.offset == pytest.approx(along / t.oc - 0.5, abs=1e-9)


def test_triangle_degenerate_cases():
    none = triangle(0.0, 1.0, 1.0)
    assert none.flag == "no base" and math.isnan(none.offset) and math.isnan(none.height)
    bad = triangle(2.0, 5.0, 1.0)                        # 5 > 2 + 1: no triangle has these sides
    assert bad.flag == "inequality" and bad.height == 0.0
    assert bad.x == pytest.approx(4.0) and bad.offset == pytest.approx(1.5)   # least-squares point on the line
    short = triangle(10.0, 2.0, 3.0)                     # 2 + 3 < 10: E between O and C, fitting both
    assert short.flag == "inequality" and short.x == pytest.approx(4.5)
    assert triangle(2.0, 1.0, 1.0 + 1e-13).flag == ""    # rounding is not a violation
    with pytest.raises(ValueError):
        triangle(1.0, -1.0, 1.0)
    with pytest.raises(ValueError):
        triangle(1.0, float("nan"), 1.0)
    assert side("fid", 16.0) == (4.0, "") and side("fid", -1e-12) == (0.0, "")
    assert side("kid", 0.09) == pytest.approx((0.3, "")) and side("kid", -0.01) == (0.0, "KID < 0")


def _report_data(rows, metrics=("fid",)):
    import pandas as pd

    from qbench.report.data import MetricInfo, ReportData

    cols = ["dataset", "solver", "codec", "quality", "ref_role", "test_role", "metric", "value", "n_images",
            "n_features"]
    infos = {m: MetricInfo(m, m.split("@")[0], False, "distribution", "v1") for m in metrics}
    empty = pd.DataFrame()
    return ReportData({"name": "t", "codecs": []}, "h", {"run_id": 1}, {}, infos, {}, {}, empty,
                      pd.DataFrame(rows, columns=cols), empty, empty)


def test_triangle_table_pairs_in_either_order_and_incomplete_rows():
    from qbench.report.triangle import triangle_sections, triangle_table

    rows = [["d", "s", "jpeg", 10.0, "original", "enhanced", "fid", 4.0, 5, 5],
            ["d", "s", "jpeg", 10.0, "compressed", "original", "fid", 4.0, 5, 5],     # reversed order
            ["d", "s", "jpeg", 10.0, "enhanced", "compressed", "fid", 4.0, 5, 5],
            ["d", "t", "jpeg", 10.0, "original", "enhanced", "fid", 1.0, 5, 5],       # no C pairs
            ["d", "s", "jpeg", 10.0, "original", "enhanced", "kid", -0.5, 5, 5],
            ["d", "s", "jpeg", 10.0, "original", "compressed", "kid", 0.25, 5, 5],
            ["d", "s", "jpeg", 10.0, "compressed", "enhanced", "kid", 0.25, 5, 5]]
    data = _report_data(rows, ("fid", "kid"))
    table = triangle_table(data)
    assert list(table["metric"]) == ["fid", "kid"] and set(table["solver"]) == {"s"}
    fid = table.iloc[0]
    assert (fid["oc"], fid["oe"], fid["ce"]) == (2.0, 2.0, 2.0)      # sqrt(FID): an equilateral triangle
    assert fid["offset"] == pytest.approx(0.0, abs=1e-12) and fid["height"] == pytest.approx(math.sqrt(3) / 2)
    kid = table.iloc[1]                                              # KID < 0 on O-E: E = O
    assert kid["offset"] == pytest.approx(-0.5) and kid["flag"] == "KID < 0"
    (section,) = triangle_sections(data)
    assert section.anchor == "fid-triangle" and len(section.blocks) == 2       # no out_dir: no figure


# -- conditional discriminator -------------------------------------------------------------------
def random_conditional(seed: int = 0, channels: int = 6, num_feat: int = 16):
    """A seeded random 6-channel UNetDiscriminatorSN saved where ``disc_conditional`` looks."""
    torch.manual_seed(seed)
    model = D.unet_sn(channels, num_feat, True)
    model.train()
    with torch.no_grad():
        model(torch.rand(1, channels, 16, 16))           # a power iteration: u / v are not the initial ones
    path = local_path(D.CONDITIONAL_NETD)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params": model.state_dict()}, path)
    return model.eval(), path


PRESET16 = {**D.CONDITIONAL_PRESET, "arch_params": {"num_feat": 16}}


def test_conditional_discriminator_loads_strictly_and_is_deterministic(one_torch_thread):
    with pytest.raises(WeightsError, match="no public release"):
        D.ConditionalDiscriminatorMetric("c", PRESET16)
    model, path = random_conditional(1)
    m = D.ConditionalDiscriminatorMetric("c", PRESET16)
    img, cond = smooth_image(1, 40, 36), smooth_image(2, 40, 36)
    x = torch.from_numpy(np.concatenate([img, cond], axis=2).astype(np.float32) / 255).permute(2, 0, 1)[None]
    xp = torch.nn.functional.pad(x, (0, 4, 0, 0), mode="replicate")       # 36 -> 40 columns (a multiple of 8)
    with torch.no_grad():
        want = float(torch.sigmoid(model(xp))[..., :40, :36].mean())
    got = m.compute_conditional(img, cond)
    assert got == pytest.approx(want, rel=1e-5) and 0 < got < 1
    assert m.compute_conditional(img, cond) == got
    assert D.ConditionalDiscriminatorMetric("c", PRESET16).compute_conditional(img, cond) == got
    assert m.compute_conditional(cond, img) != got                       # the order [image, condition] matters
    with pytest.raises(ValueError, match="differ in size"):
        m.compute_conditional(img, smooth_image(3, 32, 32))
    v1 = m.version
    random_conditional(2)
    assert D.ConditionalDiscriminatorMetric("c", PRESET16).version != v1      # the file's sha256 is in it
    torch.save({"params": D.unet_sn(3, 16).state_dict()}, path)             # a 3-channel discriminator
    with pytest.raises(WeightsError, match="do not fit"):
        D.ConditionalDiscriminatorMetric("c", PRESET16)
    with pytest.raises(ConfigError, match="conditional"):
        D.DiscriminatorMetric("d", PRESET16)
    with pytest.raises(ConfigError, match="conditional: true"):
        D.ConditionalDiscriminatorMetric("d", D.DEFAULT_PRESET)


def test_conditional_triplet_diagnostic(one_torch_thread):
    from qbench import diagnostics

    random_conditional(3)
    d = diagnostics.build("disc_conditional", {"arch_params": {"num_feat": 16}})
    assert d.keys() == [f"disc_conditional/{n}" for n in D.ConditionalDiscriminatorDiagnostic.NAMES]
    o, c, e = smooth_image(4, 32, 40), smooth_image(5, 32, 40), smooth_image(6, 32, 40)
    got = d.compute(o, c, e)
    m = d.metric
    assert got["original"] == pytest.approx(m.compute_conditional(o, c))
    assert got["compressed"] == pytest.approx(m.compute_conditional(c, c))
    assert got["enhanced"] == pytest.approx(m.compute_conditional(e, c))
    assert got["enhanced_minus_original"] == pytest.approx(got["enhanced"] - got["original"])
    passthrough = d.compute(o, c, None)                  # E is C
    assert passthrough["enhanced"] == passthrough["compressed"] == got["compressed"]
    v = d.version
    random_conditional(4)
    assert diagnostics.build("disc_conditional", {"arch_params": {"num_feat": 16}}).version != v
    with pytest.raises(ConfigError, match="unknown parameter"):
        diagnostics.build("disc_conditional", {"weight": "x"})


# -- the command -----------------------------------------------------------------------------------
def test_diagnose_end_to_end(tmp_path, monkeypatch, write_suite, one_torch_thread):
    from click.testing import CliRunner

    from qbench.cli import main

    from .test_discriminator import random_netd
    from .test_metrics_distribution import install_random_inception

    install_random_inception(monkeypatch)
    random_netd(7)
    random_conditional(8)
    folder = tmp_path / "set <b>&\"x\""                  # the dataset label reaches the page: escaped
    for i in range(2):
        save(smooth_image(40 + i, 48, 64), folder / f"{i}.png")
    suite = {"name": "diag", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
             "codecs": [{"name": "jpeg", "qualities": [5]}], "anchor": None,
             "solvers": ["identity", {"name": "tests.solvers_for_tests:Brighten", "label": "br",
                                      "params": {"delta": 0.2}}],
             "metrics": ["psnr_y", "bef_y", "disc_realesrgan", "fid", "kid"],
             "diagnostics": {"set_pairs": [["original", "compressed"], ["compressed", "enhanced"]],
                             "per_image": [{"name": "disc_conditional", "params": {"arch_params": {"num_feat": 16}}},
                                           {"name": "residual", "params": {"examples": 0}}]},
             "output": {"bootstrap": 20}}
    out = tmp_path / "out"
    import qbench.report.diagnose as diagnose_mod

    tables, derive = [], diagnose_mod.conditional_table
    monkeypatch.setattr(diagnose_mod, "conditional_table", lambda *a: tables.append(a[1]) or derive(*a))
    res = CliRunner().invoke(main, ["diagnose", str(write_suite(suite)), "--out", str(out), "--workers", "0",
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    assert tables == ["disc_conditional"]          # derived once, for the document and its JSON
    for name in ("diagnostics.md", "diagnostics.html", "diagnostics.json", "leaderboard.md"):
        assert (out / name).is_file() and str(out / name) in res.output
    md = (out / "diagnostics.md").read_text()
    for title in ("## No-reference values by role", "## Set-level values between image sets",
                  "## FID triangle: enhanced set between original and compressed", "## Conditional discriminator",
                  "## Residual analysis"):
        assert title in md
    assert md.index("## No-reference values by role") < md.index("## Conditional discriminator") < md.index(
        "## FID triangle") < md.index("## Residual analysis")
    (figure,) = out.glob("triangle_set_b_x_-*.png")        # an unsafe name's slug carries a hash of it
    assert figure.is_file() and f"]({figure.name})" in md
    page = (out / "diagnostics.html").read_text()
    assert "set &lt;b&gt;&amp;&quot;x&quot;" in page and "<b>&" not in page
    payload = json.loads((out / "diagnostics.json").read_text())
    tri = {(r["solver"], r["metric"]): r for r in payload["fid_triangle"]}
    assert set(tri) == {(s, m) for s in ("identity", "br") for m in ("fid", "kid")}
    db = sqlite3.connect(out / "results.sqlite")
    fid = {(s, a, b): v for s, a, b, v in db.execute(
        "SELECT solver, ref_role, test_role, value FROM set_values WHERE metric = 'fid'")}
    for solver in ("identity", "br"):
        want = triangle(*(math.sqrt(max(fid[(solver, a, b)], 0)) for a, b in
                          (("original", "compressed"), ("original", "enhanced"), ("compressed", "enhanced"))))
        row = tri[(solver, "fid")]
        assert row["offset"] == pytest.approx(want.offset, abs=1e-12) and row["oc"] == pytest.approx(want.oc)
    assert tri[("identity", "fid")]["offset"] == pytest.approx(0.5, abs=1e-3)   # E is C
    assert tri[("br", "fid")]["offset"] != pytest.approx(0.5, abs=1e-3)
    roles = {r["solver"]: r for r in payload["role_means"] if r["metric"] == "disc_realesrgan"}
    assert set(roles) == {"identity", "br"} and roles["identity"]["enhanced"] == roles["identity"]["compressed"]
    assert json.loads((out / "results.json").read_text())["fid_triangle"] == payload["fid_triangle"]
    cond = {r["solver"]: r for r in payload["conditional_discriminator"]["disc_conditional"]}
    assert cond["identity"]["enhanced"] == cond["identity"]["compressed"] and cond["identity"]["n_images"] == 2
    assert cond["br"]["enhanced"] != cond["br"]["compressed"]
    m = D.ConditionalDiscriminatorMetric("c", PRESET16)
    originals = [read_image(folder / f"{i}.png") for i in range(2)]
    (key,) = {k for (k,) in db.execute("SELECT enc_key FROM plan WHERE image = '0' AND solver = 'br'")}
    decoded = db.execute("SELECT bytes_path FROM encodings WHERE enc_key = ?", (key,)).fetchone()[0]
    from qbench.codecs import build as build_codec

    c0 = build_codec("jpeg", {}).decode(Path(decoded).read_bytes(), channels=3)
    stored = db.execute("""SELECT v.value FROM plan p JOIN "values" v ON v.key = p.out_key AND v.role = p.out_role
                           WHERE p.image = '0' AND p.solver = 'br' AND v.metric = 'disc_conditional/original'""")
    assert stored.fetchone()[0] == pytest.approx(m.compute_conditional(originals[0], c0), rel=1e-6)

    # render only, elsewhere; the figure is reused when nothing changed
    other = tmp_path / "docs"
    res = CliRunner().invoke(main, ["diagnose", str(out), "--out", str(other)])
    assert res.exit_code == 0, res.output
    assert (other / "diagnostics.md").read_text().split("\n", 3)[3] == md.split("\n", 3)[3]
    stamp = (other / figure.name).stat().st_mtime_ns
    assert CliRunner().invoke(main, ["diagnose", str(out), "--out", str(other)]).exit_code == 0
    assert (other / figure.name).stat().st_mtime_ns == stamp


def test_diagnose_skips_absent_weights_with_the_reason(tmp_path, write_suite):
    """No discriminator or Inception file: the run succeeds and the document names the reasons."""
    from click.testing import CliRunner

    from qbench.cli import main

    folder = tmp_path / "imgs"
    save(smooth_image(50, 32, 32), folder / "a.png")
    suite = {"name": "nodisc", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
             "codecs": [{"name": "jpeg", "qualities": [10]}], "anchor": None, "solvers": ["identity"],
             "metrics": ["psnr_y", "bef_y", "disc_realesrgan", "fid"],
             "diagnostics": {"set_pairs": [["original", "compressed"], ["compressed", "enhanced"]]},
             "output": {"bootstrap": 10}}
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["diagnose", str(write_suite(suite)), "--out", str(out), "--workers", "0",
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    md = (out / "diagnostics.md").read_text()
    skipped = md.split("## Skipped metrics")[1]
    assert "RealESRGAN_x4plus_netD.pth" in skipped and "inception-2015-12-05.pt" in skipped
    assert "## No-reference values by role" in md and "FID triangle" not in md
    missing = CliRunner().invoke(main, ["diagnose", str(tmp_path / "nothing-here")])
    assert missing.exit_code != 0


def test_diagnose_derives_its_tables_once_with_the_leaderboard(tmp_path, monkeypatch, write_suite):
    """'qbench diagnose SUITE' writes the leaderboard and the diagnostics from one report model:
    the residual, triangle and role tables are derived a single time."""
    from click.testing import CliRunner

    import qbench.report.diagnose as diagnose_mod
    import qbench.report.model as model_mod
    import qbench.report.residuals as residuals_mod
    import qbench.report.roles as roles_mod
    import qbench.report.triangle as triangle_mod
    from qbench.cli import main

    import qbench.report.regions as regions_mod

    calls = {"residual_tables": 0, "triangle_table": 0, "role_means": 0, "region_tables": 0}

    def counted(name, fn):
        def wrapper(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapper

    for name, mod in (("residual_tables", residuals_mod), ("triangle_table", triangle_mod), ("role_means", roles_mod),
                      ("region_tables", regions_mod)):
        wrapped = counted(name, getattr(mod, name))
        for where in (mod, model_mod, diagnose_mod):
            monkeypatch.setattr(where, name, wrapped, raising=False)
    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(30 + i, 40, 48), folder / f"{i}.png")
    suite = {"name": "once", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
             "codecs": [{"name": "jpeg", "qualities": [10]}], "anchor": None, "solvers": ["identity", "gaussian"],
             "metrics": ["psnr_y"],
             "diagnostics": {"per_image": [{"name": "residual", "params": {"examples": 0}}, "region_texture"]},
             "output": {"bootstrap": 10}}
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["diagnose", str(write_suite(suite)), "--out", str(out), "--workers", "0",
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    assert "## Residual analysis" in (out / "diagnostics.md").read_text()
    assert "## Residual analysis" in (out / "leaderboard.md").read_text()
    assert "## Region-stratified gains" in (out / "diagnostics.md").read_text()
    assert calls == {"residual_tables": 1, "triangle_table": 1, "role_means": 1, "region_tables": 1}, calls
