"""Published RD curves as suite references, and the CompressAI-format export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from qbench import rd
from qbench.errors import SuiteError
from qbench.references import (COMPRESSAI_METRICS, ReferenceError, load_reference, parse_compressai_json,
                               parse_csv)
from qbench.suite import load_suite, parse_suite

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "leaderboards" / "references"

VTM_LIKE = {"name": "VTM", "description": "VTM",
            "results": {"psnr-rgb": [26.1, 28.5, 31.2, 34.3], "ms-ssim-rgb": [0.86, 0.92, 0.956, 0.978],
                        "bpp": [0.048, 0.112, 0.246, 0.49], "encoding_time": [1, 2, 3, 4],
                        "decoding_time": [1, 1, 1, 1]}}


# -- parsing ------------------------------------------------------------------------------------
def test_compressai_json_maps_keys_and_ignores_timings():
    p = parse_compressai_json(json.dumps(VTM_LIKE), "vtm.json")
    assert p["name"] == "VTM" and p["dataset"] is None
    assert p["bpp"] == (0.048, 0.112, 0.246, 0.49)
    assert p["values"] == {"psnr_rgb": (26.1, 28.5, 31.2, 34.3), "ms_ssim_rgb": (0.86, 0.92, 0.956, 0.978)}
    assert set(p["ignored"]) == {"encoding_time", "decoding_time"}
    # older CompressAI files say psnr / ms-ssim; a bare results mapping is read as CompressAI's plot does
    old = {"psnr": [30.0, 32.0], "ms-ssim": [0.9, 0.95], "bpp": [0.2, 0.4]}
    assert parse_compressai_json(json.dumps(old))["values"] == {"psnr_rgb": (30.0, 32.0), "ms_ssim_rgb": (0.9, 0.95)}


@pytest.mark.parametrize("results, message", [
    ({"psnr-rgb": [30, 31, 32], "bpp": [0.1, 0.2]}, "3 values for 2 bpp"),
    ({"psnr-rgb": [30, 31]}, "no 'bpp'"),
    ({"psnr-y": [30, 31], "bpp": [0.1, 0.2]}, "unknown metric key 'psnr-y'"),
    ({"psnr": [30, 31], "psnr-rgb": [30, 31], "bpp": [0.1, 0.2]}, "map to psnr_rgb"),
    ({"psnr-rgb": [30, "x"], "bpp": [0.1, 0.2]}, "not a finite number"),
    ({"psnr-rgb": [30, 31], "bpp": [0.1, -0.2]}, "positive"),
])
def test_compressai_json_refuses_what_it_cannot_map(results, message):
    with pytest.raises(ReferenceError, match=message):
        parse_compressai_json(json.dumps({"name": "x", "results": results}), "x.json")


def test_csv_reference_with_metadata_and_both_name_styles():
    text = ("# name: My codec\n# dataset: kodak\n# source: Table 2 of some paper\n"
            "bpp,psnr_rgb,ms-ssim\n0.25,30.5,0.95\n0.5,33.0,0.97\n1.0,36.25,0.985\n")
    p = parse_csv(text, "mine.csv")
    assert p["name"] == "My codec" and p["dataset"] == "kodak"
    assert p["bpp"] == (0.25, 0.5, 1.0)
    assert p["values"] == {"psnr_rgb": (30.5, 33.0, 36.25), "ms_ssim_rgb": (0.95, 0.97, 0.985)}
    with pytest.raises(ReferenceError, match="unknown metric key 'psnr_foo'"):
        parse_csv("bpp,psnr_foo\n0.1,30\n0.2,31\n", "bad.csv")
    with pytest.raises(ReferenceError, match="not a number"):
        parse_csv("bpp,psnr_y\n0.1,30\n0.2,n/a\n", "bad.csv")


def test_reference_dataset_mismatch_is_refused(tmp_path):
    f = tmp_path / "ref.csv"
    f.write_text("# dataset: kodak\nbpp,psnr_rgb\n0.1,30\n0.2,32\n")
    assert load_reference(str(f), "kodak").dataset == "kodak"
    with pytest.raises(ReferenceError, match="measured on dataset 'kodak', not 'set14'"):
        load_reference(str(f), "set14")
    # a suite whose reference names a dataset it does not run is refused at load
    data = {"name": "s", "datasets": ["set14"], "codecs": [{"name": "jpeg", "qualities": [10, 50]}],
            "solvers": ["identity"], "metrics": ["psnr_rgb"], "references": [{"path": str(f), "dataset": "kodak"}]}
    with pytest.raises(SuiteError, match="measured on 'kodak', which is not a dataset of this suite"):
        parse_suite(data)


def test_shipped_references_load_and_match_their_provenance():
    """Every shipped file loads as a Kodak reference, and PROVENANCE.md names each with its sha256."""
    provenance = (SHIPPED / "PROVENANCE.md").read_text()
    files = sorted(SHIPPED.glob("*.json"))
    assert len(files) >= 4
    for f in files:
        ref = load_reference(str(f), "kodak")
        assert {"psnr_rgb", "ms_ssim_rgb"} <= set(ref.values) and len(ref.bpp) >= 4
        assert f.name in provenance and ref.sha256 in provenance, f.name


# -- the mapping is the same protocol as CompressAI's own evaluation ---------------------------------
def test_mapped_metrics_equal_compressai_eval_model():
    """CompressAI's ``compute_metrics`` (psnr-rgb, ms-ssim-rgb on 8-bit RGB) against the presets the
    keys map to, on a seeded image pair."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("pytorch_msssim")
    eval_model = pytest.importorskip("compressai.utils.eval_model.__main__")
    from qbench.metrics import build

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (200, 232, 3), dtype=np.uint8)
    y = np.clip(x.astype(int) + rng.integers(-12, 13, x.shape), 0, 255).astype(np.uint8)
    t = lambda a: torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None]  # noqa: E731
    theirs = eval_model.compute_metrics(t(x), t(y))
    for key, preset in (("psnr-rgb", "psnr_rgb"), ("ms-ssim-rgb", "ms_ssim_rgb")):
        assert COMPRESSAI_METRICS[key] == preset
        ours = build(preset).compute(x, y)
        assert ours == pytest.approx(theirs[key], rel=2e-5), (key, ours, theirs[key])


