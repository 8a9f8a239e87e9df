"""BD-rate / BD-PSNR equal the bjontegaard package; bootstrap CI behaves."""

import warnings

import numpy as np
import pytest

from qbench.errors import ConfigError
from qbench.rd import OverlapWarning, bd_psnr, bd_rate, bd_with_ci

bd = pytest.importorskip("bjontegaard")


def random_curves(rng, n=5):
    rate_a = np.sort(rng.uniform(0.1, 2.0, n))
    dist_a = np.sort(rng.uniform(26, 40, n))
    rate_t = np.sort(rate_a * rng.uniform(0.7, 1.2, n))
    dist_t = np.sort(dist_a + rng.uniform(-0.8, 0.8, n))
    return rate_a, dist_a, rate_t, dist_t


@pytest.mark.parametrize("method", ["pchip", "cubic", "akima"])
def test_equal_to_bjontegaard_package(method):
    rng = np.random.default_rng(123)
    checked = 0
    for _ in range(40):
        ra, da, rt, dt = random_curves(rng)
        if np.any(np.diff(dt) <= 0) or np.any(np.diff(rt) <= 0):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours_r, ref_r = bd_rate(ra, da, rt, dt, method), bd.bd_rate(ra, da, rt, dt, method=method)
            ours_p, ref_p = bd_psnr(ra, da, rt, dt, method), bd.bd_psnr(ra, da, rt, dt, method=method)
        if np.isnan(ref_r):
            assert np.isnan(ours_r)
            continue
        assert ours_r == pytest.approx(ref_r, abs=1e-6)
        assert ours_p == pytest.approx(ref_p, abs=1e-6)
        checked += 1
    assert checked >= 20


def test_identical_curves_give_zero_and_sign_convention():
    r, d = np.array([0.2, 0.4, 0.8, 1.6]), np.array([28.0, 31.0, 34.0, 37.0])
    assert bd_rate(r, d, r, d) == pytest.approx(0, abs=1e-12)
    assert bd_rate(r, d, r * 0.8, d) == pytest.approx(-20.0, abs=1e-9)   # 20% fewer bits everywhere
    assert bd_psnr(r, d, r, d + 0.5) == pytest.approx(0.5, abs=1e-12)


def test_overlap_warning():
    r, d = np.array([0.2, 0.4, 0.8, 1.6]), np.array([28.0, 31.0, 34.0, 37.0])
    with pytest.warns(OverlapWarning):
        bd_rate(r, d, r, d + 8.0)
    with pytest.warns(OverlapWarning, match="do not overlap"):
        assert np.isnan(bd_rate(r, d, r, d + 20.0))


def test_bootstrap_ci_brackets_the_value_and_is_seeded():
    rng = np.random.default_rng(5)
    n_img, pts = 12, 4
    base_r = np.array([0.2, 0.4, 0.8, 1.6])
    ra = base_r * rng.uniform(0.8, 1.2, (n_img, pts))
    da = np.array([28.0, 31.0, 34.0, 37.0]) + rng.normal(0, 1, (n_img, pts))
    rt, dt = ra * 0.9, da + rng.normal(0.1, 0.05, (n_img, pts))
    res = bd_with_ci(ra, da, rt, dt, n_boot=300, seed=1)
    assert res.ci_low <= res.value <= res.ci_high and res.value < 0
    assert bd_with_ci(ra, da, rt, dt, n_boot=300, seed=1) == res


def _loop_bd_with_ci(ra, da, rt, dt, kind="rate", method="pchip", n_boot=1000, seed=0, level=0.95):
    """The former one-resample-at-a-time implementation of ``bd_with_ci`` (the reference)."""
    fn = bd_rate if kind == "rate" else bd_psnr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        value = fn(ra.mean(0), da.mean(0), rt.mean(0), dt.mean(0), method)
    if n_boot <= 0 or ra.shape[0] < 2 or not np.isfinite(value):
        return value, np.nan, np.nan
    rng = np.random.default_rng(seed)
    vals = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        for _ in range(n_boot):
            idx = rng.integers(0, ra.shape[0], ra.shape[0])
            try:
                vals.append(fn(ra[idx].mean(0), da[idx].mean(0), rt[idx].mean(0), dt[idx].mean(0), method))
            except ConfigError:
                continue
    vals = np.asarray([v for v in vals if np.isfinite(v)])
    if len(vals) < 10:
        return value, np.nan, np.nan
    a = (1 - level) / 2
    return value, float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


def _random_matrices(rng):
    n_img, pts = int(rng.integers(2, 14)), int(rng.integers(2, 7))
    ra = np.sort(rng.uniform(0.1, 2, pts)) * rng.uniform(0.8, 1.2, (n_img, pts))
    da = np.sort(rng.uniform(26, 40, pts)) + rng.normal(0, 1.5, (n_img, pts))
    return ra, da, ra * rng.uniform(0.6, 1.2), da + rng.normal(0.3, 1.0, (n_img, pts))


