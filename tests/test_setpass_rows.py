"""The set-level pass reads the store and yields rows; the runner writes them."""

import sqlite3

import pytest

from qbench.cachefile import OK, check
from qbench.runner import Runner
from qbench.store import Store
from qbench.suite import parse_suite

from .conftest import basic_suite, plan_suite, save, smooth_image


def test_the_set_pass_yields_rows_from_a_read_only_store(tmp_path, monkeypatch, one_torch_thread):
    from qbench.runner.setpass import SetValue, set_pass

    from .test_metrics_distribution import install_random_inception

    install_random_inception(monkeypatch)
    folder = tmp_path / "imgs"
    for i in range(3):
        save(smooth_image(40 + i, 64, 80), folder / f"{i}.png")
    suite = parse_suite(basic_suite(folder, codecs=[{"name": "jpeg", "qualities": [10]}], metrics=["fid"]))
    out = tmp_path / "run"
    runner = Runner(suite, out, workers=0, progress=False, device="cpu")
    res = runner.run()
    assert not res.failures
    db = sqlite3.connect(out / "results.sqlite")
    stored, set_key = db.execute("SELECT value, set_key FROM set_values WHERE ref_role = 'original'").fetchone()
    plan = db.execute("SELECT COUNT(*) FROM plan").fetchone()[0]
    db.close()
    store = Store(out / "results.sqlite", readonly=True)
    comps, pipes, samples = plan_suite(suite, store)
    assert len(samples) == plan == 3
    rows = list(set_pass(store, comps, samples, suite, "another suite", "cpu",
                         lambda path, sha, quiet=False: check(path, sha) == OK))
    store.close()
    assert rows and all(isinstance(r, SetValue) for r in rows)
    fid = next(r for r in rows if r.ref_role == "original")
    assert fid.value == pytest.approx(stored, rel=1e-6, abs=1e-9) and fid.n_images == 3 and fid.set_key == set_key
