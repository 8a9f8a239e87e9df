"""Regression checks: `qbench compare`, `qbench check`, committed baselines, paired gain p-values.

One real tiny run (3 small images, JPEG at two qualities, identity + gaussian, psnr_y + ssim_y);
copies of its results folder get values changed by known amounts through SQL.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from qbench.cli import main
from qbench.regress.compare import CompareOptions, compare
from qbench.stats import bootstrap_cis as paired_cis
from qbench.stats import sign_test_p, wilcoxon_p
from qbench.regress.values import from_baseline, from_run, write_baseline

from .conftest import REPO, save, smooth_image

SUITE = {
    "name": "tiny",
    "datasets": [{"name": "folder", "params": {"path": "IMAGES"}}],
    "codecs": [{"name": "jpeg", "qualities": [10, 50]}],
    "solvers": ["identity", "gaussian"],
    "metrics": ["psnr_y", "ssim_y"],
    "output": {"bootstrap": 200},
}


def _suite(images: Path) -> dict:
    data = json.loads(json.dumps(SUITE))
    data["datasets"][0]["params"]["path"] = str(images)
    return data


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    """A repository-like root: suites/tiny.yaml, leaderboards/tiny/ regenerated from a real run."""
    from qbench.leaderboards import regenerate

    root = tmp_path_factory.mktemp("root")
    images = root / "imgs"
    for i, (h, w) in enumerate([(40, 48), (32, 40), (48, 32)]):
        save(smooth_image(10 + i, h, w), images / f"im{i}.png")
    (root / "suites").mkdir()
    (root / "suites" / "tiny.yaml").write_text(yaml.safe_dump(_suite(images), sort_keys=False))
    (root / "leaderboards" / "tiny").mkdir(parents=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QBENCH_CACHE", str(root / "qcache"))
        regenerate("tiny", root, workers=0)
    return root


@pytest.fixture
def run_a(tiny_root) -> Path:
    return tiny_root / "leaderboards" / "tiny" / "run"


def _copy(run: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    shutil.copyfile(run / "results.sqlite", dest / "results.sqlite")
    return dest


def _shift(run: Path, metric: str, solver: str, quality: float, deltas) -> None:
    """Add ``deltas`` (one per image, in image-name order) to stored output values."""
    db = sqlite3.connect(run / "results.sqlite")
    rows = db.execute("SELECT DISTINCT out_key, out_role, image FROM plan WHERE solver=? AND quality=? "
                      "ORDER BY image", (solver, quality)).fetchall()
    assert len(rows) == len(deltas)
    for (key, role, _), d in zip(rows, deltas):
        n = db.execute('UPDATE "values" SET value = value + ? WHERE key=? AND role=? AND metric=?',
                       (float(d), key, role, metric)).rowcount
        assert n == 1
    db.commit()
    db.close()


def _statuses(comparison) -> dict[tuple, str]:
    return {(r["solver"], r["quality"], r["metric"]): r["status"] for r in comparison.rows.to_dict("records")}


# -- statistics against oracles ------------------------------------------------------------------

def _wilcoxon_exact(d: np.ndarray) -> float:
    """Two-sided exact signed-rank p by enumerating all 2^n sign patterns (no ties, no zeros)."""
    ranks = np.argsort(np.argsort(np.abs(d))) + 1.0
    w_obs = ranks[d > 0].sum()
    stats = np.array([ranks[np.array(s, bool)].sum() for s in itertools.product([0, 1], repeat=len(d))])
    mean = ranks.sum() / 2
    return min(1.0, float(np.mean(np.abs(stats - mean) >= abs(w_obs - mean) - 1e-12)))


def test_paired_statistics_match_oracles():
    from scipy.stats import binomtest

    rng = np.random.default_rng(3)
    series = [rng.normal(0.3 * k, 1.0, n) for k, n in zip(range(-2, 4), (5, 6, 7, 8, 9, 3))]
    series.append(np.array([0.0, 0.0, 1.0, -2.0, 3.0, np.nan]))
    ps = sign_test_p(series)
    for d, p in zip(series, ps):
        d = d[np.isfinite(d)]
        k, n = int((d > 0).sum()), int((d != 0).sum())
        assert p == pytest.approx(binomtest(k, n, 0.5).pvalue, abs=1e-12)
    pw = wilcoxon_p(series[:6])
    for d, p in zip(series[:6], pw):
        assert p == pytest.approx(_wilcoxon_exact(d), abs=1e-9)
    assert sign_test_p([np.zeros(4)])[0] == 1.0 and wilcoxon_p([np.zeros(4)])[0] == 1.0
    assert np.isnan(sign_test_p([np.array([])])[0])
    cis = paired_cis(series[:6], 500, seed=7)
    for d, (lo, hi) in zip(series[:6], cis):
        idx = np.random.default_rng(7).integers(0, len(d), size=(500, len(d)))
        means = d[idx].mean(axis=1)
        assert (lo, hi) == pytest.approx((np.quantile(means, 0.025), np.quantile(means, 0.975)), abs=1e-12)


# -- compare ------------------------------------------------------------------------------------------

def test_compare_finds_exactly_the_perturbed_rows(run_a, tmp_path):
    b = _copy(run_a, tmp_path / "b")
    deltas = np.array([-0.3, -0.05, -0.2])
    _shift(b, "psnr_y", "gaussian", 10.0, deltas)                 # worse: mean -0.183 dB
    _shift(b, "ssim_y", "identity", 50.0, [0.06, 0.0, 0.0])       # better: +0.02 > 0.5% of ~0.9
    _shift(b, "psnr_y", "gaussian", 50.0, [0.01, 0.0, -0.005])    # within 0.02 dB
    result = compare(from_run(run_a), from_run(b), CompareOptions(bootstrap=400, seed=1))
    status = _statuses(result)
    assert {k for k, s in status.items() if s == "worse"} == {("gaussian", 10.0, "psnr_y")}
    assert {k for k, s in status.items() if s == "better"} == {("identity", 50.0, "ssim_y")}
    assert len(status) == 2 * 2 * 3 and result.regressions == 1 and result.unpaired.empty
    row = result.rows[(result.rows.solver == "gaussian") & (result.rows.quality == 10.0)
                      & (result.rows.metric == "psnr_y")].iloc[0]
    d = np.sort(deltas)                                           # images pair in hash order; compare sets
    assert row["n"] == 3 and row["diff"] == pytest.approx(deltas.mean(), abs=1e-9)
    assert row["p_sign"] == pytest.approx(0.25) and row["p_wilcoxon"] == pytest.approx(0.25)
    got = np.sort(from_run(b).frame.query("solver == 'gaussian' and quality == 10 and metric == 'psnr_y'")
                  .sort_values("image_hash")["value"].to_numpy()
                  - from_run(run_a).frame.query("solver == 'gaussian' and quality == 10 and metric == 'psnr_y'")
                  .sort_values("image_hash")["value"].to_numpy())
    assert got == pytest.approx(d, abs=1e-9)
    # the CI is the bootstrap of the per-image differences in pairing (image hash) order
    diffs = (from_run(b).frame.query("solver == 'gaussian' and quality == 10 and metric == 'psnr_y'")
             .sort_values("image_hash")["value"].to_numpy()
             - from_run(run_a).frame.query("solver == 'gaussian' and quality == 10 and metric == 'psnr_y'")
             .sort_values("image_hash")["value"].to_numpy())
    idx = np.random.default_rng(1).integers(0, 3, size=(400, 3))
    means = diffs[idx].mean(axis=1)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        (np.quantile(means, 0.025), np.quantile(means, 0.975)), abs=1e-9)
    same = result.rows[result.rows.status == "same"]
    assert (same[~((same.solver == "gaussian") & (same.quality == 50.0) & (same.metric == "psnr_y"))]["diff"]
            == 0).all()
    # --significant: a 3-image CI of the better row excludes 0 only if all its differences do
    sig = compare(from_run(run_a), from_run(b), CompareOptions(bootstrap=400, seed=1, significant=True))
    assert _statuses(sig)[("gaussian", 10.0, "psnr_y")] == "worse"


def test_compare_cli_exit_codes_and_formats(run_a, tmp_path):
    runner = CliRunner()
    same = runner.invoke(main, ["compare", str(run_a), str(run_a)])
    assert same.exit_code == 0, same.output
    assert "no regression" in same.output
    b = _copy(run_a, tmp_path / "b")
    _shift(b, "ssim_y", "gaussian", 50.0, [-0.02, -0.03, -0.01])
    worse = runner.invoke(main, ["compare", str(run_a), str(b), "--format", "json"])
    assert worse.exit_code == 1
    payload = json.loads(worse.stdout)
    bad = [r for r in payload["rows"] if r["status"] == "worse"]
    assert [(r["solver"], r["quality"], r["metric"]) for r in bad] == [("gaussian", 50.0, "ssim_y")]
    assert bad[0]["diff"] == pytest.approx(-0.02, abs=1e-9)
    assert runner.invoke(main, ["compare", str(run_a), str(b), "--metric", "psnr_y"]).exit_code == 0
    assert runner.invoke(main, ["compare", str(run_a), str(b), "--tol-rel", "0.1"]).exit_code == 0
    csv = runner.invoke(main, ["compare", str(run_a), str(b), "--format", "csv"])
    assert csv.exit_code == 1 and csv.stdout.splitlines()[0].startswith("dataset,solver,codec,quality,metric,n,")
    assert runner.invoke(main, ["compare", str(run_a), str(tmp_path / "nowhere")]).exit_code == 3
    unknown = runner.invoke(main, ["compare", str(run_a), str(b), "--metric", "lpips"])
    assert unknown.exit_code == 2 and "lpips" in unknown.output
    # a metric measured with another version: values are not comparable
    db = sqlite3.connect(b / "results.sqlite")
    old = json.loads(db.execute("SELECT info FROM components WHERE kind='metric' AND label='psnr_y'").fetchone()[0])
    db.execute('UPDATE "values" SET version=\'other\' WHERE metric=\'psnr_y\'')
    db.execute("UPDATE components SET info=? WHERE kind='metric' AND label='psnr_y'",
               (json.dumps(old | {"version": "other"}),))
    db.commit()
    db.close()
    mismatch = runner.invoke(main, ["compare", str(run_a), str(b)])
    assert mismatch.exit_code == 2 and "psnr_y" in mismatch.output and "version" in mismatch.output


def test_unpaired_series_are_listed(run_a, tmp_path):
    b = _copy(run_a, tmp_path / "b")
    db = sqlite3.connect(b / "results.sqlite")
    n = db.execute('DELETE FROM "values" WHERE metric=\'ssim_y\' AND key IN '
                   "(SELECT out_key FROM plan WHERE solver='gaussian' AND quality=10)").rowcount
    db.commit()
    db.close()
    assert n == 3
    result = compare(from_run(run_a), from_run(b))
    assert result.unpaired[["solver", "quality", "metric", "side", "images"]].values.tolist() == [
        ["gaussian", 10.0, "ssim_y", "A", 3]]
    assert result.regressions == 0 and result.verdict == "missing" and result.n_missing == 1
    runner = CliRunner()
    out = runner.invoke(main, ["compare", str(run_a), str(b)])          # missing values fail by default
    assert out.exit_code == 3 and "Unpaired series" in out.stdout and "A only" in out.stdout
    assert "gaussian · jpeg 10 · ssim_y: 3 image(s) of A, none in B" in out.stderr
    assert runner.invoke(main, ["compare", str(run_a), str(b), "--fail-on-missing"]).exit_code == 3
    allowed = runner.invoke(main, ["compare", str(run_a), str(b), "--allow-missing"])
    assert allowed.exit_code == 0 and "allowed by --allow-missing" in allowed.stderr
    extra = runner.invoke(main, ["compare", str(b), str(run_a)])       # B has more than A: nothing missing
    assert extra.exit_code == 0 and "1 series in B only, not compared" in extra.stderr


# -- baselines and check --------------------------------------------------------------------------------

def test_check_against_the_regenerated_baseline(tiny_root, run_a, tmp_path):
    folder = tiny_root / "leaderboards" / "tiny"
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert {"baseline.csv", "baseline.json", "leaderboard.md", "results.json", "summary.csv",
            "per_image.csv"} <= set(names)
    base, run = from_baseline(folder), from_run(run_a)
    assert base.frame.equals(run.frame) and base.quantities == run.quantities   # exact round trip
    assert base.suite_hash == run.suite_hash and "results.sqlite" not in names
    text = (folder / "baseline.csv").read_text()
    write_baseline(base, tmp_path / "again")
    assert (tmp_path / "again" / "baseline.csv").read_text() == text
    assert "time" not in (folder / "baseline.json").read_text()

    runner = CliRunner()
    ok = runner.invoke(main, ["check", str(run_a), "--baseline", str(folder)])
    assert ok.exit_code == 0, ok.output
    b = _copy(run_a, tmp_path / "b")
    _shift(b, "psnr_y", "identity", 10.0, [-0.03, -0.03, -0.03])
    bad = runner.invoke(main, ["check", str(b), "--baseline", str(folder), "--format", "json"])
    assert bad.exit_code == 1
    assert [(r["solver"], r["quality"], r["metric"]) for r in json.loads(bad.stdout)["rows"]
            if r["status"] == "worse"] == [("identity", 10.0, "psnr_y")]
    assert runner.invoke(main, ["check", str(b), "--baseline", str(folder), "--tol-db", "0.05"]).exit_code == 0
    assert runner.invoke(main, ["check", str(run_a), "--baseline", str(tmp_path)]).exit_code == 3
    # a baseline measured with another metric version
    stale = tmp_path / "stale"
    shutil.copytree(folder, stale, ignore=shutil.ignore_patterns("run"))
    meta = json.loads((stale / "baseline.json").read_text())
    meta["quantities"]["ssim_y"]["version"] = "old"
    (stale / "baseline.json").write_text(json.dumps(meta))
    res = runner.invoke(main, ["check", str(run_a), "--baseline", str(stale)])
    assert res.exit_code == 2 and "ssim_y" in res.output
    # another suite hash only warns
    meta["quantities"]["ssim_y"]["version"] = base.quantities["ssim_y"].version
    meta["suite_hash"] = "0000000000000000"
    meta["env"]["qbench"] = "0.0.0"
    (stale / "baseline.json").write_text(json.dumps(meta))
    res = runner.invoke(main, ["check", str(run_a), "--baseline", str(stale)])
    assert res.exit_code == 0 and "suite hashes differ" in res.output
    assert "qbench differs: 0.0.0 (A)" in res.output


def test_regeneration_is_deterministic(tiny_root, monkeypatch):
    from qbench.leaderboards import leaderboard_names, regenerate

    folder = tiny_root / "leaderboards" / "tiny"
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".csv", ".json", ".svg", ".md")}
    monkeypatch.setenv("QBENCH_CACHE", str(tiny_root / "qcache"))
    assert leaderboard_names(tiny_root) == ["tiny"]
    regenerate("tiny", tiny_root, workers=0)
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".csv", ".json", ".svg", ".md")}
    assert set(after) == set(before)
    for name in ("baseline.csv", "baseline.json", "summary.csv", "per_image.csv") + tuple(
            n for n in before if n.endswith(".svg")):
        assert after[name] == before[name], name
    assert any(n.endswith(".svg") for n in before)


# -- paired significance in the leaderboard -------------------------------------------------------------

def test_gain_p_values_in_the_leaderboard_match_an_oracle(tiny_root, run_a):
    from scipy.stats import binomtest

    from qbench.report import load_report_data
    from qbench.report.aggregate import summarize_gains

    data = load_report_data(run_a)
    gains, _ = summarize_gains(data, n_boot=50, seed=0)
    assert list(gains["solver"].unique()) == ["gaussian"]
    payload = json.loads((tiny_root / "leaderboards" / "tiny" / "results.json").read_text())
    by_key = {(r["solver"], r["quality"]): r for r in payload["gains"]}
    for r in gains.to_dict("records"):
        df = data.per_image
        rows = df[(df.solver == r["solver"]) & (df.quality == r["quality"])]
        for g in ("psnr_y_gain", "ssim_y_gain"):
            d = rows[g].to_numpy()
            k, n = int((d > 0).sum()), int((d != 0).sum())
            oracle = binomtest(k, n, 0.5).pvalue if n else 1.0
            assert r[g + "_p"] == pytest.approx(oracle, abs=1e-12)
            assert by_key[(r["solver"], r["quality"])]["p"][g] == pytest.approx(oracle, abs=1e-12)
            assert g + "_p" not in by_key[(r["solver"], r["quality"])]
    md = (tiny_root / "leaderboards" / "tiny" / "leaderboard.md").read_text()
    gains_part = md.split("## Gain over the compressed input")[1].split("\n## ")[0]
    assert "p=" in gains_part and "sign test" in gains_part


# -- the example workflow --------------------------------------------------------------------------------

def test_example_workflow_is_valid_and_uses_existing_commands():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "qbench.yml").read_text())
    steps = wf["jobs"]["quickstart"]["steps"]
    commands = [line.strip() for s in steps if "run" in s for line in s["run"].splitlines()
                if line.strip().startswith("qbench ")]
    assert [c.split()[1] for c in commands] == ["run", "check"]
    for c in commands:
        args = c.split()[1:]
        assert args[0] in main.commands
        for a in args:
            if a.startswith(("suites/", "leaderboards/")):
                assert (REPO / a).exists(), a
        ctx = main.commands[args[0]].make_context(args[0], args[1:], resilient_parsing=True)
        assert ctx.params
    assert any("upload-artifact" in str(s.get("uses", "")) for s in steps)
    baseline = from_baseline(REPO / "leaderboards" / "quickstart")
    assert baseline.name == "quickstart" and len(baseline.frame) > 0


def test_the_committed_quickstart_baseline_is_what_this_code_produces(tmp_path):
    """The CI gate itself: a fresh quickstart run checks clean against leaderboards/quickstart
    (regenerate it with 'qbench leaderboards regenerate quickstart' after an intended change)."""
    from qbench.runner import Runner
    from qbench.suite import load_suite

    out = tmp_path / "qs"
    res = Runner(load_suite(REPO / "suites" / "quickstart.yaml"), out, workers=2, progress=False).run()
    assert not res.failures
    got = CliRunner().invoke(main, ["check", str(out), "--baseline", str(REPO / "leaderboards" / "quickstart"),
                                    "--max-drop-db", "0.1"])              # as the example workflow
    assert got.exit_code == 0, got.output[-3000:]
    assert "no regression" in got.output and "0 worse" in got.output


# -- edge values: +inf (an exact image), one image, lower is better, strict JSON -------------------------

def _values(rows: list[tuple], name: str = "side"):
    """Synthetic per-image values: rows of (image, solver, metric, value) on one dataset and codec point."""
    import pandas as pd

    from qbench.regress.values import COLUMNS, Quantity, Values, _sorted

    frame = pd.DataFrame([("ds", img, f"h-{img}", solver, "jpeg", 10.0, metric, value)
                          for img, solver, metric, value in rows], columns=COLUMNS)
    quantities = {"psnr_y": Quantity(True, "dB", "1"), "lpips": Quantity(False, "", "1"),
                  "bpp": Quantity(False, "bpp", "", "rate")}
    return Values("s", "hash", _sorted(frame), quantities, {}, name)


def _strict_json(text: str):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def test_infinite_values_pair_and_decide_the_status():
    """PSNR of an exact image is +inf: a value, not a missing one. inf on both sides is no change;
    an image that loses its exactness is a regression whatever the tolerance."""
    from qbench.regress.render import render

    inf = float("inf")
    a = _values([("x", "s1", "psnr_y", inf), ("y", "s1", "psnr_y", 30.0), ("z", "s1", "psnr_y", 31.0),
                 ("x", "s2", "psnr_y", inf), ("y", "s2", "psnr_y", 30.0), ("z", "s2", "psnr_y", 31.0),
                 ("x", "s3", "psnr_y", 40.0), ("y", "s3", "psnr_y", 30.0)], "A")
    b = _values([("x", "s1", "psnr_y", inf), ("y", "s1", "psnr_y", 30.0), ("z", "s1", "psnr_y", 31.0),
                 ("x", "s2", "psnr_y", 45.0), ("y", "s2", "psnr_y", 30.5), ("z", "s2", "psnr_y", 31.5),
                 ("x", "s3", "psnr_y", inf), ("y", "s3", "psnr_y", 30.0)], "B")
    c = compare(a, b, CompareOptions(bootstrap=100, significant=True))
    rows = c.rows.set_index("solver")
    assert rows.loc["s1", ["n", "only_a", "only_b", "diff", "status"]].tolist() == [3, 0, 0, 0.0, "same"]
    assert rows.loc["s1", "p_sign"] == 1.0
    assert rows.loc["s2", "n"] == 3 and rows.loc["s2", "diff"] == -inf and rows.loc["s2", "status"] == "worse"
    assert np.isnan(rows.loc["s2", "ci_low"]) and rows.loc["s2", "p_sign"] == pytest.approx(1.0)
    assert rows.loc["s3", "diff"] == inf and rows.loc["s3", "status"] == "better"
    assert c.unpaired.empty and c.regressions == 1
    md = render(c, "md")
    assert "| -inf " in md and "WORSE" in md
    payload = _strict_json(render(c, "json"))
    s2 = next(r for r in payload["rows"] if r["solver"] == "s2")
    assert s2["diff"] is None and s2["status"] == "worse" and payload["regressions"] == 1


def test_one_image_and_lower_is_better():
    """One image: no CI (null in JSON), tests p = 1, the tolerance still decides; lpips down and bpp
    up are worse."""
    from qbench.regress.render import render

    a = _values([("x", "s", "lpips", 0.20), ("x", "s", "bpp", 1.0), ("x", "s", "psnr_y", 30.0)])
    b = _values([("x", "s", "lpips", 0.25), ("x", "s", "bpp", 0.9), ("x", "s", "psnr_y", 30.01)])
    c = compare(a, b, CompareOptions(bootstrap=50))
    st = {r["metric"]: r["status"] for r in c.rows.to_dict("records")}
    assert st == {"bpp": "better", "lpips": "worse", "psnr_y": "same"}
    assert c.rows["n"].tolist() == [1, 1, 1] and c.rows["ci_low"].isna().all()
    payload = _strict_json(render(c, "json"))
    assert all(r["ci_low"] is None for r in payload["rows"])
    assert compare(a, b, CompareOptions(bootstrap=50, significant=True)).regressions == 0


def test_compare_markdown_escapes_names():
    """A label with a table pipe or HTML stays one literal cell of the comparison table."""
    from qbench.regress.render import render

    a = _values([("x", "a|b <script>", "psnr_y", 30.0), ("y", "a|b <script>", "psnr_y", 31.0)])
    b = _values([("x", "a|b <script>", "psnr_y", 29.0), ("y", "a|b <script>", "psnr_y", 30.0)])
    md = render(compare(a, b, CompareOptions(bootstrap=20)), "md")
    row = next(line for line in md.splitlines() if "script" in line)
    assert "<script>" not in md and r"a\|b \<script\>" in row
    assert row.count("|") - row.count(r"\|") == 15                  # 14 columns


def test_a_rate_target_never_pairs_with_a_quality_setting_of_the_same_number(tmp_path):
    """jpeg at target_bpp 1.0 vs jpeg at quality 1: same codec label and 'quality' number, not
    the same experiment: the series stay unpaired."""
    from qbench.regress.values import TARGET_SUFFIX
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    images = tmp_path / "imgs"
    save(smooth_image(5, 40, 48), images / "im0.png")
    runs = {}
    for name, ladder in (("ladder", {"qualities": [1]}), ("target", {"target_bpp": [1.0]})):
        data = _suite(images)
        data.update(name=name, solvers=["identity"], metrics=["psnr_y"],
                    codecs=[{"name": "jpeg", **ladder}])
        runs[name] = tmp_path / name
        assert not Runner(parse_suite(data), runs[name], workers=0, progress=False).run().failures
    a, b = from_run(runs["ladder"]), from_run(runs["target"])
    assert set(a.frame["codec"]) == {"jpeg"} and set(b.frame["codec"]) == {"jpeg" + TARGET_SUFFIX}
    from qbench.errors import ConfigError

    with pytest.raises(ConfigError, match="nothing to compare"):
        compare(a, b)


# -- the gate fails on what the run lacks ---------------------------------------------------------------

def _run_variant(tiny_root: Path, out: Path, **over) -> Path:
    """A real run of the tiny suite with some keys replaced (fewer solvers, points, metrics, images)."""
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    data = _suite(tiny_root / "imgs")
    data.update(over)
    assert not Runner(parse_suite(data), out, workers=0, progress=False).run().failures
    return out


def test_check_fails_when_the_run_lacks_series_of_the_baseline(tiny_root, tmp_path):
    """A run sharing 2 of the baseline's 12 series (one solver, one codec point) used to pass with
    'no regression'; the missing series now fail the gate (exit 3) and are listed."""
    folder = tiny_root / "leaderboards" / "tiny"
    part = _run_variant(tiny_root, tmp_path / "part", solvers=["identity"],
                        codecs=[{"name": "jpeg", "qualities": [10]}])
    runner = CliRunner()
    got = runner.invoke(main, ["check", str(part), "--baseline", str(folder), "--format", "json"])
    assert got.exit_code == 3, got.output
    payload = json.loads(got.stdout)
    assert payload["verdict"] == "missing" and payload["regressions"] == 0
    missing = {(r["solver"], r["quality"], r["metric"]) for r in payload["unpaired"] if r["side"] == "A"}
    assert missing == {(s, q, m) for s in ("identity", "gaussian") for q in (10.0, 50.0)
                       for m in ("psnr_y", "ssim_y", "bpp")} - {("identity", 10.0, m)
                                                                  for m in ("psnr_y", "ssim_y", "bpp")}
    assert "gaussian · jpeg 50 · ssim_y: 3 image(s) of A, none in B" in got.stderr
    assert "incomplete: 9 series of A missing from B" in got.stderr
    assert "no regression" not in got.stderr
    allowed = runner.invoke(main, ["check", str(part), "--baseline", str(folder), "--allow-missing"])
    assert allowed.exit_code == 0, allowed.output
    assert "9 series of A missing from B, allowed by --allow-missing" in allowed.stderr
    # the compared series still gate: a regression there is exit 1 (it takes precedence over missing)
    _shift(part, "psnr_y", "identity", 10.0, [-0.1, -0.1, -0.1])
    assert runner.invoke(main, ["check", str(part), "--baseline", str(folder)]).exit_code == 1
    assert runner.invoke(main, ["check", str(part), "--baseline", str(folder), "--allow-missing"]).exit_code == 1


def test_a_metric_or_an_image_absent_from_the_run_fails_the_gate(tiny_root, run_a, tmp_path):
    """A has ssim_y, B was run without it (as a metric skipped for want of weights): 'compare
    --fail-on-missing' used to exit 0 with a warning. An image of A absent from B fails too."""
    no_ssim = _run_variant(tiny_root, tmp_path / "no_ssim", metrics=["psnr_y"])
    runner = CliRunner()
    got = runner.invoke(main, ["compare", str(run_a), str(no_ssim), "--fail-on-missing"])
    assert got.exit_code == 3, got.output
    assert "ssim_y is measured in A only: its values are missing from B" in got.stderr
    assert "identity · jpeg 10 · ssim_y: 3 image(s) of A, none in B" in got.stderr
    assert runner.invoke(main, ["compare", str(run_a), str(no_ssim), "--allow-missing"]).exit_code == 0
    assert runner.invoke(main, ["compare", str(run_a), str(no_ssim), "--metric", "ssim_y"]).exit_code == 3
    assert runner.invoke(main, ["check", str(no_ssim), "--baseline",
                                str(tiny_root / "leaderboards" / "tiny")]).exit_code == 3
    # B measured a metric A lacks: nothing of A is missing, the extra metric is not compared
    assert runner.invoke(main, ["compare", str(no_ssim), str(run_a)]).exit_code == 0

    fewer = _run_variant(tiny_root, tmp_path / "fewer", datasets=[
        {"name": "folder", "params": {"path": str(tiny_root / "imgs")}, "limit": 2}])
    c = compare(from_run(run_a), from_run(fewer))
    assert c.unpaired.empty and c.verdict == "missing" and len(c.partial) == len(c.rows) == 12
    assert set(c.rows["only_a"]) == {1} and set(c.rows["n"]) == {2}
    got = runner.invoke(main, ["check", str(fewer), "--baseline", str(tiny_root / "leaderboards" / "tiny")])
    assert got.exit_code == 3 and "1 of 3 image(s) of A not in B" in got.stderr


