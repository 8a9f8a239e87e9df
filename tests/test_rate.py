"""Target-bpp rate control lands near the target on the embedded images."""

import numpy as np
import pandas as pd
import pytest

from qbench.codecs import build
from qbench.codecs.rate import find_quality
from qbench.datasets.builtin import SkimageSamples
from qbench.errors import SuiteError
from qbench.suite import parse_suite

from .conftest import basic_suite


@pytest.mark.parametrize("name,params,tol", [("jpeg", {}, 0.06), ("webp", {}, 0.06), ("avif", {"speed": 9}, 0.06),
                                             ("jxl", {"effort": 3}, 0.05), ("j2k", {}, 0.05)])
def test_target_bpp_within_tolerance_on_embedded_images(name, params, tol):
    """Tolerance: relative |achieved - target| / target at most 6% for integer-quality codecs (one
    quality step is the floor) and 5% for continuous settings, at 0.5 and 1.0 bpp on 256x256 crops
    of the embedded astronaut (RGB) and camera (gray) images."""
    ds = SkimageSamples(images=["astronaut", "camera"])
    codec = build(name, params)
    for rec in ds.records():
        img = ds.load(rec)[::2, ::2].copy()     # 256x256: fast
        for target in (0.5, 1.0):
            q, enc = find_quality(codec, img, target)
            achieved = 8 * len(enc.data) / (img.shape[0] * img.shape[1])
            assert abs(achieved - target) / target < tol, (name, rec.name, target, q, achieved)


def test_suite_needs_exactly_one_ladder(image_folder):
    with pytest.raises(SuiteError, match="exactly one"):
        parse_suite(basic_suite(image_folder, codecs=[{"name": "jpeg", "qualities": [10],
                                                       "target_bpp": [0.5]}]))
    with pytest.raises(SuiteError, match="exactly one"):
        parse_suite(basic_suite(image_folder, codecs=[{"name": "jpeg"}]))


def test_target_mode_end_to_end_records_target_and_achieved(image_folder, tmp_path):
    from qbench.report import write_reports
    from qbench.runner import Runner

    data = basic_suite(image_folder, codecs=[{"name": "jpeg", "target_bpp": [0.8, 1.5]}])
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    write_reports(out)
    per = pd.read_csv(out / "per_image.csv")
    assert set(per["quality"]) == {0.8, 1.5} and per["chosen_quality"].between(1, 100).all()
    assert (per["target_bpp"] == per["quality"]).all()
    assert "0.8 bpp target" in (out / "leaderboard.md").read_text()
    for target, group in per.groupby("quality"):
        assert np.all(np.abs(group["bpp"] - target) / target < 0.35)   # tiny images: coarse steps


def test_continuous_search_reaches_low_and_high_targets():
    """JPEG XL distance is searched on a log scale over libjxl's whole lossy range."""
    ds = SkimageSamples(images=["astronaut"])
    img = ds.load(next(iter(ds.records())))[::2, ::2].copy()     # 256x256
    codec = build("jxl", {"effort": 3})
    for target in (0.35, 3.0):     # 0.35 needs a distance beyond 15
        q, enc = find_quality(codec, img, target)
        achieved = 8 * len(enc.data) / (img.shape[0] * img.shape[1])
        assert abs(achieved - target) / target < 0.05, (target, q, achieved)


def test_find_quality_counts_the_given_pixels():
    """A rescaler codes a small image, but bpp is counted against the original pixel count."""
    ds = SkimageSamples(images=["astronaut"])
    small = ds.load(next(iter(ds.records())))[::4, ::4].copy()   # 128x128 stands for 256x256
    q, enc = find_quality(build("jpeg"), small, 0.25, pixels=256 * 256)
    assert abs(8 * len(enc.data) / (256 * 256) - 0.25) / 0.25 < 0.12
    assert 8 * len(enc.data) / (128 * 128) > 0.8      # four times the rate per coded pixel


def test_target_mode_with_a_rescaler_uses_original_pixels(image_folder, tmp_path):
    from qbench.report import write_reports
    from qbench.runner import Runner

    data = basic_suite(image_folder, codecs=[{"name": "jpeg", "target_bpp": [0.5]}],
                       solvers=[{"name": "bicubic", "params": {"scale": 2}}], metrics=["psnr_rgb"])
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    write_reports(out)
    per = pd.read_csv(out / "per_image.csv")
    sizes = {"a": 96 * 128, "b": 77 * 101, "c": 96 * 96, "d": 64 * 80}
    for _, r in per.iterrows():
        assert r["bpp"] == pytest.approx(8 * r["nbytes"] / sizes[r["image"]])
    assert np.all(np.abs(per["bpp"] - 0.5) / 0.5 < 0.4)    # tiny half-size images: coarse JPEG steps
