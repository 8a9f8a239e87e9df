"""Published baselines: a paper's dataset means checked with ``qbench check`` and reproduced with
``qbench leaderboards check literature``."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qbench.cli import main
from qbench.datasets.builtin import PinnedDataset
from qbench.errors import ConfigError
from qbench.images import read_image
from qbench.leaderboards import literature_names
from qbench.regress.published import literature_tables, load_published
from qbench.runner import Runner
from qbench.suite import load_suite, parse_suite

from .conftest import REPO, basic_suite
from .test_metrics_core import np_psnr

TABLES = literature_tables(REPO)


def _tiny_run(folder: Path, out: Path) -> dict[float, float]:
    """Run JPEG QF 30/60 on the four test images; return the numpy-oracle mean PSNR per quality,
    computed from the cached bitstreams (decoded by Pillow) and the original files."""
    data = basic_suite(folder, codecs=[{"name": "jpeg", "qualities": [30, 60]}], metrics=["psnr_rgb"],
                       output={"bootstrap": 0})
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    db = sqlite3.connect(out / "results.sqlite")
    per_q: dict[float, list[float]] = {}
    for image, q, path in db.execute("SELECT p.image, p.quality, e.bytes_path FROM plan p "
                                      "JOIN encodings e ON e.enc_key = p.enc_key"):
        per_q.setdefault(q, []).append(np_psnr(read_image(folder / f"{image}.png"), read_image(path)))
    return {q: float(np.mean(v)) for q, v in per_q.items()}


def _table(folder: Path, means: dict[float, float], images: int = 4, tolerance: float = 1e-6, **over) -> Path:
    rows = [{"dataset": "imgs", "solver": "identity", "codec": "jpeg", "quality": q, "metric": "psnr_rgb",
             "value": v, "tolerance": tolerance} for q, v in sorted(means.items())]
    meta = {"format": 1, "kind": "published", "suite": "t", "source": "numpy oracle on the cached bitstreams",
            "protocol": "JPEG QF 30/60, PSNR on RGB", "tolerance_why": "float rounding only",
            "images": {"imgs": images}, "rows": rows} | over
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "published.json").write_text(json.dumps(meta))
    return folder


def test_check_compares_run_means_with_a_published_table(image_folder, tmp_path):
    out = tmp_path / "run"
    means = _tiny_run(image_folder, out)
    cli = CliRunner()

    good = _table(tmp_path / "good", means)
    r = cli.invoke(main, ["check", str(out), "--baseline", str(good)])
    assert r.exit_code == 0, r.output
    assert "all 2 published values reproduced" in r.output and "| ok |" in r.output

    # beyond the tolerance, either way: not reproduced
    off = _table(tmp_path / "off", {q: v + (0.01 if q == 30 else -0.01) for q, v in means.items()}, tolerance=0.005)
    r = cli.invoke(main, ["check", str(out), "--baseline", str(off), "--format", "json"])
    assert r.exit_code == 1
    got = json.loads(r.output[: r.output.rindex("}") + 1])
    assert [row["status"] for row in got["rows"]] == ["differs", "differs"]
    assert got["rows"][0]["diff"] == pytest.approx(-0.01, abs=1e-9)

    # a row the run lacks, and a dataset with more images than were measured
    missing = _table(tmp_path / "missing", means | {70.0: 30.0})
    r = cli.invoke(main, ["check", str(out), "--baseline", str(missing)])
    assert r.exit_code == 3 and "| missing |" in r.output and "1 missing" in r.output
    short = _table(tmp_path / "short", means, images=5)
    r = cli.invoke(main, ["check", str(out), "--baseline", str(short)])
    assert r.exit_code == 3 and r.output.count("| incomplete |") == 2
    both = _table(tmp_path / "both", {30.0: means[30.0] + 1.0, 70.0: 30.0}, tolerance=0.005)
    r = cli.invoke(main, ["check", str(out), "--baseline", str(both)])
    assert r.exit_code == 1                                # a difference wins over a missing value

    # --allow-missing and --metric apply to a published table too; per-image options are refused
    r = cli.invoke(main, ["check", str(out), "--baseline", str(missing), "--allow-missing"])
    assert r.exit_code == 0 and "| missing |" in r.output, r.output
    r = cli.invoke(main, ["check", str(out), "--baseline", str(both), "--allow-missing"])
    assert r.exit_code == 1
    r = cli.invoke(main, ["check", str(out), "--baseline", str(good), "--metric", "ssim_y"])
    assert r.exit_code == 2 and "no published value of metric(s) ssim_y" in r.output
    r = cli.invoke(main, ["check", str(out), "--baseline", str(good), "--metric", "psnr_rgb"])
    assert r.exit_code == 0
    for opt in (["--tol-db", "5"], ["--max-drop-db", "0.1"], ["--max-drop", "psnr_rgb=1"], ["--significant"]):
        r = cli.invoke(main, ["check", str(out), "--baseline", str(off)] + opt)
        assert r.exit_code == 2 and f"{opt[0]} does not apply to a published table" in r.output, (opt, r.output)


def test_committed_tables_name_their_suite_rows_and_sources():
    assert set(TABLES) >= {"jpeg_classic5", "jpeg_live1", "sr_bicubic_x2", "sr_bicubic_x3", "sr_bicubic_x4",
                           "sain_bicubic_set5_set14"}
    for name in TABLES:
        pub = load_published(REPO / "leaderboards" / "literature" / name)
        suite = load_suite(REPO / "suites" / f"{pub.suite}.yaml")
        labels = {d.label for d in suite.datasets}
        solvers = {getattr(s, "label", None) or getattr(s, "name", s) for s in suite.solvers}
        metrics = {getattr(m, "name", m) for m in suite.metrics}
        for row in pub.rows:
            assert row.dataset in labels and row.metric in metrics, (name, row)
            assert row.solver in solvers, (name, row)
            codec = next(c for c in suite.codecs if (c.label or c.name) == row.codec)
            assert row.quality in [float(q) for q in codec.qualities], (name, row)
            assert 0 < row.tolerance < 0.1
        for ds, n in pub.images.items():
            assert PinnedDataset(ds).expected_count in (0, n), (name, ds)
        assert pub.source and pub.protocol and pub.tolerance_why


def test_unknown_table_names_the_tables():
    with pytest.raises(ConfigError, match="no published table 'sr_bicubic_x5'.*did you mean 'sr_bicubic_x4'"):
        literature_names(["sr_bicubic_x5"], REPO)
    assert literature_names(["literature/sr_bicubic_x3"], REPO) == ["sr_bicubic_x3"]
    assert literature_names([], REPO) == TABLES
    listed = CliRunner().invoke(main, ["leaderboards", "ls", "--root", str(REPO)]).output
    assert all(f"literature/{t}" in listed for t in TABLES)


# -- the published tables reproduced through the CLI (where the datasets are on disk) -------------
#: read before the per-test isolation (conftest removes QBENCH_DATA from each test's environment)
DATA_ENV = os.environ.get("QBENCH_DATA")
RUN_LITERATURE = os.environ.get("QBENCH_LITERATURE") == "1"


def _data_root(datasets) -> Path | None:
    for root in ([Path(DATA_ENV)] if DATA_ENV else []) + [REPO.parent / "shared" / "datasets"]:
        if all(not PinnedDataset(d, data_root_override=str(root)).missing() for d in datasets):
            return root
    return None


@pytest.mark.parametrize("name", TABLES)
def test_the_literature_is_reproduced_through_qbench_run(name, tmp_path):
    if not RUN_LITERATURE:
        pytest.skip("reproducing a published table takes minutes: set QBENCH_LITERATURE=1 (with the datasets "
                    "under $QBENCH_DATA) to run it")
    pub = load_published(REPO / "leaderboards" / "literature" / name)
    root = _data_root(pub.images)
    if root is None:
        pytest.skip(f"{', '.join(pub.images)} not found under $QBENCH_DATA or {REPO.parent / 'shared' / 'datasets'}")
    p = subprocess.run([sys.executable, "-m", "qbench.cli", "leaderboards", "check", name, "--root", str(REPO),
                        "--data-root", str(root), "--out", str(tmp_path), "--workers", "0", "--format", "json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    got = json.loads(p.stdout)
    assert got["failed"] == 0 and all(r["n_failed"] == 0 for r in got["rows"])