def test_per_image_limit_catches_one_bad_image(run_a, tmp_path):
    """One image loses 0.47 dB while the others gain: the mean is unchanged and passes the
    tolerance; --max-drop-db (dB metrics) and --max-drop METRIC=LIMIT catch the image."""
    b = _copy(run_a, tmp_path / "b")
    _shift(b, "psnr_y", "gaussian", 50.0, [-0.47, 0.2, 0.27])
    _shift(b, "ssim_y", "identity", 10.0, [0.01, -0.02, 0.01])
    runner = CliRunner()
    assert runner.invoke(main, ["compare", str(run_a), str(b)]).exit_code == 0
    got = runner.invoke(main, ["compare", str(run_a), str(b), "--max-drop-db", "0.3", "--format", "json"])
    assert got.exit_code == 1, got.output
    payload = json.loads(got.stdout)
    bad = [r for r in payload["rows"] if r["status"] == "worse"]
    assert [(r["solver"], r["quality"], r["metric"], r["worst_image"]) for r in bad] == [
        ("gaussian", 50.0, "psnr_y", "im0")]
    assert bad[0]["worst"] == pytest.approx(-0.47, abs=1e-9) and bad[0]["max_drop"] == 0.3 and bad[0]["image_drop"]
    assert abs(bad[0]["diff"]) < 0.02 and "by a single image beyond its limit" in got.stderr
    assert runner.invoke(main, ["compare", str(run_a), str(b), "--max-drop-db", "0.5"]).exit_code == 0
    # ssim_y is not in dB: only a limit of its own applies (in its unit)
    md = runner.invoke(main, ["compare", str(run_a), str(b), "--max-drop", "ssim_y=0.015"])
    assert md.exit_code == 1 and "| im1 -0.0200 " in md.stdout and "OVER" in md.stdout
    assert runner.invoke(main, ["compare", str(run_a), str(b), "--max-drop", "ssim_y=0.025"]).exit_code == 0
    # a per-metric limit overrides --max-drop-db for its metric
    assert runner.invoke(main, ["compare", str(run_a), str(b), "--max-drop-db", "0.3",
                                "--max-drop", "psnr_y=0.5"]).exit_code == 0
    for bad_arg in (["--max-drop", "ssim_y"], ["--max-drop", "ssim_y=-1"], ["--max-drop-db", "-0.1"]):
        assert runner.invoke(main, ["compare", str(run_a), str(b), *bad_arg]).exit_code == 2, bad_arg
    typo = runner.invoke(main, ["compare", str(run_a), str(b), "--max-drop", "ssim=0.1"])
    assert typo.exit_code == 2 and "ssim" in typo.output


