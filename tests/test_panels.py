"""Visual comparison panels: the crop where outputs differ, one panel per dataset beside the report,
drawn from the cache and only when what it shows changed."""

from __future__ import annotations

import numpy as np

from qbench.report import write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import save, smooth_image


def test_the_crop_is_where_the_images_differ_most():
    from qbench.report.panels import crop_where_outputs_differ

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
        assert im.size[0] > 4 * im.size[1] / 2 and len(im.convert("RGB").getcolors(1 << 24)) > 100
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
