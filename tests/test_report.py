"""Reports from a store built directly through the Store API (no runner, no registries)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qbench.report import load_report_data, write_reports
from qbench.report.html import SCRIPT
from qbench.store import EncodingRow, Store, ValueRow

QUALITIES = [10.0, 20.0, 30.0, 40.0]
IMAGES = ["im0", "im1", "im2"]
VERSIONS = {"psnr_y": "v-psnr", "lpips": "v-lpips", "fid": "v-fid"}
XSS = "<script>alert(1)</script>"


class Truth:
    """The values put in the store, for hand-computed expectations."""

    def __init__(self):
        self.bpp: dict[tuple[str, float], float] = {}
        self.compressed: dict[tuple[str, float, str], float] = {}
        self.enhanced: dict[tuple[str, float, str], float] = {}


def build_store(out: Path, solver: str = "sharp", dataset: str = "ds", codec: str = "jpeg",
                failure: str = "boom: the solver exploded", seed: int = 0, rescaler: bool = False) -> Truth:
    """2 solvers (identity, a pass-through, and an enhancer) x 4 qualities x 3 images, 2 per-image
    metrics (psnr_y up, lpips down), one set metric (fid) with two role pairs, a failed sample of an
    extra image, a cost row, a failure and a skipped metric. ``rescaler`` adds a rescale-pipeline
    solver whose compressed (low-res) images have no values of their own."""
    rng = np.random.default_rng(seed)
    truth = Truth()
    h = "suitehash0000000"
    suite = {"name": "synthetic", "description": "a synthetic store", "seed": 0, "anchor": codec,
             "output": {"bootstrap": 300, "bd_bootstrap": 100, "quantize": True},
             "solvers": [{"name": "identity"}, {"name": "sharp", "label": solver}],
             "codecs": [{"name": "jpeg", "label": codec, "qualities": QUALITIES}],
             "metrics": [{"name": "psnr_y"}, {"name": "lpips"}, {"name": "fid"}]}
    with Store(out / "results.sqlite") as store:
        run = store.start_run("synthetic", h, suite, {"qbench": "test", "device": "cpu", "torch": "x"})
        store.put_components(h, [
            ("metric", "psnr_y", {"name": "psnr_y", "higher_is_better": True, "kind": "full_reference",
                                  "version": VERSIONS["psnr_y"], "unit": "dB", "description": "PSNR"}),
            ("metric", "lpips", {"name": "lpips", "higher_is_better": False, "kind": "full_reference",
                                 "version": VERSIONS["lpips"], "unit": "", "description": "LPIPS"}),
            ("metric", "fid", {"name": "fid", "higher_is_better": False, "kind": "distribution",
                               "version": VERSIONS["fid"], "unit": "", "description": "FID"}),
            ("solver", "identity", {"name": "identity", "task": "enhance", "blind": True, "pipeline": "enhance",
                                    "passthrough": True, "spec_hash": "spec-identity"}),
            ("solver", solver, {"name": "sharp", "task": "enhance", "blind": False, "pipeline": "enhance",
                                "passthrough": False, "spec_hash": "spec-sharp"}),
            *([("solver", "resc", {"name": "resc", "task": "rescale", "blind": True, "pipeline": "rescale",
                                    "passthrough": False, "spec_hash": "spec-resc"})] if rescaler else []),
            ("codec", codec, {"name": "jpeg", "learned": False, "target": False, "points": QUALITIES})])
        plan, values = [], []
        ordinal = 0
        for label in ("identity", solver):
            for image in IMAGES + (["zz_failed"] if label == solver else []):
                for qi, q in enumerate(QUALITIES):
                    enc = f"enc-{image}-{q:g}"
                    out_key, role = (enc, "compressed") if label == "identity" else (f"out-{image}-{q:g}", "enhanced")
                    plan.append((f"s{ordinal}", dataset, image, f"hash-{image}", codec, q, 0, label, "enhance",
                                 "enhance", None, enc, out_key, role, ordinal))
                    ordinal += 1
                    if label == "identity" or image == "zz_failed":
                        continue
                    ps = truth.compressed[(image, q, "psnr_y")] + 0.4 + rng.uniform(0, 0.2)
                    lp = truth.compressed[(image, q, "lpips")] - 0.02 - rng.uniform(0, 0.01)
                    truth.enhanced[(image, q, "psnr_y")], truth.enhanced[(image, q, "lpips")] = ps, lp
                    values += [ValueRow(out_key, role, "psnr_y", VERSIONS["psnr_y"], ps),
                               ValueRow(out_key, role, "lpips", VERSIONS["lpips"], lp),
                               ValueRow(out_key, role, "psnr_y", "stale-version", -1.0)]
                if label == "identity":    # the encodings and the compressed images' values
                    for qi, q in enumerate(QUALITIES):
                        enc = f"enc-{image}-{q:g}"
                        bpp = 0.25 * (qi + 1) * (1 + 0.1 * IMAGES.index(image)) + rng.uniform(0, 0.02)
                        truth.bpp[(image, q)] = bpp
                        ps, lp = 26 + 2.5 * qi + IMAGES.index(image) + rng.uniform(0, 0.3), 0.4 - 0.07 * qi
                        truth.compressed[(image, q, "psnr_y")], truth.compressed[(image, q, "lpips")] = ps, lp
                        store.put_encoding(EncodingRow(enc, f"hash-{image}", codec, q, int(bpp * 1000), 8000, bpp,
                                                       {"qtables": [[1] * 64]}, None, None, 0.01), run)
                        values += [ValueRow(enc, "compressed", "psnr_y", VERSIONS["psnr_y"], ps),
                                   ValueRow(enc, "compressed", "lpips", VERSIONS["lpips"], lp)]
        for q in QUALITIES:
            store.put_encoding(EncodingRow(f"enc-zz_failed-{q:g}", "hash-zz", codec, q, 100, 8000, 0.1, {},
                                           None, None, 0.01), run)
        for image in IMAGES if rescaler else []:
            for q in QUALITIES:
                enc, out_key = f"lowres-enc-{image}-{q:g}", f"resc-{image}-{q:g}"
                store.put_encoding(EncodingRow(enc, f"hash-{image}", codec, q, 10, 8000, truth.bpp[(image, q)] / 2,
                                               {}, None, None, 0.01), run)
                plan.append((f"s{ordinal}", dataset, image, f"hash-{image}", codec, q, 0, "resc", "rescale",
                             "rescale", f"lowres-{image}", enc, out_key, "enhanced", ordinal))
                ordinal += 1
                values += [ValueRow(out_key, "enhanced", "psnr_y", VERSIONS["psnr_y"],
                                    truth.compressed[(image, q, "psnr_y")] - 1),
                           ValueRow(out_key, "enhanced", "lpips", VERSIONS["lpips"], 0.5)]
        store.put_plan(h, plan)
        store.put_values(values, run)
        for label in ("identity", solver):
            for q in QUALITIES:
                store.put_set_value(h, (dataset, label, codec, q), "original", "enhanced", "fid", VERSIONS["fid"],
                                    "k", 50 - q / 2 - (3 if label == solver else 0), 3, 3, run)
                store.put_set_value(h, (dataset, label, codec, q), "original", "compressed", "fid",
                                    VERSIONS["fid"], "k", 50 - q / 2, 3, 3, run)

        class Cost:
            params, flops_per_mp, seconds_per_mp, peak_mem_mb = 1_500_000, 12.3e9, 0.25, 42.0

        store.put_cost(solver, "solver", "spec-sharp", "cpu", Cost, run)
        store.put_failure("k1", "restore", f"{solver} {dataset}/zz_failed", failure, run)
        store.put_skipped_metric(h, "dists", f"weights missing: {failure}", run)
        store.finish_run(run, "finished_with_failures", {"samples": ordinal})
    return truth


@pytest.fixture
def store_dir(tmp_path) -> tuple[Path, Truth]:
    out = tmp_path / "out"
    return out, build_store(out)


def test_summary_is_the_mean_of_per_image_values_and_gains_are_per_image(store_dir):
    out, truth = store_dir
    write_reports(out)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == ["dataset", "solver", "codec", "quality", "n_images", "n_failed", "bpp",
                                     "psnr_y", "lpips", "fid"]
    assert summary["solver"].tolist() == ["identity"] * 4 + ["sharp"] * 4
    assert (summary["n_images"] == 3).all()        # the failed image has no output: left out
    for r in summary.itertuples():
        source = truth.compressed if r.solver == "identity" else truth.enhanced
        assert r.psnr_y == pytest.approx(np.mean([source[(i, r.quality, "psnr_y")] for i in IMAGES]), abs=1e-12)
        assert r.lpips == pytest.approx(np.mean([source[(i, r.quality, "lpips")] for i in IMAGES]), abs=1e-12)
        assert r.bpp == pytest.approx(np.mean([truth.bpp[(i, r.quality)] for i in IMAGES]), abs=1e-12)
        assert r.fid == pytest.approx(50 - r.quality / 2 - (3 if r.solver == "sharp" else 0))
    per = pd.read_csv(out / "per_image.csv")
    assert "zz_failed" not in set(per["image"]) and "target_bpp" not in per.columns
    # values, gains, then the output's file (empty here: this store records no artefact files)
    assert list(per.columns[-5:]) == ["psnr_y", "lpips", "psnr_y_gain", "lpips_gain", "output_path"]
    ident = per[per.solver == "identity"]
    assert (ident["psnr_y_gain"] == 0).all() and (ident["lpips_gain"] == 0).all()
    for r in per[per.solver == "sharp"].itertuples():
        key = (r.image, r.quality)
        assert r.psnr_y_gain == pytest.approx(truth.enhanced[(*key, "psnr_y")] - truth.compressed[(*key, "psnr_y")])
        # lower is better: a gain is the decrease
        assert r.lpips_gain == pytest.approx(truth.compressed[(*key, "lpips")] - truth.enhanced[(*key, "lpips")])
        assert r.lpips_gain > 0
    payload = json.loads((out / "results.json").read_text())
    assert [g["solver"] for g in payload["gains"]] == ["sharp"] * 4       # pass-through left out
    assert payload["gains"][0]["ci95"]["psnr_y_gain"][0] <= payload["gains"][0]["psnr_y_gain"]
    assert payload["metrics"]["lpips"]["higher_is_better"] is False
    assert payload["costs"][0]["params"] == 1_500_000


def test_a_rescaler_has_no_gain_but_a_leaderboard_row_and_a_bd_rate(tmp_path):
    out = tmp_path / "out"
    build_store(out, rescaler=True)
    write_reports(out)
    per = pd.read_csv(out / "per_image.csv")
    resc = per[per.solver == "resc"]
    assert len(resc) == 12 and resc["psnr_y_gain"].isna().all()
    assert per.loc[per.solver == "sharp", "psnr_y_gain"].notna().all()
    assert pd.read_csv(out / "summary.csv")["solver"].tolist() == ["identity"] * 4 + ["sharp"] * 4 + ["resc"] * 4
    payload = json.loads((out / "results.json").read_text())
    assert {g["solver"] for g in payload["gains"]} == {"sharp"}
    bd = pd.read_csv(out / "bd.csv")
    assert bd["solver"].tolist() == ["sharp", "sharp", "resc", "resc"]
    md = (out / "leaderboard.md").read_text()
    cost = md[md.index("## Solvers and cost"):]
    assert [c.strip() for c in next(r for r in cost.splitlines() if r.startswith("| resc")).split("|")[1:4]] == \
        ["resc", "rescale", "rescale"]


def test_sections_come_in_order_in_markdown_and_html(store_dir):
    out, _ = store_dir
    write_reports(out)
    md = (out / "leaderboard.md").read_text()
    order = ["## ds", "## Gain over the compressed input", "## BD-rate against jpeg + identity",
             "## Solvers and cost", "## Set-level values between image sets", "## Skipped metrics", "## Failures (1)"]
    positions = [md.index(h) for h in order]
    assert positions == sorted(positions)
    assert "psnr_y ↑" in md and "lpips ↓" in md and "fid ↓" in md and "![RD curve: psnr_y on ds](rd_ds_psnr_y.svg)" in md
    page = (out / "leaderboard.html").read_text()
    for title in ("BD-rate against jpeg + identity", "Solvers and cost", "Set-level values between image sets",
                  "Gain over the compressed input"):
        assert f">{title}</h2>" in page
    assert "<img src='rd_ds_psnr_y.svg'" in page and (out / "rd_ds_psnr_y.png").is_file()
    bd = pd.read_csv(out / "bd.csv")
    assert bd["solver"].tolist() == ["sharp", "sharp"] and bd["metric"].tolist() == ["psnr_y", "lpips"]
    assert (bd["bd_rate"] < 0).all() and (bd["bd_rate_ci_low"] <= bd["bd_rate"]).all()
    assert bd.loc[0, "bd_metric"] > 0 and bd.loc[1, "bd_metric"] < 0   # psnr up, lpips down at equal rate


def test_cost_rows_and_set_level_table(store_dir):
    out, _ = store_dir
    write_reports(out, ("md",))
    md = (out / "leaderboard.md").read_text()
    cost = md[md.index("## Solvers and cost"):md.index("## Set-level")]
    sharp = next(line for line in cost.splitlines() if line.startswith("| sharp"))
    assert "non-blind" in sharp and "1.50 M" in sharp and "12.3" in sharp and "0.250 (cpu)" in sharp and "42" in sharp
    ident = next(line for line in cost.splitlines() if line.startswith("| identity"))
    assert "pass-through" in ident and "| blind" in ident
    sets = md[md.index("## Set-level"):md.index("## Skipped")]
    assert sets.count("| compressed ") == 8 and "| enhanced " not in sets


def test_every_name_and_text_is_escaped_in_html(tmp_path):
    out = tmp_path / "out"
    build_store(out, solver=XSS, dataset=f"d{XSS}", codec=f"c{XSS}", failure=f"failed {XSS} & more")
    write_reports(out)
    page = (out / "leaderboard.html").read_text()
    own = f"<script>{SCRIPT}</script>"                # the page's one script: sorting and filtering
    assert page.count(own) == 1
    page = page.replace(own, "")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "failed &lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "BD-rate against c&lt;script&gt;" in page and "Solvers and cost" in page
    md = (out / "leaderboard.md").read_text()
    assert md.count("\n## ") == 9          # a name never creates or hides a section (7 + the two rankings)


def test_a_cached_rerun_reuses_aggregates_and_figures(store_dir, monkeypatch):
    from qbench.report import bd as bd_mod

    out, _ = store_dir
    write_reports(out)
    files = ["summary.csv", "per_image.csv", "bd.csv", "results.json", "leaderboard.md", "leaderboard.html"]
    before = {f: (out / f).read_bytes() for f in files}
    figures = sorted(out.glob("rd_*"))
    assert len(figures) == 6               # psnr_y, lpips, fid x png, svg
    mtimes = {p: p.stat().st_mtime_ns for p in figures}
    calls = []
    real = bd_mod.bd_table
    monkeypatch.setattr(bd_mod, "bd_table", lambda *a, **k: calls.append(1) or real(*a, **k))
    write_reports(out)
    assert not calls                                    # aggregates came from the cache
    assert {p: p.stat().st_mtime_ns for p in figures} == mtimes
    assert {f: (out / f).read_bytes() for f in files} == before
    with Store(out / "results.sqlite") as store:        # one new value changes one leaderboard row
        store.put_values([ValueRow("out-im0-20", "enhanced", "psnr_y", VERSIONS["psnr_y"], 99.0)], 1)
    write_reports(out)
    assert calls == [1]
    changed = {p for p in figures if p.stat().st_mtime_ns != mtimes[p]}
    assert changed == {out / "rd_ds_psnr_y.png", out / "rd_ds_psnr_y.svg"}
    assert pd.read_csv(out / "summary.csv")["psnr_y"].max() > 40


def test_only_the_listed_metric_version_is_read(store_dir):
    out, _ = store_dir
    data = load_report_data(out)
    assert data.metric_names == ["psnr_y", "lpips"] and data.set_metric_names == ["fid"]
    assert (data.per_image["psnr_y"] > 0).all()            # the stale-version -1.0 rows are ignored


def test_the_report_reads_the_store_only(store_dir):
    out, _ = store_dir
    code = ("import sys; from qbench.report import write_reports; write_reports(sys.argv[1]); "
            "bad = [m for m in sys.modules if m.split('.')[:2] in (['qbench', 'metrics'], ['qbench', 'solvers'], "
            "['qbench', 'codecs'], ['qbench', 'registry'], ['qbench', 'runner']) or m == 'torch']; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code, str(out)], check=True)


def _strict_json(text: str):
    """Parse as strict JSON (RFC 8259): NaN / Infinity tokens are an error."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def test_infinite_psnr_gives_a_zero_or_infinite_gain_no_false_ci_and_strict_json(tmp_path):
    """PSNR of an exact image is +inf: output and input both exact is a gain of 0; an exact input
    spoiled is a gain of -inf that the sign test counts; an infinite mean has no CI; BD leaves the
    image out; results.json stays strict JSON."""
    import sqlite3

    from scipy.stats import binomtest

    out = tmp_path / "out"
    truth = build_store(out)
    db = sqlite3.connect(out / "results.sqlite")
    for key in ("enc-im0-40", "out-im0-40", "enc-im1-30"):       # im1 at 30: exact input, finite output
        assert db.execute('UPDATE "values" SET value = ? WHERE key = ? AND metric = ? AND version = ?',
                          (float("inf"), key, "psnr_y", VERSIONS["psnr_y"])).rowcount == 1
    db.commit()
    db.close()
    write_reports(out, ("md", "csv", "json"))
    per = pd.read_csv(out / "per_image.csv")
    sharp = per[per.solver == "sharp"].set_index(["image", "quality"])
    assert sharp.loc[("im0", 40.0), "psnr_y_gain"] == 0.0
    assert sharp.loc[("im1", 30.0), "psnr_y_gain"] == -np.inf
    payload = _strict_json((out / "results.json").read_text())
    summary = {(r["solver"], r["quality"]): r for r in payload["summary"]}
    assert summary[("sharp", 40.0)]["psnr_y"] is None and summary[("sharp", 40.0)]["ci95"]["psnr_y"] == [None, None]
    gains = {r["quality"]: r for r in payload["gains"]}
    finite = [truth.enhanced[(i, 40.0, "psnr_y")] - truth.compressed[(i, 40.0, "psnr_y")] for i in IMAGES[1:]]
    assert gains[40.0]["psnr_y_gain"] == pytest.approx(np.mean([0.0] + finite))
    assert gains[40.0]["p"]["psnr_y_gain"] == pytest.approx(binomtest(2, 2).pvalue)
    assert gains[30.0]["psnr_y_gain"] is None and gains[30.0]["ci95"]["psnr_y_gain"] == [None, None]
    assert gains[30.0]["p"]["psnr_y_gain"] == pytest.approx(binomtest(2, 3).pvalue)
    bd = pd.read_csv(out / "bd.csv")
    row = bd[(bd.solver == "sharp") & (bd.metric == "psnr_y")]
    assert len(row) == 1 and row["n_images"].iloc[0] == 1 and np.isfinite(row["bd_rate"].iloc[0])
    md = (out / "leaderboard.md").read_text()
    assert "| inf " in md and "-inf" in md


def test_failures_section_names_every_sample_of_a_kind_in_a_stable_order():
    """A kind of failure names the samples it hit (sorted, the first few), not one arbitrary row."""
    from types import SimpleNamespace

    from qbench.report.markdown import render_markdown
    from qbench.report.document import Document
    from qbench.report.sections import MAX_FAILED_SAMPLES, failures_section

    err = "RuntimeError: boom\nat plugin.py:3 (in enhance)\nTraceback ..."
    details = [f"img{i:02d} jpeg@20 mine" for i in range(MAX_FAILED_SAMPLES + 3)]
    texts = []
    for order in (details, details[::-1]):
        frame = pd.DataFrame({"stage": ["solve"] * len(order), "detail": order, "error": [err] * len(order)})
        doc = Document("t", [])
        doc.sections.extend(failures_section(SimpleNamespace(failures=frame)))
        texts.append(render_markdown(doc))
    assert texts[0] == texts[1]                      # independent of the store's row order
    for d in sorted(details)[:MAX_FAILED_SAMPLES]:
        assert d in texts[0]
    assert sorted(details)[-1] not in texts[0] and "+3 more" in texts[0]