# -- end to end on embedded images ----------------------------------------------------------------
def _measured_suite(tmp_path: Path, anchor: str, extra: dict | None = None) -> Path:
    suite = {"name": "refs_e2e", "datasets": ["skimage-samples"],
             "codecs": [{"name": "jpeg", "qualities": [15, 40, 80]}, {"name": "webp", "qualities": [15, 45, 80]}],
             "solvers": ["identity"], "metrics": ["psnr_rgb"],
             "references": [{"path": "published.csv", "dataset": "skimage-samples", "label": "paper"}],
             "anchor": anchor, "output": {"bootstrap": 50, "bd_bootstrap": 30}} | (extra or {})
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def _run(path: Path, out: Path):
    from qbench.report import load_report_data, write_reports
    from qbench.runner import Runner
    from qbench.runner.resolve import resolve_suite

    suite = load_suite(path)
    resolve_suite(suite, str(path))
    res = Runner(suite, out, workers=0, progress=False).run()
    assert not res.failures
    files = write_reports(out, ("md", "csv", "json", "plots", "compressai"))
    return load_report_data(out), files


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """A run of JPEG and WebP on the embedded images with a published curve made from JPEG's own
    points (rates scaled by 0.9: the same quality for 10% fewer bits) as the anchor."""
    tmp = tmp_path_factory.mktemp("refs")
    # first a plain run to read JPEG's curve, then the reference made from it
    (tmp / "published.csv").write_text("bpp,psnr_rgb\n0.1,20\n10,60\n")
    path = _measured_suite(tmp, "jpeg")
    data, _ = _run(path, tmp / "out")                 # the second run reuses its samples
    jpeg = data.per_image[data.per_image["codec"] == "jpeg"].groupby("quality")[["bpp", "psnr_rgb"]].mean()
    lines = "\n".join(f"{b * 0.9!r},{p!r}" for b, p in zip(jpeg["bpp"], jpeg["psnr_rgb"]))
    (tmp / "published.csv").write_text(f"# name: Paper X\n# source: made by the test\nbpp,psnr-rgb\n{lines}\n")
    path = _measured_suite(tmp, "paper")
    data, files = _run(path, tmp / "out")
    return tmp, data, files, jpeg


def test_bd_against_a_published_anchor_equals_rd_functions(e2e):
    tmp, data, files, jpeg = e2e
    bd = pd_read(tmp / "out" / "bd.csv")
    ref = data.references["paper"]
    assert ref.source == "published.csv" and ref.name == "Paper X" and ref.dataset == "skimage-samples"
    rows = bd[(bd["anchor"] == "paper") & (bd["metric"] == "psnr_rgb")]
    assert set(rows["codec"]) == {"jpeg", "webp"}
    assert (rows["anchor_source"] == "published: published.csv (skimage-samples)").all()
    for codec, row in rows.set_index("codec").iterrows():
        mean = data.per_image[data.per_image["codec"] == codec].groupby("quality")[["bpp", "psnr_rgb"]].mean()
        want = rd.bd_rate(ref.bpp, ref.values["psnr_rgb"], mean["bpp"], mean["psnr_rgb"])
        assert row["bd_rate"] == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert row["bd_metric"] == pytest.approx(
            rd.bd_psnr(ref.bpp, ref.values["psnr_rgb"], mean["bpp"], mean["psnr_rgb"]), rel=1e-12, abs=1e-12)
        assert np.isnan(row["bd_rate_ci_low"]) and row["n_images"] == len(set(data.per_image["image"]))
    # JPEG against its own points at 90% of the rate: +11.1% bits, exactly
    assert rows.set_index("codec").loc["jpeg", "bd_rate"] == pytest.approx(100 / 0.9 - 100, abs=1e-6)