@pytest.mark.parametrize("kind", ["rate", "dist"])
def test_vectorised_bootstrap_equals_the_loop(kind):
    """All resamples at once (pchip over many curves) equals one resample at a time, including
    resamples with non-monotone or non-overlapping curves, and ties that make a curve invalid."""
    compared = 0
    for trial in range(30):
        ra, da, rt, dt = _random_matrices(np.random.default_rng(trial))
        if trial % 5 == 4:      # image 0 has one rate and one metric at two points: resamples of it
            ra, da, rt, dt = (m[:2].copy() for m in (ra, da, rt, dt))     # alone are invalid curves
            ra[0, 1], da[0, 1] = ra[0, 0], da[0, 0]
        ref = _loop_bd_with_ci(ra, da, rt, dt, kind, n_boot=100, seed=trial)
        got = bd_with_ci(ra, da, rt, dt, kind, n_boot=100, seed=trial)
        for r, g in zip(ref, (got.value, got.ci_low, got.ci_high)):
            assert (np.isnan(r) and np.isnan(g)) or abs(r - g) <= 1e-9, (trial, ref, got)
        compared += np.isfinite(ref[1])
    assert compared >= 15


def test_summary_bootstrap_together_equals_one_by_one():
    from qbench.report.aggregate import bootstrap_ci, bootstrap_cis

    rng = np.random.default_rng(0)
    series = [rng.normal(30, 2, int(n)) for n in rng.integers(1, 12, 40)] + [np.array([1.0, np.nan, 3.0, 4.0])]
    together = bootstrap_cis(series, 500, 7)
    for s, t in zip(series, together):
        one = bootstrap_ci(s, 500, 7)
        assert (np.isnan(one[0]) and np.isnan(t[0])) or np.allclose(one, t, rtol=0, atol=1e-12)
        if len(s) >= 2 and np.isfinite(s).all():
            idx = np.random.default_rng(7).integers(0, len(s), size=(500, len(s)))
            means = s[idx].mean(axis=1)            # the former per-series implementation
            expected = (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))
            assert np.allclose(t, expected, rtol=0, atol=1e-12)


def test_curves_from_rows_keep_images_with_every_point():
    import pandas as pd

    from qbench.rd import curves_from_rows

    rows = pd.DataFrame({"dataset": "d", "solver": "identity", "codec": "jpeg",
                         "image": ["a", "a", "b", "b", "c"], "quality": [10, 50, 10, 50, 10],
                         "bpp": [0.2, 0.9, 0.3, 1.1, 0.25], "psnr_rgb": [28, 34, 29, 35, 27]})
    curve = curves_from_rows(rows, "psnr_rgb")[("d", "identity", "jpeg")]
    assert curve.images == ("a", "b") and curve.settings == (10.0, 50.0)
    assert np.allclose(curve.mean()[0], [0.25, 1.0]) and curve.subset(["b"]).dists.tolist() == [[29, 35]]


def test_leaderboard_bd_section_and_plots(image_folder, tmp_path):
    import pandas as pd

    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    from .conftest import basic_suite

    data = basic_suite(image_folder, codecs=[{"name": "jpeg", "qualities": [10, 30, 50, 70]},
                                             {"name": "webp", "qualities": [10, 30, 50, 70]}],
                       anchor="jpeg", metrics=["psnr_rgb", "ssim_y"])
    out = tmp_path / "out"
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    files = write_reports(out)
    bd_csv = pd.read_csv(out / "bd.csv")
    assert set(bd_csv.codec) == {"webp"} and set(bd_csv.metric) == {"psnr_rgb", "ssim_y"}
    row = bd_csv[bd_csv.metric == "psnr_rgb"].iloc[0]
    assert row.n_images == 4 and row.bd_rate_ci_low <= row.bd_rate <= row.bd_rate_ci_high
    md = (out / "leaderboard.md").read_text()
    assert "## BD-rate against jpeg + identity" in md
    assert (out / "rd_imgs_psnr_rgb.png").is_file() and (out / "rd_imgs_psnr_rgb.svg").is_file()
    assert out / "bd.csv" in files


