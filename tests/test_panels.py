"""Visual comparison panels: the crop where outputs differ, one panel per dataset beside the report,
drawn from the cache and only when what it shows changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qbench.report import write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import save, smooth_image


def test_the_crop_is_where_the_images_differ_most():
    from qbench.report.panel_draw import crop_where_outputs_differ

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    other = base.copy()
    other[70:90, 100:120] = 255 - other[70:90, 100:120]            # the only difference
    top, left, side = crop_where_outputs_differ([base, other], 32)
    assert side == 32 and top <= 70 and top + side >= 90 and left <= 100 and left + side >= 120
    assert crop_where_outputs_differ([base, other], 32) == (top, left, side)      # deterministic


def test_a_panel_per_dataset_beside_the_report_redrawn_only_when_changed(tmp_path):
    folder = tmp_path / "imgs"
    for i in range(3):
        save(smooth_image(60 + i, 64, 96), folder / f"im{i}.png")
    data = {"name": "panels", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [10, 40]}], "solvers": ["identity", "gaussian"],
            "metrics": ["psnr_rgb"], "output": {"bootstrap": 20, "bd_bootstrap": 0}}
    out = tmp_path / "out"
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    write_reports(out)
    panel = out / "figures" / "panels" / "panel_imgs.png"
    assert panel.is_file()
    from PIL import Image

    with Image.open(panel) as im:
        assert im.size[0] > im.size[1] and len(im.convert("RGB").getcolors(1 << 24)) > 100
    md = (out / "leaderboard.md").read_text()
    assert "](figures/panels/panel_imgs.png)" in md and "Visual comparison: imgs/" in md
    assert "src='figures/panels/panel_imgs.png'" in (out / "leaderboard.html").read_text()
    stamp = panel.stat().st_mtime_ns
    write_reports(out)                                               # nothing changed: not redrawn
    assert panel.stat().st_mtime_ns == stamp
    panel.unlink()
    write_reports(out)                                               # gone: drawn again
    assert panel.is_file()


def test_suite_examples_add_panels_and_leave_the_hash_alone(tmp_path):
    folder = tmp_path / "imgs"
    for i in range(3):
        save(smooth_image(60 + i, 64, 96), folder / f"im{i}.png")
    data = {"name": "panels", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [10, 40]}], "solvers": ["identity", "gaussian"],
            "metrics": ["psnr_rgb"], "output": {"bootstrap": 0, "bd_bootstrap": 0}}
    listed = data | {"report": {"examples": ["im0", "im1", "im2", "absent"]}}
    assert parse_suite(listed).hash() == parse_suite(data).hash()
    out = tmp_path / "out"
    Runner(parse_suite(listed), out, workers=0, progress=False).run()
    write_reports(out, ("md",))
    panels = sorted(p.name for p in (out / "figures" / "panels").glob("*.png"))
    assert len(panels) == 3 and "panel_imgs.png" in panels          # the automatic one and the two others
    md = (out / "leaderboard.md").read_text()
    assert md.count("](figures/panels/") == 3


def _run(tmp_path, data, folders):
    for name, images in folders.items():
        for image, img in images.items():
            save(img, tmp_path / name / f"{image}.png")
    out = tmp_path / "out"
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    return out


def _specs(out):
    from qbench.report.data import load_report_data
    from qbench.report.panels import panel_specs
    from qbench.report.ranks import primary_metric

    data = load_report_data(out)
    return panel_specs(data, primary_metric(data))


def test_a_rescaler_shows_its_low_res_input_and_every_output_its_residual_and_error_maps(tmp_path):
    from PIL import Image

    from qbench.report.panel_draw import draw_panel

    folder = {f"im{i}": smooth_image(60 + i, 64, 96) for i in range(2)}
    data = {"name": "rs", "datasets": [{"name": "folder", "params": {"path": str(tmp_path / "imgs")}}],
            "codecs": [{"name": "jpeg", "qualities": [20, 60]}],
            "solvers": ["identity", "gaussian", {"name": "bicubic", "params": {"scale": 2}}],
            "metrics": ["psnr_rgb"], "output": {"bootstrap": 0, "bd_bootstrap": 0}}
    out = _run(tmp_path, data, {"imgs": folder})
    [panel] = _specs(out)
    roles = [t.role for t in panel.tiles]
    assert roles == ["original", "compressed", "output", "lowres", "output"], panel.tiles
    _, comp, gauss, low, bic = panel.tiles
    assert gauss.base == 1 and bic.base == 3 and low.base is None          # E − C against what each one saw
    assert comp.error and gauss.error and bic.error and not low.error
    assert "bicubic" in low.caption and "low-res" in low.caption and "bpp" in bic.caption
    path = draw_panel(panel, tmp_path / "drawn")
    with Image.open(path) as im:
        w, h = im.size
        rgb = np.asarray(im.convert("RGB")).astype(int)
    assert h > 0.45 * w * 3 / 6          # three rows (crops, E − C, |X − O|) of six columns
    # the diverging E − C scale and the magma error scale are both there (strong blue and near-black)
    assert ((rgb[..., 2] - rgb[..., 0]) > 80).any() and (rgb.sum(axis=2) < 40).any()
    # no bitstream on disk for the rescaler: its stored low-res image (before the codec) stands in
    import sqlite3

    with sqlite3.connect(out / "results.sqlite") as db:
        gone = [p for (p,) in db.execute("SELECT e.bytes_path FROM plan p JOIN encodings e ON e.enc_key = p.enc_key "
                                         "WHERE p.task = 'rescale'")]
    for p in gone:
        Path(p).unlink()
    [panel] = _specs(out)
    low = next(t for t in panel.tiles if t.role == "lowres")
    assert "before the codec" in low.caption and not low.decoder and Path(low.path).parts[-3] == "lowres"
    assert next(t for t in panel.tiles if t.short == "bicubic" and t.role == "output").base is None
    draw_panel(panel, tmp_path / "drawn2")


def test_a_codec_only_suite_compares_codecs_at_matched_bpp(tmp_path):
    folder = {f"im{i}": smooth_image(80 + i, 64, 96) for i in range(3)}
    data = {"name": "codecs", "datasets": [{"name": "folder", "params": {"path": str(tmp_path / "imgs")}}],
            "codecs": [{"name": "jpeg", "qualities": [10, 30, 60, 90]}, {"name": "webp", "qualities": [5, 40, 80]}],
            "solvers": ["identity"], "metrics": ["psnr_rgb"], "output": {"bootstrap": 0, "bd_bootstrap": 0}}
    out = _run(tmp_path, data, {"imgs": folder})
    [panel] = _specs(out)
    assert [t.role for t in panel.tiles] == ["original", "compressed", "compressed"]
    assert panel.tiles[1].caption.startswith("jpeg q ") and panel.tiles[2].caption.startswith("webp q ")
    assert all("bpp" in t.caption and "psnr" not in t.caption for t in panel.tiles[1:])
    from qbench.report.data import load_report_data

    per = load_report_data(out).per_image
    rates = per.groupby(["codec", "quality"])["bpp"].mean()
    target = max(rates["jpeg"].min(), rates["webp"].min())
    for tile in panel.tiles[1:]:
        codec, q = tile.caption.split(":")[0].split(" q ")
        ladder = rates[codec]
        assert float(q) == min(ladder.index, key=lambda k: abs(np.log(ladder[k] / target)))
    assert "near" in panel.title and "bpp" in panel.title
    write_reports(out, ("md", "html"))
    assert (out / panel.file).is_file()
    assert f"]({panel.file})" in (out / "leaderboard.md").read_text()
    assert f"<a href='{panel.file}'><img src='{panel.file}'" in (out / "leaderboard.html").read_text()


def test_a_single_codec_shows_its_ladder(tmp_path):
    folder = {f"im{i}": smooth_image(90 + i, 48, 64) for i in range(2)}
    data = {"name": "ladder", "datasets": [{"name": "folder", "params": {"path": str(tmp_path / "imgs")}}],
            "codecs": [{"name": "jpeg", "qualities": [10, 20, 30, 40, 60, 90]}],
            "solvers": ["identity"], "metrics": ["psnr_rgb"], "output": {"bootstrap": 0, "bd_bootstrap": 0}}
    out = _run(tmp_path, data, {"imgs": folder})
    [panel] = _specs(out)
    qs = [t.caption.split(":")[0] for t in panel.tiles[1:]]
    assert qs[0] == "jpeg q 10" and qs[-1] == "jpeg q 90" and len(qs) == 4, qs
    write_reports(out, ("md",))
    assert (out / panel.file).is_file()


def test_panel_files_of_names_that_meet_do_not_overwrite_each_other(tmp_path):
    flat = np.full((48, 64, 3), 128, np.uint8)               # every solver gives the same value here
    folders = {"a_b": {"p": smooth_image(1, 48, 64), "q": smooth_image(2, 48, 64)},
               "a": {"b": flat, "z": smooth_image(3, 48, 64), "x y": smooth_image(4, 48, 64),
                     "x_y": smooth_image(5, 48, 64)}}
    data = {"name": "meet", "datasets": [{"name": "folder", "params": {"path": str(tmp_path / "a_b")}},
                                         {"name": "folder", "params": {"path": str(tmp_path / "a")}}],
            "codecs": [{"name": "jpeg", "qualities": [15]}], "solvers": ["identity", "gaussian"],
            "metrics": ["psnr_rgb"], "output": {"bootstrap": 0, "bd_bootstrap": 0},
            "report": {"examples": ["b", "x y", "x_y"]}}
    out = _run(tmp_path, data, folders)
    specs = _specs(out)
    shown = {(p.dataset, p.image) for p in specs}
    assert {("a", "b"), ("a", "x y"), ("a", "x_y")} <= shown and any(d == "a_b" for d, _ in shown)
    files = [p.file for p in specs]
    assert len(set(files)) == len(files) == len(shown), files
    write_reports(out, ("md",))
    assert len(list((out / "figures" / "panels").glob("*.png"))) == len(files)


def test_region_diagnostics_add_their_class_map_and_the_diagnostics_show_the_panels(tmp_path):
    folder = {f"im{i}": smooth_image(20 + i, 64, 80) for i in range(2)}
    data = {"name": "regions", "datasets": [{"name": "folder", "params": {"path": str(tmp_path / "imgs")}}],
            "codecs": [{"name": "jpeg", "qualities": [10]}], "solvers": ["identity", "gaussian"],
            "metrics": ["psnr_y"], "diagnostics": {"per_image": ["region_texture"]},
            "output": {"bootstrap": 0, "bd_bootstrap": 0}}
    out = _run(tmp_path, data, {"imgs": folder})
    [panel] = _specs(out)
    assert [t.role for t in panel.tiles] == ["original", "regions", "compressed", "output"]
    assert "flat, texture, edge" in panel.tiles[1].caption
    from qbench.diagnostics.regions import TextureStratifier, luma
    from qbench.images import read_image
    from qbench.report.panel_draw import class_map

    want = TextureStratifier().classify(luma(read_image(panel.tiles[0].path)))
    assert np.array_equal(class_map(panel.tiles[1]), want)
    write_reports(out, ("md",), diagnostics=("md",))
    diag = (out / "diagnostics.md").read_text()
    assert "## Visual comparisons" in diag and f"]({panel.file})" in diag and (out / panel.file).is_file()


def test_a_cached_rerun_of_the_quickstart_redraws_nothing(tmp_path, monkeypatch):
    """The quickstart suite (one image): the second 'qbench run' computes nothing and
    draws no figure; every figure file keeps its modification time."""
    from click.testing import CliRunner

    import qbench.report.panel_draw as panel_draw
    import qbench.report.plots as plots
    from qbench.cli import main
    from qbench.report.figure_pass import FigurePass

    from .conftest import REPO

    out = tmp_path / "out"
    args = ["run", str(REPO / "suites" / "quickstart.yaml"), "--out", str(out), "--limit", "1", "--workers", "0",
            "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    figures = sorted(p for p in out.rglob("*") if p.suffix in (".png", ".svg") and "cache" not in p.parts)
    assert any(p.parent.name == "panels" for p in figures) and any(p.suffix == ".svg" for p in figures)
    stamps = {p: p.stat().st_mtime_ns for p in figures}
    drawn = []
    monkeypatch.setattr(panel_draw, "draw_panel", lambda *a, **k: drawn.append(("panel", a)))
    monkeypatch.setattr(plots, "draw", lambda *a, **k: drawn.append(("rd", a)))
    # every drawing passes the figure pass, whether it would run here or in a child process
    real_submit = FigurePass.submit
    monkeypatch.setattr(FigurePass, "submit", lambda self, draw: drawn.append(("submitted", draw)) or
                        real_submit(self, draw))
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "nothing new computed" in res.output
    assert drawn == []
    assert {p: p.stat().st_mtime_ns for p in figures} == stamps
    assert sorted(p for p in out.rglob("*") if p.suffix in (".png", ".svg") and "cache" not in p.parts) == figures


def test_a_panel_of_many_solvers_wraps_into_bands(tmp_path):
    """Eleven tiles (original, compressed, nine outputs) wrap after eight columns instead of
    drawing one strip twelve tiles wide; every output keeps its E − C and |X − O| maps."""
    from PIL import Image

    from qbench.report.panel_draw import draw_panel
    from qbench.report.panels import Panel, Tile

    paths = []
    for i in range(11):
        paths.append(str(save(smooth_image(30 + i, 96, 96), tmp_path / "tiles" / f"t{i}.png")))
    tiles = [Tile("original", paths[0], role="original"), Tile("jpeg q 10", paths[1], role="compressed", error=True,
                                                                 short="C")]
    tiles += [Tile(f"solver {i}: 30.00 dB", p, base=1, error=True, short=f"s{i}") for i, p in enumerate(paths[2:])]
    panel = Panel("set", "img", "set/img: psnr_rgb", tuple(tiles), key="k", crop=64)
    with Image.open(draw_panel(panel, tmp_path / "drawn")) as im:
        w, h = im.size
    assert w <= 2.4 * 9 * 150 + 1                      # at most eight tiles beside the original
    assert h >= 2 * 3 * 2.55 * 150 * 0.95                # two bands of three rows