def test_report_names_and_draws_the_published_curve(e2e):
    tmp, data, files, _ = e2e
    md = (tmp / "out" / "leaderboard.md").read_text()
    assert "## Published references" in md and "Paper X" in md
    assert "BD-rate against paper (published)" in md
    assert "paper (published: published.csv (skimage-samples))" in md
    svg = (tmp / "out" / "rd_skimage-samples_psnr_rgb.svg").read_text()
    assert "paper (published: published.csv, skimage-samples)" in svg
    results = json.loads((tmp / "out" / "results.json").read_text())
    assert results["references"][0]["label"] == "paper"


def test_plot_spec_includes_the_reference(e2e):
    from qbench.report.aggregate import summarize
    from qbench.report.plots import plot_specs

    tmp, data, _, _ = e2e
    summary, _ = summarize(data, 0, 0)
    (spec,) = plot_specs(data, summary)
    (label, xs, ys), = spec.references
    assert label.startswith("paper (published") and xs == tuple(sorted(data.references["paper"].bpp))


def test_limited_dataset_is_warned(tmp_path):
    (tmp_path / "published.csv").write_text("bpp,psnr_rgb\n0.2,25\n0.5,29\n1.0,33\n")
    path = _measured_suite(tmp_path, "jpeg", {"datasets": [{"name": "skimage-samples", "limit": 2}],
                                               "codecs": [{"name": "jpeg", "qualities": [20, 60]}]})
    _run(path, tmp_path / "out")
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "averages all of skimage-samples; this run measured at most 2" in md


def test_validate_reports_a_missing_reference_file(tmp_path):
    from qbench.runner.resolve import resolve_suite

    path = _measured_suite(tmp_path, "jpeg")
    with pytest.raises(SuiteError, match=r"references\[0\]: reference file published.csv not found"):
        resolve_suite(load_suite(path), str(path))
    (tmp_path / "published.csv").write_text("bpp,ms_ssim_rgb\n0.2,0.9\n0.5,0.95\n")
    with pytest.raises(SuiteError, match=r"references\[0\]: published.csv has ms_ssim_rgb, none of which"):
        resolve_suite(load_suite(path), str(path))


# -- CompressAI export ------------------------------------------------------------------------------
def test_compressai_export_reads_back_in_compressai_plot(e2e, tmp_path):
    from click.testing import CliRunner

    from qbench.cli import main

    tmp, data, files, _ = e2e
    folder = tmp / "out" / "compressai" / "skimage-samples"
    for f in folder.glob("*.json"):
        f.unlink()
    r = CliRunner().invoke(main, ["report", str(tmp / "out"), "--format", "compressai"])
    assert r.exit_code == 0, r.output
    exported = sorted(folder.glob("*.json"))
    assert sorted(r.output.split()) == sorted(map(str, exported))
    assert [f.name for f in exported] == ["jpeg.json", "webp.json"]
    doc = json.loads(exported[0].read_text())
    assert doc["dataset"] == "skimage-samples" and set(doc["results"]) == {"bpp", "psnr-rgb"}
    # the export is itself a valid reference (for its dataset only)
    again = load_reference(str(exported[0]), "skimage-samples")
    assert again.bpp == tuple(doc["results"]["bpp"])
    with pytest.raises(ReferenceError, match="not 'kodak'"):
        load_reference(str(exported[0]), "kodak")
    import matplotlib

    matplotlib.use("Agg")
    plot = pytest.importorskip("compressai.utils.plot.__main__")
    for f in exported:
        sc = plot.parse_json_file(f, "psnr")
        assert sc["name"] == json.loads(f.read_text())["name"]
        assert list(sc["xs"]) == json.loads(f.read_text())["results"]["bpp"]
    png = tmp_path / "rd.png"
    plot.main(["-f", *map(str, exported), "-m", "psnr", "-o", str(png)])
    assert png.stat().st_size > 1000


def pd_read(path):
    import pandas as pd

    return pd.read_csv(path)


def test_narrowed_suite_keeps_a_published_anchor_and_its_folder(tmp_path):
    from qbench.narrow import narrow_suite
    from qbench.references import suite_references

    (tmp_path / "published.csv").write_text("bpp,psnr_rgb\n0.2,25\n0.5,29\n1.0,33\n")
    suite = load_suite(_measured_suite(tmp_path, "paper"))
    narrowed = narrow_suite(suite, limit=2, codecs="jpeg")
    assert narrowed.anchor == "paper" and narrowed.source_dir == tmp_path
    assert [r.label for r in suite_references(narrowed)] == ["paper"]
