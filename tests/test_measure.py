"""``qbench measure REF DIST``: the values of a suite run on the same pairs, clear errors."""

import json
import shutil
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

from qbench.cli import main
from qbench.errors import ConfigError, DataNotFoundError, ImageError, RegistryError
from qbench.measure import match_pairs, measure_pairs
from qbench.report import write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import basic_suite, save, smooth_image

METRICS = ["psnr_rgb", "psnr_y", "ssim_y", "psnrb_y", "psnr_y_crop2"]


def _run_suite(folder, out):
    data = basic_suite(folder, codecs=[{"name": "jpeg", "qualities": [25]}], solvers=["identity", "gaussian"],
                       metrics=[*METRICS, {"name": "psnr_y", "crop_border": 4}])
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    write_reports(out)
    db = sqlite3.connect(out / "results.sqlite")
    rows = db.execute("SELECT p.image, p.solver, p.out_key, p.out_role, e.bytes_path FROM plan p "
                      "JOIN encodings e ON e.enc_key = p.enc_key").fetchall()
    values = {(k, r, m): v for k, r, m, v in db.execute('SELECT key, role, metric, value FROM "values"')}
    arts = {k: p for k, p in db.execute("SELECT key, path FROM artefacts WHERE role = 'enhanced'")}
    db.close()
    return rows, values, arts


def test_measure_equals_a_suite_run_on_the_same_pairs(image_folder, tmp_path):
    out = tmp_path / "run"
    rows, stored, arts = _run_suite(image_folder, out)
    restored, compressed = tmp_path / "restored", tmp_path / "compressed"
    expect = {"gaussian": {}, "identity": {}}
    for image, solver, key, role, bytes_path in rows:
        if solver == "gaussian":            # the restored output the run measured (a cached PNG)
            shutil.copy(arts[key], restored / f"{image}.png" if restored.exists() else _mk(restored, image))
        else:                               # identity: the compressed image, i.e. the JPEG bitstream itself
            shutil.copy(bytes_path, _mk(compressed, image, ".jpg"))
        expect[solver][image] = {m: v for (k, r, m), v in stored.items() if k == key and r == role}
    assert all(len(v) == len(METRICS) + 1 for e in expect.values() for v in e.values())
    for solver, folder in (("gaussian", restored), ("identity", compressed)):
        js = tmp_path / f"{solver}.json"
        r = CliRunner().invoke(main, ["measure", str(image_folder), str(folder), "--metrics", ",".join(METRICS),
                                      "--json", str(js), "--csv", str(tmp_path / f"{solver}.csv")])
        assert r.exit_code == 0, r.output
        assert "mean (4)" in r.output and "psnr_y ↑" in r.output
        got = json.loads(js.read_text())
        assert [i["image"] for i in got["images"]] == ["a", "b", "c", "d"]
        for item in got["images"]:
            for m in METRICS:
                assert abs(item[m] - expect[solver][item["image"]][m]) <= 1e-12, (solver, item["image"], m)
        for m in METRICS:
            assert got["mean"][m] == pytest.approx(np.mean([i[m] for i in got["images"]]), abs=1e-12)
        # a suite's crop_border override is --crop-border here
        r = CliRunner().invoke(main, ["measure", str(image_folder), str(folder), "--metrics", "psnr_y",
                                      "--crop-border", "4", "--json", str(js)])
        assert r.exit_code == 0, r.output
        for item in json.loads(js.read_text())["images"]:
            assert abs(item["psnr_y@crop4"] - expect[solver][item["image"]]["psnr_y@crop4"]) <= 1e-12
    # two single images measure the same as the folder pair they belong to
    res = measure_pairs(match_pairs(image_folder / "b.png", compressed / "b.jpg"), ["psnr_y"])
    assert abs(res.values["b"]["psnr_y"] - expect["identity"]["b"]["psnr_y"]) <= 1e-12


def _mk(folder, image, suffix=".png"):
    folder.mkdir(exist_ok=True)
    return folder / f"{image}{suffix}"


