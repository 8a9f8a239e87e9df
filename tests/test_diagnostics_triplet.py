"""Triplet diagnostics (O, C, E): residual analysis and region-stratified gains, with known answers,
through the runner (cached like metrics) and into the report."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest

from qbench import diagnostics
from qbench.diagnostics.regions import DefocusStratifier, TextureStratifier, luma
from qbench.diagnostics.residual import residual_values
from qbench.errors import ConfigError, SuiteError
from qbench.runner import Runner
from qbench.runner.resolve import resolve_suite
from qbench.suite import parse_suite

from .conftest import save, smooth_image


def triplet(seed: int = 0, h: int = 48, w: int = 64):
    """An original and a JPEG-like degraded version (seeded noise + a flat offset)."""
    o = smooth_image(seed, h, w)
    rng = np.random.default_rng(seed + 100)
    c = np.clip(o.astype(np.int64) + rng.integers(-12, 13, o.shape) + 3, 0, 255).astype(np.uint8)
    return o, c


REGION = ("region_defocus", "region_texture")


def test_solver_returning_c_gives_ratio_zero_and_no_gain():
    o, c = triplet()
    for e in (None, c.copy()):            # pass-through (E is C) and an explicit copy of C
        r = diagnostics.build("residual").compute(o, c, e)
        assert r["ratio"] == 0 and r["removed"] == 0 and r["cosine"] == 0 and r["rms_ec"] == 0
        assert r["rms_oe"] == pytest.approx(r["rms_oc"]) and r["rms_oc"] > 1
        for name in REGION:
            d = diagnostics.build(name)
            v = d.compute(o, c, e)
            assert sorted(v) == sorted(d.value_names())
            gains = {k: x for k, x in v.items() if "_gain/" in k and not math.isnan(x)}
            assert gains and all(x == 0 for x in gains.values())


def test_solver_returning_o_gives_ratio_one():
    o, c = triplet(1)
    r = residual_values(o, c, o)
    assert r["ratio"] == pytest.approx(1.0) and r["cosine"] == pytest.approx(1.0)
    assert r["removed"] == 1.0 and r["rms_oe"] == 0
    # against an independent computation
    oc = o.astype(float) - c
    assert r["rms_oc"] == pytest.approx(np.sqrt(np.mean(oc ** 2)))
    # a solver going half way: ratio 0.5, half of the error removed, cosine 1; the opposite way: cosine -1
    half = c.astype(float) + 0.5 * oc
    h = residual_values(o, c, half)
    assert h["ratio"] == pytest.approx(0.5) and h["removed"] == pytest.approx(0.5) and h["cosine"] == pytest.approx(1)
    assert residual_values(o, c, c.astype(float) - 0.5 * oc)["cosine"] == pytest.approx(-1)
    v = diagnostics.build("region_defocus").compute(o, c, o)
    assert all(v[f"psnr_e/c{i}"] == math.inf and v[f"ssim_e/c{i}"] == pytest.approx(1.0) for i in range(3))


def test_blurred_left_half_is_the_low_defocus_class():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(3)
    sharp = rng.normal(128, 40, (64, 96))
    img = sharp.copy()
    img[:, :48] = gaussian_filter(sharp, 3.0)[:, :48]
    y = np.clip(img, 0, 255)
    two = DefocusStratifier(classes=2).classify(y)
    # away from the seam (the energy window is 15 px) each half is one class; near it, mostly
    assert (two[:, :40] == 0).all() and (two[:, 56:] == 1).all()
    assert (two[:, :48] == 0).mean() > 0.9 and (two[:, 48:] == 1).mean() > 0.9
    three = DefocusStratifier().classify(y)
    assert (three[:, 48:] != 0).all() and np.bincount(three.ravel()).tolist() == [64 * 32] * 3


def test_gain_only_in_the_flat_class_for_a_solver_fixing_flat_regions():
    rng = np.random.default_rng(5)
    o = np.full((64, 96, 3), 120, np.uint8)
    o[:, 48:] = np.clip(rng.normal(120, 35, (64, 48, 3)), 0, 255).astype(np.uint8)
    o[20:44, 60:84] = 220                                   # a bright block: edges inside the texture half
    c = np.clip(o.astype(np.int64) + rng.integers(-10, 11, o.shape), 0, 255).astype(np.uint8)
    classes = TextureStratifier().classify(luma(o))
    assert {0, 1, 2} <= set(np.unique(classes).tolist())
    flat = classes == 0
    e = c.copy()
    e[flat] = np.round((c[flat].astype(float) + o[flat]) / 2).astype(np.uint8)   # halves the error in flat pixels
    v = diagnostics.build("region_texture").compute(o, c, e)
    assert v["psnr_gain/flat"] > 3
    assert v["psnr_gain/texture"] == 0 and v["psnr_gain/edge"] == 0
    assert v["ssim_gain/flat"] > 10 * max(abs(v["ssim_gain/texture"]), abs(v["ssim_gain/edge"]))
    assert v["share/flat"] + v["share/texture"] + v["share/edge"] == pytest.approx(1.0)


def test_low_res_compressed_image_is_brought_to_full_size():
    o, c = triplet(2)
    low = c[::2, ::2]
    got = diagnostics.match_size(low, o.shape)
    assert got.shape == o.shape and got.dtype == np.uint8
    assert diagnostics.build("residual").compute(o, low, o)["ratio"] == pytest.approx(1.0)


def test_unknown_names_and_parameters_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown parameter"):
        diagnostics.build("residual", {"exampels": 2})
    with pytest.raises(ConfigError, match="unknown parameter"):
        diagnostics.build("region_defocus", {"map": {"clases": 2}})
    data = {"name": "t", "datasets": [{"name": "folder", "params": {"path": str(tmp_path)}}],
            "codecs": [{"name": "jpeg", "qualities": [20]}], "solvers": ["identity"], "metrics": ["psnr_y"],
            "diagnostics": {"per_image": ["residul"]}}
    with pytest.raises(SuiteError, match="did you mean 'residual'"):
        resolve_suite(parse_suite(data))
    # the region map's defaults enter the version: another window is another protocol
    assert diagnostics.build("region_defocus").version != diagnostics.build(
        "region_defocus", {"map": {"window": 9}}).version


def values(db, solver: str, metric: str) -> list[float]:
    return [v for (v,) in db.execute(
        'SELECT v.value FROM plan p JOIN "values" v ON v.key = p.out_key AND v.role = p.out_role '
        "WHERE p.solver = ? AND v.metric = ?", (solver, metric))]


def test_suite_run_stores_caches_and_reports_diagnostics(tmp_path):
    from qbench.report import write_reports

    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(60 + i, 40, 56), folder / f"im{i}.png")
    data = {"name": "diag", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [15, 50]}],
            "solvers": ["identity", {"name": "tests.solvers_for_tests:Oracle", "label": "oracle",
                                     "params": {"folder": str(folder)}},
                        {"name": "tests.solvers_for_tests:Brighten", "label": "br", "params": {"delta": 0.02}}],
            "metrics": ["psnr_y"], "output": {"bootstrap": 50},
            "diagnostics": {"per_image": [{"name": "residual", "params": {"examples": 1}}, "region_defocus"]}}
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    db = sqlite3.connect(out / "results.sqlite")
    assert values(db, "identity", "residual/ratio") == [0.0] * 4
    assert values(db, "oracle", "residual/ratio") == pytest.approx([1.0] * 4)
    assert values(db, "oracle", "residual/cosine") == pytest.approx([1.0] * 4)
    assert values(db, "identity", "region_defocus/psnr_gain/c1") == [0.0] * 4
    assert all(v > 0 for v in values(db, "oracle", "region_defocus/psnr_gain/c2"))   # +inf: E = O
    # example maps only for the first image, for every non-pass-through solver x codec point
    assert db.execute("SELECT COUNT(*) FROM artefacts WHERE role LIKE 'residual:%'").fetchone()[0] == 2 * 2 * 2

    again = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert again.metric_values_computed == 0 and not again.computed_anything

    # a new diagnostic on stored outputs: only its values are computed, no solver runs again
    data["diagnostics"]["per_image"].append("region_texture")
    more = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert more.outputs_computed == 0 and more.encodings_computed == 0 and not more.failures
    n_values = len(diagnostics.build("region_texture").value_names())
    assert more.metric_values_computed == 3 * 2 * 2 * n_values
    assert values(db, "br", "region_texture/psnr_gain/flat")

    write_reports(out)
    md = (out / "leaderboard.md").read_text()
    assert "## Residual analysis" in md and "## Region-stratified gains (region_defocus)" in md
    assert "## Region-stratified gains (region_texture)" in md
    figs = out / "figures" / "residuals"
    assert (figs / "ratio_hist_residual_imgs.png").is_file()
    assert len(list(figs.glob("*_ec.png"))) == 2 * 1 and len(list(figs.glob("*_oc.png"))) == 2
    page = (out / "leaderboard.html").read_text()
    assert "<img src='figures/residuals/ratio_hist_residual_imgs.png'" in page
    table = page[page.index("<table class='residuals'>"):]
    assert table[:table.index("</table>")].count("<tr>") == 1 + 3 * 2


def test_a_process_pool_stores_the_same_diagnostics_as_in_process(tmp_path, one_torch_thread):
    """The diagnostics travel with the measure jobs to worker processes: the values (and the
    example maps) equal those of an in-process run."""
    import numpy as np

    from qbench.images import read_image

    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(70 + i, 40, 56), folder / f"im{i}.png")
    data = {"name": "diag_pool", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [15, 50]}],
            "solvers": ["identity", {"name": "tests.solvers_for_tests:Brighten", "label": "br",
                                     "params": {"delta": 0.02}}],
            "metrics": ["psnr_y"],
            "diagnostics": {"per_image": [{"name": "residual", "params": {"examples": 1}},
                                          "region_defocus", "region_texture"]}}
    stored = {}
    for workers in (0, 2):
        out = tmp_path / f"w{workers}"
        assert not Runner(parse_suite(data), out, workers=workers, progress=False).run().failures
        with sqlite3.connect(out / "results.sqlite") as db:
            vals = sorted(db.execute('SELECT key, role, metric, version, value FROM "values"').fetchall(),
                          key=lambda r: r[:4])
            maps = {(k, r): read_image(p) for k, r, p in db.execute(
                "SELECT key, role, path FROM artefacts WHERE role LIKE 'residual:%'")}
        stored[workers] = vals, maps
    (v0, m0), (v2, m2) = stored[0], stored[2]
    assert len(v0) == len(v2) and any(r[2].startswith("region_texture/") for r in v0)
    for a, b in zip(v0, v2):
        assert a[:4] == b[:4] and (a[4] == b[4] or (a[4] is None and b[4] is None)), (a, b)
    assert m0.keys() == m2.keys() and m0
    assert all(np.array_equal(m0[k], m2[k]) for k in m0)


def test_pixel_maps_are_shared_by_stratifiers_and_solvers_and_bounded(monkeypatch):
    """C's maps are computed once for every solver of a codec point and each image's maps once for
    every stratifier; the cache holds no prepared original and stays within its byte bound; the
    values equal an uncached computation."""
    from qbench.diagnostics import regions

    o, c = triplet(5)
    e = np.clip(c.astype(int) + 3, 0, 255).astype(np.uint8)
    regions._MAPS.clear()
    calls = []
    real = regions.pixel_maps
    monkeypatch.setattr(regions, "pixel_maps", lambda prep, y: calls.append(1) or real(prep, y))
    tex, foc = diagnostics.build("region_texture"), diagnostics.build("region_defocus")
    p_tex, p_foc = tex.prepare(o), foc.prepare(o)
    got_tex = tex.compute_prepared(p_tex, c, e)
    got_foc = foc.compute_prepared(p_foc, c, e)
    tex.compute_prepared(p_tex, c, None)                                  # identity at the same point
    assert len(calls) == 2                                                # C once, E once
    assert all(not isinstance(v, regions.PreparedRegions) for pair in regions._MAPS.values() for v in pair)
    regions._MAPS.clear()
    np.testing.assert_equal(tex.compute(o, c, e), got_tex)                # NaN (empty class) == NaN
    np.testing.assert_equal(foc.compute(o, c, e), got_foc)
    monkeypatch.setattr(regions._MAPS, "max_bytes", 1)
    for shift in range(4):
        tex.compute_prepared(p_tex, np.roll(c, shift, axis=1), None)
    assert len(regions._MAPS) == 1
