"""Quick runs: ``qbench run SUITE --limit N --solvers a,b --codecs c`` narrows a suite without editing it."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

from qbench.cli import main
from qbench.errors import ConfigError
from qbench.narrow import SUFFIX, narrow_suite
from qbench.suite import parse_suite

from .conftest import basic_suite


def _suite(folder, **over):
    return basic_suite(folder, codecs=[{"name": "jpeg", "qualities": [20, 60]},
                                       {"name": "webp", "qualities": [50], "label": "webp50"}],
                       solvers=["identity", "gaussian"], anchor="jpeg", **over)


def test_narrowed_suite_says_so_and_keeps_only_what_was_asked(image_folder):
    suite = parse_suite(_suite(image_folder))
    assert narrow_suite(suite) is suite
    quick = narrow_suite(suite, limit=2, solvers="gaussian", codecs="webp50")
    assert quick.hash().endswith(SUFFIX) and quick.hash() != suite.hash()
    assert [d.limit for d in quick.datasets] == [2]
    assert [s.key for s in quick.solvers] == ["gaussian"] and [c.key for c in quick.codecs] == ["webp50"]
    assert quick.anchor is None                       # the anchor codec was left out
    assert quick.narrowed == {"limit": 2, "solvers": ["gaussian"], "codecs": ["webp50"]}
    # a dataset's own smaller limit stays; another narrowing is another identity
    small = parse_suite(_suite(image_folder, datasets=[{"name": "folder", "params": {"path": str(image_folder)},
                                                        "limit": 1}]))
    assert narrow_suite(small, limit=3).datasets[0].limit == 1
    assert narrow_suite(suite, limit=3).hash() != narrow_suite(suite, limit=2).hash()
    assert narrow_suite(suite, codecs=["jpeg"]).anchor == "jpeg"


def test_unknown_names_are_a_config_error_with_a_suggestion(image_folder):
    suite = parse_suite(_suite(image_folder))
    with pytest.raises(ConfigError, match=r"gausian.*did you mean 'gaussian'"):
        narrow_suite(suite, solvers="identity,gausian")
    with pytest.raises(ConfigError, match="--codecs: not in the suite: 'avif'"):
        narrow_suite(suite, codecs="avif")


def test_quick_run_then_full_run_reuses_its_samples(image_folder, write_suite, tmp_path):
    path = write_suite(_suite(image_folder))
    out = tmp_path / "out"
    base = ["run", str(path), "--out", str(out), "--quiet", "--workers", "0"]
    quick = CliRunner().invoke(main, [*base, "--limit", "2", "--solvers", "gaussian", "--codecs", "jpeg"])
    assert quick.exit_code == 0, quick.output
    assert f"{SUFFIX})" in quick.output                     # the printed identity says it was narrowed
    db = sqlite3.connect(out / "results.sqlite")
    (h1, js1), = db.execute("SELECT suite_hash, suite_json FROM runs").fetchall()
    assert h1.endswith(SUFFIX) and json.loads(js1)["narrowed"]["limit"] == 2
    assert db.execute("SELECT COUNT(*) FROM plan WHERE suite_hash = ?", (h1,)).fetchone() == (4,)   # 2 images x 2 q
    db.close()
    full = CliRunner().invoke(main, base)
    assert full.exit_code == 0, full.output
    # 4 images x (2 jpeg + 1 webp) x 2 solvers = 24 samples; the quick run's 4, and the 4 identity
    # samples of the same encodings (measured by the quick run as its compressed images), are reused
    assert "16 of 24 samples to compute (8 already in the store)" in full.output
    assert "24 samples (8 reused): 8 encodings" in full.output
    db = sqlite3.connect(out / "results.sqlite")
    hashes = [r[0] for r in db.execute("SELECT suite_hash FROM runs ORDER BY run_id")]
    assert hashes[0] == h1 and not hashes[1].endswith(SUFFIX)


def test_unknown_names_exit_2(image_folder, write_suite, tmp_path):
    path = write_suite(_suite(image_folder))
    for opt in (["--solvers", "identity,nope"], ["--codecs", "jpg"]):
        r = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "o"), "--quiet", *opt])
        assert r.exit_code == 2, r.output
        assert "not in the suite" in r.output
        assert not (tmp_path / "o").exists()
