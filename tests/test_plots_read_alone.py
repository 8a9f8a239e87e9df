"""Figures and tables that read alone: titles name dataset and metric, the anchor is drawn
distinctly, error bars come from the bootstrap CIs, codec-only suites label curves by codec, the
quality column names the knob, a legend over the curves moves outside, undefined values are n/a."""

from __future__ import annotations

import math

from qbench.report import load_report_data, write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import save, smooth_image
from .test_report import build_store


def _specs(out):
    from qbench.report.aggregate import ReportOptions, compute_aggregates
    from qbench.report.model import build_model

    data = load_report_data(out)
    model = build_model(data, compute_aggregates(data, ReportOptions.of(data.suite)))
    return model, {s.metric: s for s in model.rd_specs}


def test_rd_figures_name_metric_and_dataset_mark_the_anchor_and_carry_error_bars(tmp_path):
    build_store(tmp_path)
    model, specs = _specs(tmp_path)
    spec = specs["psnr_y"]
    assert spec.title == "synthetic: psnr_y on ds"
    assert spec.anchor == "jpeg + identity (anchor)" and spec.anchor in [c[0] for c in spec.curves]
    for (label, _, ys), (lo, hi) in zip(spec.curves, spec.errors):
        assert len(lo) == len(ys) == len(hi)
        if label.startswith("jpeg + sharp"):        # a real spread over 3 images: a real interval
            assert all(a <= y <= b and a < b for a, y, b in zip(lo, ys, hi))


def test_codec_only_suite_labels_by_codec_and_names_the_knob(tmp_path):
    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(80 + i, 40, 56), folder / f"im{i}.png")
    data = {"name": "codecs", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [20, 70]}, {"name": "j2k", "qualities": [40, 10]}],
            "solvers": ["identity"], "metrics": ["psnr_rgb"], "anchor": "jpeg",
            "output": {"bootstrap": 20, "bd_bootstrap": 0}}
    out = tmp_path / "out"
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    write_reports(out, ("md",))
    _, specs = _specs(out)
    assert [c[0] for c in specs["psnr_rgb"].curves] == ["jpeg (anchor)", "j2k"]
    md = (out / "leaderboard.md").read_text()
    table = md[md.index("## imgs"):]
    header = table.splitlines()[2]
    assert header.startswith("| codec ") and "solver" not in header
    assert "| q 20 " in table and "| ratio 40 " in table


def test_a_legend_that_would_cover_curves_moves_outside(tmp_path):
    from PIL import Image

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qbench.report.plots import PlotSpec, draw, legend_covers_curves

    xs = tuple(i / 10 for i in range(11))
    dense = tuple((f"curve number {k}", xs, tuple(float(k) for _ in xs)) for k in range(9))
    sparse = (("only", (0.0, 0.1), (0.0, 0.1)), ("other", (0.9, 1.0), (0.0, 0.05)))
    covers = {}
    for name, curves in (("dense", dense), ("sparse", sparse)):
        spec = PlotSpec("d", "m", name, "t", "m", curves)
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for label, x, y in curves:
            ax.plot(x, y, label=label)
        covers[name] = legend_covers_curves(fig, ax, ax.legend(fontsize=7), spec)
        plt.close(fig)
        draw(spec, tmp_path)
    assert covers == {"dense": True, "sparse": False}
    with Image.open(tmp_path / "dense.png") as a, Image.open(tmp_path / "sparse.png") as b:
        assert b.size == (720, 504)                 # legend inside: the figure's own size
        assert a.size != (720, 504)                 # legend outside the axes: a tight bounding box


def test_undefined_values_print_as_n_a():
    from qbench.report.formatting import fmt

    assert fmt(math.nan, 2) == "n/a" and fmt(None, 4, "+") == "n/a" and fmt(1.5, 2, "+") == "+1.50"
