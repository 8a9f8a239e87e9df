"""What a run reads and leaves behind: image names, the results folder, reports of a shared
folder, figure names, and nothing left over by a run or a fetch that failed early."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from qbench.cli import main
from qbench.datasets import REGISTRY
from qbench.datasets.base import Dataset, ImageRecord
from qbench.errors import ConfigError
from qbench.report import write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import basic_suite, save, smooth_image


def run(data, out, **kw):
    return Runner(parse_suite(data), out, workers=0, progress=False, **kw).run()


# -- image names -----------------------------------------------------------------------------------
def test_files_sharing_a_stem_keep_their_extension(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    save(smooth_image(1, 40, 48), folder / "a.png")
    Image.fromarray(smooth_image(2, 40, 48)).save(folder / "a.jpg", quality=95)
    save(smooth_image(3, 40, 48), folder / "b.png")
    out = tmp_path / "out"
    res = run(basic_suite(folder, codecs=[{"name": "jpeg", "qualities": [50]}]), out)
    assert not res.failures and res.samples == 3
    write_reports(out, ("csv",))
    assert sorted(pd.read_csv(out / "per_image.csv")["image"]) == ["a.jpg", "a.png", "b"]


def test_record_names_are_unique_and_keep_stems_where_they_do_not_clash(tmp_path):
    from qbench.datasets.base import record_names

    names = ["x.png", "x.jpg", "y.bmp", "x.png.bmp", "sub/x.png", "sub/z.tif"]
    files = [tmp_path / n for n in names]
    got = record_names(files, tmp_path)
    # "x.png.bmp" has the stem "x.png", which is also x.png's full name: it keeps its suffix too
    assert got == ["x.png", "x.jpg", "y", "x.png.bmp", "sub/x", "sub/z"]
    assert len(set(got)) == len(got)


class _Twins(Dataset):
    name = "twins"

    def __init__(self, path, mode="auto", limit=None):
        super().__init__(mode, limit)
        self.path = Path(path)

    def _records(self):
        return [ImageRecord("a", str(self.path / "a.png")), ImageRecord("a", str(self.path / "a.bmp"))]


def test_a_dataset_that_names_two_files_alike_is_refused_with_exit_2(tmp_path, monkeypatch, write_suite):
    folder = tmp_path / "imgs"
    save(smooth_image(1, 32, 32), folder / "a.png")
    save(smooth_image(2, 32, 32), folder / "a.bmp")
    monkeypatch.setitem(REGISTRY._entries, "twins", _Twins)
    monkeypatch.setitem(REGISTRY._origin, "twins", "test")
    suite = write_suite(basic_suite(folder, datasets=[{"name": "twins", "params": {"path": str(folder)}}]))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(out), "--workers", "0", "--quiet"])
    assert res.exit_code == 2, res.output
    assert "a.png" in res.output and "a.bmp" in res.output and "Traceback" not in res.output
    assert not out.exists()                     # refused before anything was written


# -- the results folder ----------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["same", "inside"])
def test_a_results_folder_inside_the_dataset_folder_is_refused(image_folder, tmp_path, where):
    out = image_folder if where == "same" else image_folder / "results"
    suite = basic_suite(image_folder, datasets=[{"name": "folder",
                                                 "params": {"path": str(image_folder), "recursive": True}}])
    with pytest.raises(ConfigError, match="(is|lies inside) the folder of dataset"):
        run(suite, out)
    assert sorted(p.name for p in image_folder.iterdir()) == ["a.png", "b.png", "c.png", "d.png"]


def test_cli_refuses_an_overlapping_out_with_exit_2(image_folder, write_suite):
    suite = write_suite(basic_suite(image_folder))
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(image_folder), "--workers", "0", "--quiet"])
    assert res.exit_code == 2 and "choose an --out outside" in res.output, res.output
    assert not (image_folder / "results.sqlite").exists()


# -- a results folder shared by two suites ---------------------------------------------------------
def test_reports_are_for_the_run_that_wrote_them(image_folder, tmp_path, write_suite, monkeypatch):
    out = tmp_path / "shared"
    first = write_suite(basic_suite(image_folder, name="first"), "first.yaml")
    second = basic_suite(image_folder, name="second", metrics=["psnr_rgb"])
    run_suite = Runner.run

    def then_another_suite(self):          # as another process would: a run of a second suite into the
        result = run_suite(self)           # same folder starts after this run's work, before its reports
        if self.suite.name == "first":
            Runner(parse_suite(second), out, workers=0, progress=False).run()
        return result

    monkeypatch.setattr(Runner, "run", then_another_suite)
    cli = CliRunner()
    res = cli.invoke(main, ["run", str(first), "--out", str(out), "--workers", "0", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "first" in (out / "leaderboard.md").read_text().splitlines()[0]
    assert "ssim_y" in pd.read_csv(out / "summary.csv").columns
    assert "also holds results of second" in res.output
    monkeypatch.undo()

    # qbench report: with several suites and no choice, the latest run, and it says so
    res = cli.invoke(main, ["report", str(out), "--format", "md"])
    assert res.exit_code == 0 and "holds results of 2 suites" in res.output and "--suite" in res.output
    assert "second" in (out / "leaderboard.md").read_text().splitlines()[0]
    res = cli.invoke(main, ["report", str(out), "--format", "md", "--format", "csv", "--suite", "first"])
    assert res.exit_code == 0, res.output
    assert "first" in (out / "leaderboard.md").read_text().splitlines()[0]
    assert "ssim_y" in pd.read_csv(out / "summary.csv").columns
    runs = dict(sqlite3.connect(out / "results.sqlite").execute("SELECT run_id, suite_name FROM runs").fetchall())
    second_run = max(r for r, n in runs.items() if n == "second")
    res = cli.invoke(main, ["report", str(out), "--format", "md", "--format", "csv", "--run", str(second_run)])
    assert res.exit_code == 0 and "second" in (out / "leaderboard.md").read_text().splitlines()[0]
    assert f"run {second_run} " in (out / "leaderboard.md").read_text()
    assert "ssim_y" not in pd.read_csv(out / "summary.csv").columns
    assert cli.invoke(main, ["report", str(out), "--suite", "nosuch"]).exit_code == 2
    assert cli.invoke(main, ["report", str(out), "--run", "999"]).exit_code == 2
    assert cli.invoke(main, ["report", str(out), "--run", str(second_run), "--suite", "first"]).exit_code == 2


# -- figure names ----------------------------------------------------------------------------------
def test_file_slugs_are_unique_per_text_and_deterministic():
    from qbench.report.formatting import file_slug, unique_stems

    assert file_slug("set_1") == "set_1" and file_slug("kodak") == "kodak"
    assert file_slug("skimage-samples") == "skimage-samples"
    a, b = file_slug("set 1"), file_slug("set/1")
    assert len({a, b, "set_1"}) == 3 and a.startswith("set_1-") and a == file_slug("set 1")
    assert file_slug("../x").startswith("_x-") and "/" not in file_slug("../x")
    assert unique_stems({("a_b", "c"): "rd_a_b_c", ("a", "b_c"): "rd_a_b_c", ("k", "m"): "rd_k_m"})[("k", "m")] == "rd_k_m"
    joined = unique_stems({("a_b", "c"): "rd_a_b_c", ("a", "b_c"): "rd_a_b_c"})
    assert len(set(joined.values())) == 2


def test_datasets_whose_names_differ_only_in_unsafe_characters_get_separate_figures(image_folder, tmp_path):
    out = tmp_path / "out"
    for i, name in enumerate(("set 1", "set_1")):          # a folder dataset is labelled by its folder name
        save(smooth_image(i, 40, 48), tmp_path / name / "x.png")
        save(smooth_image(i + 5, 40, 48), tmp_path / name / "y.png")
    suite = basic_suite(image_folder, datasets=[{"name": "folder", "params": {"path": str(tmp_path / n)}}
                                                for n in ("set 1", "set_1")], metrics=["psnr_y"])
    run(suite, out)
    write_reports(out, ("plots", "md"))
    figures = sorted(p.name for p in out.glob("rd_*.svg"))
    assert len(figures) == 2 and "rd_set_1_psnr_y.svg" in figures, figures
    md = (out / "leaderboard.md").read_text()
    assert all(f in md for f in figures)


# -- leftovers -------------------------------------------------------------------------------------
def test_a_run_that_fails_before_its_first_sample_leaves_no_store(image_folder, tmp_path):
    out = tmp_path / "new" / "out"
    broken = basic_suite(image_folder, solvers=["no_such_solver"])
    with pytest.raises(Exception, match="no_such_solver"):
        run(broken, out)
    assert not (tmp_path / "new").exists()
    # a folder that already holds results keeps them when a later run fails early: the broken suite
    # is refused while it is resolved, before the store is opened, so nothing of it is recorded
    run(basic_suite(image_folder), out)
    db = sqlite3.connect(out / "results.sqlite")
    values = db.execute('SELECT * FROM "values" ORDER BY key, role, metric').fetchall()
    db.close()
    with pytest.raises(Exception, match="no_such_solver"):
        run(broken, out)
    db = sqlite3.connect(out / "results.sqlite")
    assert [s for s, in db.execute("SELECT status FROM runs ORDER BY run_id")] == ["ok"]
    assert db.execute('SELECT * FROM "values" ORDER BY key, role, metric').fetchall() == values and values


def test_cli_run_with_a_dataset_error_leaves_no_results_folder(tmp_path, write_suite):
    empty = tmp_path / "empty"
    empty.mkdir()
    suite = write_suite(basic_suite(empty))
    out = tmp_path / "runs" / "t"
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(out), "--workers", "0", "--quiet"])
    assert res.exit_code == 3 and "holds no image files" in res.output, res.output
    assert not (tmp_path / "runs").exists()
