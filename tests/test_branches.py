"""Per-image branch / exit / cost reports (``ctx.report``) and the "Branches and cost per image
class" report section, with a solver whose answer is known: it exits early (exit 0) on flat images
and late (exit 2, three times the FLOPs) on textured ones."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from qbench.errors import SolverError
from qbench.runner.device import DeviceStage, item_reports
from qbench.solvers import Context

from .conftest import save, smooth_image
from .solvers_for_tests import EarlyExit

EARLY = "tests.solvers_for_tests:EarlyExit"


def flat(h: int = 40, w: int = 48) -> np.ndarray:
    """A gentle gradient (pixel std 3/255: below the solver's 0.02 threshold)."""
    ramp = np.round(np.linspace(112, 122, w))[None, :, None]
    return np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8).copy()


def textured(h: int = 40, w: int = 48, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def stage_flops(h: int, w: int, c: int = 3) -> float:
    return float(2 * 9 * c * h * w)


# -- the API ------------------------------------------------------------------------------------------
def test_report_takes_one_value_per_image_a_scalar_for_all_or_one_image():
    import torch

    ctx = Context(image_names=("a", "b", "c"))
    ctx.report(exit=[0, 2, 1], flops=np.array([1.0, 3.0, 2.0]))
    ctx.report(branch="deep", seconds=torch.tensor([0.1, 0.3, 0.2]))
    ctx.report(image=0, branch="shallow", note=np.int64(7))
    assert ctx.reports.per_image(3) == [
        {"exit": 0, "flops": 1.0, "branch": "shallow", "seconds": pytest.approx(0.1), "note": 7},
        {"exit": 2, "flops": 3.0, "branch": "deep", "seconds": pytest.approx(0.3)},
        {"exit": 1, "flops": 2.0, "branch": "deep", "seconds": pytest.approx(0.2)}]
    assert item_reports(Context(), 2) == [{}, {}]           # nothing reported: nothing stored
    assert Context() == Context() and "reports" not in repr(Context())


@pytest.mark.parametrize("call,match", [
    (lambda c: c.report(exit=[0, 1, 2]), "3 values for a batch of 2"),
    (lambda c: c.report(exit=[[0], [1]]), "list is not a number"),
    (lambda c: c.report(exit=object()), "object is not a number"),
    (lambda c: c.report(image=2, exit=1), "image=2"),
    (lambda c: c.report(image=0, exit=[1, 2]), "with image="),
    (lambda c: c.report(**{"not a name": 1}), "identifier"),
])
def test_malformed_reports_are_solver_errors(call, match):
    ctx = Context(image_names=("a", "b"))
    with pytest.raises(SolverError, match=match):
        call(ctx)
        ctx.reports.per_image(2)


# -- the device stage ----------------------------------------------------------------------------------
class _MiscountedReport(EarlyExit):
    def enhance(self, batch, ctx: Context):
        ctx.report(exit=[0])
        return batch


def _post(solver, images):
    from qbench.pipelines.enhance import EnhancePipeline

    ctx = Context(codec="jpeg", quality=20.0, image_names=tuple(f"i{i}" for i in range(len(images))),
                  original_size=images[0].shape[:2])
    stage = DeviceStage("cpu", 0, lambda *a: None)
    outs, _ = stage.post(EnhancePipeline(solver, None), images, ctx, "key", images[0].shape, True)
    return outs, ctx


def test_device_stage_gets_early_exit_on_flat_and_late_exit_on_textured_images(one_torch_thread):
    outs, ctx = _post(EarlyExit(), [flat(), textured(), flat()])
    assert [o.shape for o in outs] == [(40, 48, 3)] * 3
    f = stage_flops(40, 48)
    assert item_reports(ctx, 3) == [{"report": {"exit": 0, "flops": f}}, {"report": {"exit": 2, "flops": 3 * f}},
                                    {"report": {"exit": 0, "flops": f}}]
    with pytest.raises(SolverError, match="1 values for a batch of 2"):
        _post(_MiscountedReport(), [flat(), textured()])


# -- the report section ----------------------------------------------------------------------------------
@pytest.fixture
def two_class_run(tmp_path, one_torch_thread):
    """A real run of plain and adaptive JPEG with the early-exit solver on two flat and two
    textured images; the solver's reports are written into each output's artefact info as the
    runner stores them (``info["report"]``)."""
    from qbench.runner import Runner
    from qbench.store import ArtefactRow, Store
    from qbench.suite import parse_suite

    folder = tmp_path / "imgs"
    for i in range(2):
        save(flat(40, 48) + i, folder / f"flat{i}.png")
        save(textured(40, 48, seed=i), folder / f"tex{i}.png")
    suite = parse_suite({
        "name": "br", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
        "codecs": [{"name": "jpeg", "qualities": [10, 50]},
                   {"name": "adaptive_sr", "label": "asr", "params": {"scales": [0.5]}, "qualities": [10]}],
        "solvers": ["identity", {"name": EARLY, "label": "ee"}], "metrics": ["psnr_rgb"], "anchor": "jpeg",
        "output": {"bootstrap": 20}})
    out = tmp_path / "out"
    assert not Runner(suite, out, workers=0, progress=False).run().failures
    f = stage_flops(40, 48)
    with Store(out / "results.sqlite") as store:
        _, rows = store.query("SELECT p.image, a.key, a.path, a.seconds, a.info FROM plan p JOIN artefacts a "
                              "ON a.key = p.out_key AND a.role = 'enhanced' WHERE p.solver = 'ee'")
        assert len(rows) == 12
        for image, key, path, seconds, info in rows:
            exit_ = 0 if image.startswith("flat") else 2
            info = json.loads(info) | {"report": {"exit": exit_, "flops": f * (exit_ + 1)}}
            store.put_artefact(ArtefactRow(key, "enhanced", path, seconds, info), 1)
    return out


def test_branches_section_groups_by_exit_and_codec_branch(two_class_run):
    from qbench.report import load_report_data, write_reports
    from qbench.report.branches import branch_table

    out = two_class_run
    write_reports(out)
    per = pd.read_csv(out / "per_image.csv")
    ee = per[per["solver"] == "ee"]
    assert (ee["solver_exit"] == np.where(ee["image"].str.startswith("flat"), 0, 2)).all()
    assert per.loc[per["solver"] == "identity", "solver_exit"].isna().all()
    asr = per[per["codec"] == "asr"]
    assert (asr["codec_branch"] == np.where(asr["image"].str.startswith("flat"), "full", "x0.5")).all()

    table = branch_table(load_report_data(out)).set_index(["solver", "codec", "quality", "codec_branch",
                                                           "solver_class"])
    f = stage_flops(40, 48)
    for q in (10.0, 50.0):
        for cls, exit_, prefix in (("exit 0", 0, "flat"), ("exit 2", 2, "tex")):
            row = table.loc[("ee", "jpeg", q, "–", cls)]
            group = ee[(ee["codec"] == "jpeg") & (ee["quality"] == q) & ee["image"].str.startswith(prefix)]
            assert row["images"] == 2 and row["share"] == 0.5
            assert row["gain"] == pytest.approx(group["psnr_rgb_gain"].mean(), abs=1e-9)
            assert row["metric"] == pytest.approx(group["psnr_rgb"].mean(), abs=1e-9)
            assert row["gflops"] == pytest.approx(f * (exit_ + 1) / 1e9)
            assert row["solve_s"] > 0 and row["encode_s"] > 0
    # the adaptive codec's branch and the solver's exit split the same row together
    assert table.loc[("ee", "asr", 10.0, "full", "exit 0"), "images"] == 2
    assert table.loc[("ee", "asr", 10.0, "x0.5", "exit 2"), "images"] == 2
    assert np.isnan(table.loc[("identity", "asr", 10.0, "full", "–"), "gain"])      # pass-through: no gain
    assert ("identity", "jpeg", 10.0, "–", "–") not in table.index              # nothing to split
    md = (out / "leaderboard.md").read_text()
    assert md.index("## Solvers and cost") < md.index("## Branches and cost per image class")
    assert "GFLOPs/image (reported)" in md and "exit 2" in md
    branches = json.loads((out / "results.json").read_text())["branches"]
    assert {b["solver_class"] for b in branches if b["solver"] == "ee"} == {"exit 0", "exit 2"}
    page = (out / "leaderboard.html").read_text()
    assert ">Branches and cost per image class</h2>" in page


def test_no_section_without_branches_or_reports(tmp_path):
    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    folder = tmp_path / "imgs"
    save(smooth_image(3, 32, 40), folder / "a.png")
    suite = parse_suite({"name": "n", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
                         "codecs": [{"name": "jpeg", "qualities": [20]}], "solvers": ["identity"],
                         "metrics": ["psnr_rgb"], "output": {"bootstrap": 20}})
    out = tmp_path / "out"
    Runner(suite, out, workers=0, progress=False).run()
    write_reports(out)
    assert "Branches and cost" not in (out / "leaderboard.md").read_text()
    assert json.loads((out / "results.json").read_text())["branches"] == []
    per = pd.read_csv(out / "per_image.csv")
    assert not any(c.startswith("solver_") or c == "codec_branch" for c in per.columns)
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM encodings").fetchone()[0] == 1


@pytest.mark.parametrize("keep_images", [True, False])
def test_the_runner_stores_each_images_report_with_its_output(tmp_path, keep_images, one_torch_thread):
    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    folder = tmp_path / "imgs"
    for i in range(2):
        save(flat(40, 48) + i, folder / f"flat{i}.png")
        save(textured(40, 48, seed=i), folder / f"tex{i}.png")
    suite = parse_suite({
        "name": "wired", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
        "codecs": [{"name": "jpeg", "qualities": [10, 50]}], "solvers": [{"name": EARLY, "label": "ee"}],
        "metrics": ["psnr_rgb"], "output": {"bootstrap": 20, "keep_images": keep_images}})
    out = tmp_path / "out"
    assert not Runner(suite, out, workers=0, progress=False).run().failures
    f = stage_flops(40, 48)
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT p.image, a.info, a.seconds FROM plan p JOIN artefacts a ON a.key = p.out_key "
                          "AND a.role = 'enhanced'").fetchall()
    assert len(rows) == 8
    for image, info, seconds in rows:
        exit_ = 0 if image.startswith("flat") else 2
        assert json.loads(info)["report"] == {"exit": exit_, "flops": f * (exit_ + 1)} and seconds > 0
    write_reports(out)
    per = pd.read_csv(out / "per_image.csv")
    assert (per["solver_exit"] == np.where(per["image"].str.startswith("flat"), 0, 2)).all()
    assert "exit 2" in (out / "leaderboard.md").read_text()
