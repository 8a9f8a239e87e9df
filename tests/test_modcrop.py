"""A dataset's ``modcrop`` reaches every read of an original: indexing, the low-res step, the codec
input, the metric reference and the diagnostics, for every pipeline kind."""

import sqlite3

import numpy as np
import pandas as pd
import pytest

from qbench.images import read_image
from qbench.report import write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import save, smooth_image
from .test_metrics_core import np_psnr

BITPLANE = "tests.solvers_for_tests:BitplaneCodec"
SIZES = {"baby": (37, 50), "bird": (42, 45), "butterfly": (41, 41), "head": (36, 49), "woman": (45, 38)}

KINDS = {
    "enhance": dict(solvers=[{"name": "tests.solvers_for_tests:Brighten", "label": "br"}],
                    codecs=[{"name": "jpeg", "qualities": [60]}]),
    "passthrough": dict(solvers=["identity"], codecs=[{"name": "jpeg", "qualities": [60]}]),
    "rescale": dict(solvers=[{"name": "matlab_bicubic", "params": {"scale": 2}}],
                    codecs=[{"name": "png", "qualities": [0]}]),
    "learned_codec": dict(solvers=["identity"], codecs=[{"name": BITPLANE, "label": "bitplane", "qualities": [4]}]),
}


def modcrop(img, m):
    h, w = img.shape[:2]
    return img[: h - h % m, : w - w % m]


@pytest.fixture
def sr_folder(tmp_path):
    """Set5's file names, sizes that are not multiples of 4 (read through ``params: {root: ...}``)."""
    for i, (name, (h, w)) in enumerate(SIZES.items()):
        save(smooth_image(10 + i, h, w), tmp_path / "set5" / f"{name}.png")
    return tmp_path / "set5"


def _run(folder, out, kind, dataset="set5"):
    params = {"root": str(folder)} if dataset == "set5" else {"path": str(folder)}
    data = {"name": f"modcrop_{kind}", "datasets": [{"name": dataset, "params": {**params, "modcrop": 4}}],
            "metrics": ["psnr_rgb"], "diagnostics": {"per_image": ["residual"]}, "output": {"bootstrap": 20},
            **KINDS[kind]}
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    write_reports(out)
    return res


@pytest.mark.parametrize("kind", list(KINDS))
def test_modcrop_reaches_every_read_of_the_original(sr_folder, tmp_path, kind):
    out = tmp_path / "out"
    res = _run(sr_folder, out, kind)
    assert not res.failures, res.failures
    db = sqlite3.connect(out / "results.sqlite")
    per = pd.read_csv(out / "per_image.csv").set_index("image")
    assert sorted(per.index) == sorted(SIZES)
    rows = db.execute("SELECT p.image, p.pre_key, e.bytes_path, e.pixels, p.out_key, p.out_role FROM plan p "
                      "JOIN encodings e ON e.enc_key = p.enc_key").fetchall()
    assert len(rows) == len(SIZES)
    for image, pre_key, bytes_path, pixels, out_key, out_role in rows:
        x = modcrop(read_image(sr_folder / f"{image}.png"), 4)
        assert pixels == x.shape[0] * x.shape[1]
        if pre_key:              # the low-res image is made from the cropped original
            (low_path,) = db.execute("SELECT path FROM artefacts WHERE key=? AND role='lowres'", (pre_key,)).fetchone()
            assert read_image(low_path).shape == (x.shape[0] // 2, x.shape[1] // 2, 3)
        if out_role == "enhanced":
            (path,) = db.execute("SELECT path FROM artefacts WHERE key=? AND role='enhanced'", (out_key,)).fetchone()
            y = read_image(path)
        elif kind == "learned_codec":
            from .test_pipelines import bitplane_decode

            y = bitplane_decode(open(bytes_path, "rb").read())
        else:                    # the codec coded the cropped original
            y = read_image(bytes_path)
        assert y.shape == x.shape
        assert per.loc[image, "psnr_rgb"] == pytest.approx(np_psnr(x, y), abs=1e-9)
    assert db.execute("SELECT COUNT(*) FROM \"values\" WHERE metric LIKE 'residual/%'").fetchone()[0] > 0


def test_folder_datasets_take_modcrop_and_the_index_cache_keeps_crops_apart(tmp_path):
    folder = tmp_path / "imgs"
    save(smooth_image(1, 37, 50), folder / "a.png")
    out = tmp_path / "out"
    data = {"name": "t", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "png", "qualities": [0]}], "solvers": ["identity"], "metrics": ["psnr_rgb"],
            "output": {"bootstrap": 20}}
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    data["datasets"][0]["params"]["modcrop"] = 4          # same store, same file: must be re-indexed
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    db = sqlite3.connect(out / "results.sqlite")
    shapes = {(h, w) for h, w in db.execute("SELECT height, width FROM files")}
    assert shapes == {(37, 50), (36, 48)}


def test_diagnostic_role_images_read_the_cropped_original(sr_folder, tmp_path):
    from qbench.datasets import build
    from qbench.pipelines.diagnostic import RoleImages
    from qbench.runner.plan import index_dataset
    from qbench.store import Store

    ds = build("set5", {"root": str(sr_folder), "modcrop": 4})
    refs = index_dataset("set5", ds, Store(tmp_path / "s.sqlite"), lambda *a: pytest.fail(str(a)))

    class S:
        def __init__(self, image):
            self.image = image

    for ref in refs:
        img = RoleImages({}, {}, {}).load(S(ref), "original")
        assert img.shape == ref.shape and img.shape[0] % 4 == 0 and img.shape[1] % 4 == 0
        assert np.array_equal(img, ds.load(next(r for r in ds.records() if r.name == ref.name)))
