"""End-to-end runs on tiny seeded images: reports, caching, resume, failures."""

import json
import os
import re
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from qbench.report import write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import REPO, basic_suite
from .test_metrics_core import np_psnr, np_y


def run(data, out, **kw):
    suite = parse_suite(data)
    res = Runner(suite, out, workers=kw.pop("workers", 0), progress=False, **kw).run()
    write_reports(out)
    return res


def test_reports_have_the_documented_columns(image_folder, tmp_path):
    out = tmp_path / "out"
    res = run(basic_suite(image_folder), out)
    assert not res.failures and res.samples == 8
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == ["dataset", "solver", "codec", "quality", "n_images", "n_failed", "bpp",
                                     "psnr_rgb", "psnr_y", "ssim_y"]
    assert summary["quality"].tolist() == [10, 50] and summary["n_images"].tolist() == [4, 4]
    assert summary["n_failed"].tolist() == [0, 0]
    per = pd.read_csv(out / "per_image.csv")
    assert set(per["image"]) == {"a", "b", "c", "d"} and "bpp" in per.columns
    # summary is the mean of per-image values (never pooled MSE)
    for q in (10, 50):
        assert summary.loc[summary.quality == q, "psnr_y"].item() == pytest.approx(
            per.loc[per.quality == q, "psnr_y"].mean(), abs=1e-9)
    md = (out / "leaderboard.md").read_text()
    assert "psnr_y ↑" in md and "bpp ↓" in md and "[" in md
    payload = json.loads((out / "results.json").read_text())
    assert payload["run"]["env"]["libjpeg"] and payload["run"]["env"]["torch"]
    assert len(payload["summary"]) == 2 and "ci95" in payload["summary"][0]


def test_stored_values_equal_numpy_on_the_cached_decoded_images(image_folder, tmp_path):
    from qbench.images import read_image

    out = tmp_path / "out"
    run(basic_suite(image_folder), out)
    db = sqlite3.connect(out / "results.sqlite")
    rows = db.execute("SELECT p.image, e.bytes_path, e.nbytes, e.bpp, e.pixels, e.quality FROM plan p "
                      "JOIN encodings e ON e.enc_key = p.enc_key").fetchall()
    per = pd.read_csv(out / "per_image.csv").set_index(["image", "quality"])
    for image, bytes_path, nbytes, bpp, pixels, q in rows:
        x = read_image(image_folder / f"{image}.png")
        y = read_image(bytes_path)            # the cached bitstream, decoded independently by Pillow
        assert len(open(bytes_path, "rb").read()) == nbytes
        assert bpp == pytest.approx(8 * nbytes / (x.shape[0] * x.shape[1]))
        assert pixels == x.shape[0] * x.shape[1]
        row = per.loc[(image, q)]
        assert abs(row["psnr_rgb"] - np_psnr(x, y)) < 1e-6
        assert abs(row["psnr_y"] - np_psnr(np_y(x)[..., None], np_y(y)[..., None])) < 1e-6


def test_second_run_computes_nothing_and_new_solver_reuses_encodings(image_folder, tmp_path):
    out = tmp_path / "out"
    data = basic_suite(image_folder)
    first = run(data, out, workers=2)
    assert first.encodings_computed == 8
    before = (out / "summary.csv").read_text()
    again = run(data, out, workers=2)
    assert not again.computed_anything and again.samples_done_before == 8
    assert (out / "summary.csv").read_text() == before
    data["solvers"] = ["identity", {"name": "tests.solvers_for_tests:Brighten", "label": "brighten"}]
    more = run(data, out)
    assert more.encodings_computed == 0          # the codec never runs twice
    assert more.outputs_computed == 8            # only the new solver's outputs
    summary = pd.read_csv(out / "summary.csv")
    assert summary["solver"].tolist() == ["identity", "identity", "brighten", "brighten"]
    data["metrics"] = data["metrics"] + ["ms_ssim_rgb"]
    added = run(data, out)
    assert added.outputs_computed == 0 and added.encodings_computed == 0


def test_fresh_starts_over(image_folder, tmp_path):
    out = tmp_path / "out"
    run(basic_suite(image_folder), out)
    res = run(basic_suite(image_folder), out, fresh=True)
    assert res.encodings_computed == 8


def test_failures_are_recorded_and_the_run_goes_on(image_folder, tmp_path):
    (image_folder / "zz_broken.png").write_bytes(b"not an image at all")
    data = basic_suite(image_folder, solvers=[
        "identity",
        {"name": "tests.solvers_for_tests:Explodes", "label": "explodes"},
        {"name": "tests.solvers_for_tests:MakesNaN", "label": "nan"},
        {"name": "tests.solvers_for_tests:WrongShape", "label": "shape"},
    ])
    out = tmp_path / "out"
    res = run(data, out)
    stages = [(stage, err) for _, stage, err in res.failures]
    assert any(s == "read" and "cannot decode" in e for s, e in stages)
    assert sum("boom at low quality" in e for _, e in stages) == 4
    assert sum("non-finite" in e for _, e in stages) == 8
    assert sum("expected" in e and "shape" in e for _, e in stages) == 8
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False, na_values={"psnr_y": [""]})
    summary = summary.set_index(["solver", "quality"])
    # every planned row is reported; n_images counts the measured images, n_failed the others
    # (the unreadable file is a failed image of every row of its dataset)
    assert summary.loc[("identity", 10), ["n_images", "n_failed"]].tolist() == [4, 1]
    assert summary.loc[("explodes", 50), ["n_images", "n_failed"]].tolist() == [4, 1]
    for solver, q in [("explodes", 10), ("nan", 10), ("nan", 50), ("shape", 10), ("shape", 50)]:
        assert summary.loc[(solver, q), ["n_images", "n_failed"]].tolist() == [0, 5]
        assert np.isnan(summary.loc[(solver, q), "psnr_y"])
    md = (out / "leaderboard.md").read_text()
    assert "## Failures" in md and "boom at low quality" in md and "zz_broken" in md


