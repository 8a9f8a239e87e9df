"""``qbench export``: the outputs as a named tree; ``per_image.csv`` names each output's file."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from qbench.cli import main
from qbench.images import read_image
from qbench.report import write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import save, smooth_image


def _run(tmp_path, **output):
    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(90 + i, 40, 56), folder / f"im{i}.png")
    data = {"name": "exp", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [20, 60]}], "solvers": ["identity", "gaussian"],
            "metrics": ["psnr_rgb"], "output": {"bootstrap": 0, "bd_bootstrap": 0, **output}}
    out = tmp_path / "out"
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    return out


def test_per_image_csv_names_each_output_file(tmp_path):
    out = _run(tmp_path)
    write_reports(out, ("csv",))
    per = pd.read_csv(out / "per_image.csv")
    enhanced = per[per["solver"] == "gaussian"]
    assert len(enhanced) == 4 and enhanced["output_path"].str.startswith("cache/outputs/").all()
    assert all((out / p).is_file() for p in enhanced["output_path"])
    assert per.loc[per["solver"] == "identity", "output_path"].isna().all()     # decoded JPEGs are not kept


def test_export_writes_the_named_tree(tmp_path):
    out = _run(tmp_path)
    dest = tmp_path / "named"
    result = CliRunner().invoke(main, ["export", str(out), "--images", str(dest), "--solvers", "gaussian"])
    assert result.exit_code == 0, result.output
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.png"))
    assert files == [f"imgs/jpeg_{q}/gaussian/im{i}.png" for q in (20, 60) for i in range(2)]
    write_reports(out, ("csv",))
    per = pd.read_csv(out / "per_image.csv")
    row = per[(per["solver"] == "gaussian") & (per["quality"] == 20) & (per["image"] == "im0")].iloc[0]
    assert np.array_equal(read_image(dest / "imgs/jpeg_20/gaussian/im0.png"), read_image(out / row["output_path"]))
    assert "4 images written" in result.output
    # everything (identity's outputs are not on disk: counted, not written)
    result = CliRunner().invoke(main, ["export", str(out), "--images", str(tmp_path / "all")])
    assert result.exit_code == 0 and "4 outputs have no image on disk" in result.output


def test_keep_decoded_puts_library_codec_images_on_disk_for_export(tmp_path):
    out = _run(tmp_path, keep_decoded=True)
    write_reports(out, ("csv",))
    per = pd.read_csv(out / "per_image.csv")
    ident = per[per["solver"] == "identity"]
    assert len(ident) == 4 and ident["output_path"].str.startswith("cache/").all()
    dest = tmp_path / "named"
    result = CliRunner().invoke(main, ["export", str(out), "--images", str(dest), "--solvers", "identity"])
    assert result.exit_code == 0 and "4 images written" in result.output, result.output
    assert (dest / "imgs/jpeg_20/identity/im0.png").is_file()