@pytest.mark.filterwarnings("ignore::qbench.rd.OverlapWarning")
def test_several_anchors_give_rows_against_each(image_folder, tmp_path):
    import pandas as pd

    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    from .conftest import basic_suite

    data = basic_suite(image_folder, codecs=[{"name": "jpeg", "qualities": [10, 30, 50, 70]},
                                             {"name": "webp", "qualities": [10, 30, 50, 70]}],
                       anchor=["jpeg", "webp"], metrics=["psnr_rgb"])
    out = tmp_path / "out"
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    write_reports(out)
    bd_csv = pd.read_csv(out / "bd.csv")
    assert list(zip(bd_csv.anchor, bd_csv.codec)) == [("jpeg", "webp"), ("webp", "jpeg")]
    per = pd.read_csv(out / "per_image.csv")
    mean = per.groupby(["codec", "quality"])[["bpp", "psnr_rgb"]].mean()
    j, w = mean.loc["jpeg"], mean.loc["webp"]
    webp_vs_jpeg = bd_rate(j.bpp.to_numpy(), j.psnr_rgb.to_numpy(), w.bpp.to_numpy(), w.psnr_rgb.to_numpy())
    jpeg_vs_webp = bd_rate(w.bpp.to_numpy(), w.psnr_rgb.to_numpy(), j.bpp.to_numpy(), j.psnr_rgb.to_numpy())
    assert bd_csv.bd_rate.tolist() == pytest.approx([webp_vs_jpeg, jpeg_vs_webp], abs=1e-9)
    assert np.sign(webp_vs_jpeg) == -np.sign(jpeg_vs_webp)
    md = (out / "leaderboard.md").read_text()
    assert "## BD-rate against jpeg + identity, webp + identity" in md


@pytest.mark.parametrize("anchor, msg", [(["jpeg", "jpeg"], "twice"), ([], "non-empty"), (["avif"], "not one of")])
def test_bad_anchor_lists_are_suite_errors(image_folder, anchor, msg):
    from qbench.errors import SuiteError
    from qbench.suite import parse_suite

    from .conftest import basic_suite

    with pytest.raises(SuiteError, match=msg):
        parse_suite(basic_suite(image_folder, codecs=[{"name": "jpeg", "qualities": [10, 30]}], anchor=anchor))


def test_crossings_locate_where_curves_cross():
    from qbench.rd import crossings

    r = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    anchor = 30 + 10 * np.log10(r)                      # lines in log-rate: they cross at 10^0.2 bpp
    test = 31 + 5 * np.log10(r)
    assert crossings(r, anchor, r, test) == pytest.approx((10**0.2,), rel=1e-3)
    assert crossings(r, anchor, r, anchor + 0.5) == ()           # above throughout
    assert crossings(r, anchor, r, anchor + 1e-6) == ()           # touching is not crossing
    assert crossings(r, anchor, r * 100, anchor) == ()            # no shared rate range
    wave = anchor + 0.3 * np.array([1, -1, 1, -1, 1])             # crosses back and forth
    assert len(crossings(r, anchor, r, wave)) == 4


def test_sign_disagreement_of_the_deltas():
    from qbench.report.bd import signs_disagree

    assert signs_disagree(-3.7, -0.22)          # fewer bits, yet lower PSNR at equal rate
    assert signs_disagree(2.0, 0.1)
    assert not signs_disagree(-48.2, 3.49) and not signs_disagree(5.0, -0.3)
    assert not signs_disagree(float("nan"), 1.0) and not signs_disagree(0.0, -1.0)


def test_crossing_curves_are_marked_in_every_report(tmp_path):
    """JPEG 4:4:4 against 4:2:0 on photographs: chroma subsampling wins at low rates and loses at
    high ones (PSNR-RGB), so the curves cross; bd.csv, markdown, HTML and JSON say where."""
    import json

    import pandas as pd

    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    from .conftest import basic_suite, save
    from .test_codec_rd import crops

    folder = tmp_path / "photos"
    for i, img in enumerate(crops()[:3]):
        save(img, folder / f"{i}.png")
    ladder = [10, 30, 50, 70, 90]
    data = basic_suite(folder, codecs=[{"name": "jpeg", "qualities": ladder},
                                       {"name": "jpeg", "label": "jpeg444", "params": {"subsampling": "4:4:4"},
                                        "qualities": ladder},
                                       {"name": "webp", "qualities": ladder}],
                       anchor="jpeg", metrics=["psnr_rgb"])
    out = tmp_path / "out"
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    write_reports(out)
    bd = pd.read_csv(out / "bd.csv", keep_default_na=False).set_index("codec")
    row = bd.loc["jpeg444"]
    assert row.crossing and 0.8 < float(str(row.cross_bpp).split(";")[0]) < 2.5
    assert not bd.loc["webp"].crossing and bd.loc["webp"].cross_bpp == ""
    md = (out / "leaderboard.md").read_text()
    cells = {c[3]: c for c in ([x.strip() for x in s.split("|")[1:-1]] for s in md.splitlines())
             if len(c) == 10 and c[4] == "psnr_rgb"}
    assert cells["jpeg444"][9] == f"CROSS at {row.cross_bpp} bpp (overlap {row.overlap:.2f})"
    assert cells["webp"][9] == "–"
    assert "CROSS at" in (out / "leaderboard.html").read_text()
    rows = {r["codec"]: r for r in json.loads((out / "results.json").read_text())["bd"]}
    assert rows["jpeg444"]["crossing"] is True and rows["jpeg444"]["cross_bpp"] == row.cross_bpp
    assert rows["webp"]["crossing"] is False