def test_cli_exit_codes_and_cached_message(image_folder, write_suite, tmp_path):
    path = write_suite(basic_suite(image_folder))
    out = tmp_path / "cli_out"
    cmd = [sys.executable, "-m", "qbench.cli", "run", str(path), "--out", str(out), "--quiet", "--workers", "0"]
    p1 = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert p1.returncode == 0, p1.stderr
    p2 = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert p2.returncode == 0 and "nothing new computed" in p2.stderr
    bad = write_suite(basic_suite(image_folder, solvers=[{"name": "tests.solvers_for_tests:MakesNaN"}]),
                      "bad.yaml")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p3 = subprocess.run([*cmd[:4], str(bad), *cmd[5:]], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert p3.returncode == 1 and "failure" in p3.stderr and "Traceback" not in p3.stderr
    p4 = subprocess.run([sys.executable, "-m", "qbench.cli", "report", str(out), "--format", "csv"],
                        capture_output=True, text=True)
    assert p4.returncode == 0 and "summary.csv" in p4.stdout


def test_rescaler_pipeline_counts_bpp_on_the_original_size(image_folder, tmp_path):
    data = basic_suite(image_folder, solvers=["bicubic"])
    out = tmp_path / "out"
    res = run(data, out)
    assert not res.failures
    db = sqlite3.connect(out / "results.sqlite")
    from qbench.images import read_image

    for pixels, path in db.execute("SELECT pixels, bytes_path FROM encodings"):
        low = read_image(path)                           # the coded image is the low-res one
        assert pixels > 3 * low.shape[0] * low.shape[1]  # HR pixel count, not the low-res one


def test_store_records_versions_suite_hash_and_device(image_folder, tmp_path):
    out = tmp_path / "out"
    res = run(basic_suite(image_folder), out)
    db = sqlite3.connect(out / "results.sqlite")
    suite_hash, env_json, status = db.execute("SELECT suite_hash, env_json, status FROM runs").fetchone()
    env = json.loads(env_json)
    assert suite_hash == res.suite_hash and status == "ok"
    for key in ("qbench", "torch", "pyiqa", "pillow", "libjpeg", "device", "git_commit"):
        assert key in env
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_same_size_images_are_batched_and_a_bad_item_fails_alone(tmp_path):
    from .conftest import save, smooth_image
    from .solvers_for_tests import Batched

    folder = tmp_path / "same"
    for i in range(5):
        save(smooth_image(30 + i, 48, 64), folder / f"{i}.png")
    Batched.calls.clear()
    data = basic_suite(folder, solvers=["identity", {"name": "tests.solvers_for_tests:Batched", "label": "b",
                                                     "params": {"batch_size": 4, "poison": "2"}}],
                       output={"cost_repeats": 2})
    out = tmp_path / "out"
    res = run(data, out, workers=2)
    # the first five calls are the cost probe (1 image each: FLOP count, 2 warm-up, 2 timed);
    # then 5 images per quality: 4 + 1
    assert Batched.calls[:5] == [1] * 5 and sorted(Batched.calls[5:]) == [1, 1, 4, 4]
    assert len(res.failures) == 2 and all("non-finite" in e for _, _, e in res.failures)
    per = pd.read_csv(out / "per_image.csv")
    ident = per[per.solver == "identity"].set_index(["image", "quality"])["psnr_y"]
    batched = per[per.solver == "b"].set_index(["image", "quality"])["psnr_y"]
    assert len(batched) == 8 and (batched == ident.loc[batched.index]).all()


def test_a_failed_image_is_counted_apart_and_left_out_of_the_means(image_folder, tmp_path):
    """One image fails its metric (NaN output): the row counts 3 measured images and 1 failed, its
    means are those of the 3 measured images, in summary.csv, results.json and the leaderboard."""
    data = basic_suite(image_folder, codecs=[{"name": "jpeg", "qualities": [50]}],
                       solvers=[{"name": "tests.solvers_for_tests:Batched", "label": "b", "params": {"poison": "c"}}])
    out = tmp_path / "out"
    res = run(data, out)
    assert res.failures and all("/c " in what for what, _, _ in res.failures)
    summary = pd.read_csv(out / "summary.csv")
    assert summary[["n_images", "n_failed"]].values.tolist() == [[3, 1]]
    per = pd.read_csv(out / "per_image.csv")
    ok = per[per.image != "c"]
    assert summary["psnr_y"].item() == pytest.approx(ok["psnr_y"].mean(), abs=1e-12)
    payload = json.loads((out / "results.json").read_text())
    assert payload["summary"][0]["n_images"] == 3 and payload["summary"][0]["n_failed"] == 1
    md = (out / "leaderboard.md").read_text()
    assert re.search(r"\|\s*images\s*\|\s*failed\s*\|", md) and re.search(r"\|\s*3\s*\|\s*1\s*\|", md)
    html = (out / "leaderboard.html").read_text()
    assert "<th>images</th><th>failed</th>" in html.replace("\n", "")