def test_per_image_limit_of_a_lower_is_better_metric():
    """For LPIPS or bpp a loss is a rise: one image rising past the limit fails, one falling does not."""
    a = _values([("x", "s", "lpips", 0.20), ("y", "s", "lpips", 0.20), ("z", "s", "lpips", 0.20),
                 ("x", "t", "lpips", 0.20), ("y", "t", "lpips", 0.20), ("z", "t", "lpips", 0.20)], "A")
    b = _values([("x", "s", "lpips", 0.26), ("y", "s", "lpips", 0.17), ("z", "s", "lpips", 0.17),
                 ("x", "t", "lpips", 0.14), ("y", "t", "lpips", 0.23), ("z", "t", "lpips", 0.23)], "B")
    assert compare(a, b, CompareOptions(bootstrap=20)).regressions == 0
    c = compare(a, b, CompareOptions(bootstrap=20, max_drop=(("lpips", 0.05),), max_drop_db=0.0))
    rows = c.rows.set_index("solver")
    assert rows.loc["s", "status"] == "worse" and rows.loc["s", "worst"] == pytest.approx(0.06)
    assert rows.loc["s", "worst_image"] == "x"
    assert rows.loc["t", "status"] == "same" and rows.loc["t", "worst"] == pytest.approx(0.03)
    # --max-drop-db alone does not apply to a metric that is not in dB
    assert compare(a, b, CompareOptions(bootstrap=20, max_drop_db=0.0)).regressions == 0