def test_errors_name_the_problem_and_exit_2_or_3(tmp_path):
    ref, dist = tmp_path / "ref", tmp_path / "dist"
    save(smooth_image(1, 32, 40), ref / "x.png")
    save(smooth_image(2, 32, 40), ref / "y.png")
    save(smooth_image(3, 32, 40), dist / "x.png")
    save(smooth_image(4, 32, 40), dist / "z.png")
    with pytest.raises(DataNotFoundError, match=r"unmatched file stems: 1 only in .*ref: y; 1 only in .*dist: z"):
        match_pairs(ref, dist)
    r = CliRunner().invoke(main, ["measure", str(ref), str(dist)])
    assert r.exit_code == 3 and "unmatched file stems" in r.output
    (dist / "z.png").rename(dist / "y.png")
    save(smooth_image(5, 32, 41), dist / "y.png")            # one pixel wider
    r = CliRunner().invoke(main, ["measure", str(ref), str(dist)])
    assert r.exit_code == 3 and "y: " in r.output and "is 40x32x3 but" in r.output and "41x32x3" in r.output
    with pytest.raises(ImageError, match="--mode rgb or --mode gray"):          # channels differ
        save(smooth_image(6, 32, 40, 1), dist / "y.png")
        measure_pairs(match_pairs(ref, dist), ["psnr_y"])
    r = CliRunner().invoke(main, ["measure", str(ref), str(dist), "--metrics", "psnr_yy"])
    assert r.exit_code == 2 and "psnr_yy" in r.output and "psnr_y" in r.output
    with pytest.raises(RegistryError):
        measure_pairs(match_pairs(ref, dist), ["nope"])
    with pytest.raises(ConfigError, match="set-level metrics need two folders"):
        measure_pairs(match_pairs(ref / "x.png", dist / "x.png"), ["fid"])
    r = CliRunner().invoke(main, ["measure", str(ref / "x.png"), str(dist)])
    assert r.exit_code == 2 and "two image files or two folders" in r.output
    r = CliRunner().invoke(main, ["measure", str(ref), str(tmp_path / "missing")])
    assert r.exit_code == 3 and "does not exist" in r.output


def test_fid_kid_of_two_folders_equal_the_run_set_pass(tmp_path, monkeypatch, one_torch_thread):
    from .test_metrics_distribution import install_random_inception

    install_random_inception(monkeypatch)
    folder = tmp_path / "imgs"
    for i in range(3):
        save(smooth_image(40 + i, 64, 80), folder / f"{i}.png")
    data = basic_suite(folder, codecs=[{"name": "jpeg", "qualities": [10]}], metrics=["psnr_y", "fid", "kid"])
    out = tmp_path / "run"
    res = Runner(parse_suite(data), out, workers=0, progress=False, device="cpu").run()
    assert not res.failures and not res.skipped_metrics
    db = sqlite3.connect(out / "results.sqlite")
    sets = {m: v for m, v in db.execute("SELECT metric, value FROM set_values WHERE ref_role = 'original'")}
    for image, path in db.execute("SELECT p.image, e.bytes_path FROM plan p JOIN encodings e ON e.enc_key = p.enc_key"):
        shutil.copy(path, _mk(tmp_path / "jpeg", image, ".jpg"))
    db.close()
    assert set(sets) == {"fid", "kid"}
    js = tmp_path / "m.json"
    r = CliRunner().invoke(main, ["measure", str(folder), str(tmp_path / "jpeg"), "--metrics", "psnr_y,fid,kid",
                                  "--device", "cpu", "--json", str(js)])
    assert r.exit_code == 0, r.output
    got = json.loads(js.read_text())["set"]
    assert abs(got["fid"] - sets["fid"]) <= 1e-9 * max(1.0, abs(sets["fid"]))
    assert abs(got["kid"] - sets["kid"]) <= 1e-12
    assert "fid ↓ (3 images)" in r.output

    # FID and KID of the same patches share one feature extraction per side
    from qbench.metrics.distribution import InceptionExtractor

    seen = []
    real_features = InceptionExtractor.features
    monkeypatch.setattr(InceptionExtractor, "features",
                        lambda self, batch: seen.append(len(batch)) or real_features(self, batch))
    extracted = {}
    for metrics in ("fid", "fid,kid"):
        seen.clear()
        r = CliRunner().invoke(main, ["measure", str(folder), str(tmp_path / "jpeg"), "--metrics", metrics,
                                      "--device", "cpu"])
        assert r.exit_code == 0, r.output
        extracted[metrics] = sum(seen)
    assert extracted["fid,kid"] == extracted["fid"] > 0
