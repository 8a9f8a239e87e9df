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
    for target, group in per.groupby("quality"):
        assert np.all(np.abs(group["bpp"] - target) / target < 0.35)   # tiny images: coarse steps