def test_run_strict_fails_when_a_metric_was_skipped(tmp_path, write_suite, monkeypatch):
    """LPIPS without its weights is skipped and the run exits 0; with --strict it exits 3, after
    the run and its reports."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-weights"))
    images = tmp_path / "imgs"
    save(smooth_image(7, 32, 40), images / "a.png")
    suite = write_suite({"name": "strict", "datasets": [{"name": "folder", "params": {"path": str(images)}}],
                         "codecs": [{"name": "jpeg", "qualities": [20]}], "solvers": ["identity"],
                         "metrics": ["psnr_y", "lpips"], "output": {"bootstrap": 10}})
    runner = CliRunner()
    out = tmp_path / "out"
    plain = runner.invoke(main, ["run", str(suite), "--out", str(out), "--workers", "0", "--quiet"])
    assert plain.exit_code == 0, plain.output
    assert "metric lpips skipped" in plain.stderr
    (out / "leaderboard.md").unlink()
    strict = runner.invoke(main, ["run", str(suite), "--out", str(out), "--workers", "0", "--quiet", "--strict"])
    assert strict.exit_code == 3, strict.output
    assert "--strict: 1 metric(s) or diagnostic(s) skipped: lpips" in strict.stderr
    assert "lpips" in (out / "leaderboard.md").read_text().split("Skipped metrics")[1]    # reports written
    diag = runner.invoke(main, ["diagnose", str(suite), "--out", str(out), "--workers", "0", "--quiet", "--strict"])
    assert diag.exit_code == 3 and (out / "diagnostics.md").is_file()
    ok = write_suite({"name": "strict", "datasets": [{"name": "folder", "params": {"path": str(images)}}],
                      "codecs": [{"name": "jpeg", "qualities": [20]}], "solvers": ["identity"],
                      "metrics": ["psnr_y"], "output": {"bootstrap": 10}}, "ok.yaml")
    assert runner.invoke(main, ["run", str(ok), "--out", str(tmp_path / "ok"), "--workers", "0", "--quiet",
                                "--strict"]).exit_code == 0


def _linked_files(folder):
    import re

    md = re.findall(r"\]\(([^)\s]+)\)", (folder / "leaderboard.md").read_text(encoding="utf-8"))
    html = re.findall(r"(?:src|href)='([^'#:]+)'", (folder / "leaderboard.html").read_text(encoding="utf-8"))
    return sorted(set(md + html))


def test_a_regenerated_leaderboard_holds_every_file_its_pages_link(tiny_root):
    """The panels the reports embed are committed beside them, at the path the pages link to."""
    folder = tiny_root / "leaderboards" / "tiny"
    links = _linked_files(folder)
    assert any(link.startswith("figures/panels/") for link in links)
    assert [link for link in links if not (folder / link).is_file()] == []


def test_committed_leaderboards_hold_every_file_their_pages_link():
    root = Path(__file__).resolve().parents[1] / "leaderboards"
    folders = [p.parent for p in sorted(root.glob("*/leaderboard.md"))]
    assert folders
    missing = {f.name: [link for link in _linked_files(f) if not (f / link).is_file()] for f in folders}
    assert {k: v for k, v in missing.items() if v} == {}
