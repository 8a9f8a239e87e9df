"""Cost measurement: latency is the median of repeated calls after warm-up on a probe the suite
sets; codecs get encode and decode rows from every encoding of the run."""

import json
import sqlite3

import numpy as np
import pytest

from qbench.report import write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import basic_suite


def test_latency_is_the_median_of_the_timed_calls_after_warm_up(monkeypatch):
    """A scripted clock: each call of the probed function takes the next duration."""
    import qbench.solvers.engine as engine

    durations = iter([9.0, 7.0, 8.0,            # the FLOP count and two warm-up calls: not timed
                      0.5, 0.1, 0.3, 0.2, 0.4])
    clock = [0.0]
    calls = []

    def fn(x):
        calls.append(tuple(x.shape))
        clock[0] += next(durations)
        return x

    monkeypatch.setattr(engine.time, "perf_counter", lambda: clock[0])
    cost = engine.measure_cost(None, fn, channels=3, device="cpu", size=40, repeats=5)
    mp = 40 * 40 / 1e6
    assert calls == [(1, 3, 40, 40)] * 8
    assert cost.repeats == 5 and cost.probe == 40
    assert cost.seconds_per_mp == pytest.approx(0.3 / mp)
    assert (cost.seconds_low, cost.seconds_high) == pytest.approx((0.1 / mp, 0.5 / mp))


def _costs(out):
    with sqlite3.connect(out / "results.sqlite") as db:
        return db.execute("SELECT c.label, l.probe, l.repeats, c.run_id FROM costs c JOIN cost_latency l "
                          "ON l.spec_hash = c.spec_hash AND l.device = c.device").fetchall()


def test_probe_size_and_repeats_from_the_suite_and_codec_time_rows(image_folder, tmp_path):
    from .solvers_for_tests import Batched

    solver = {"name": "tests.solvers_for_tests:Batched", "label": "b"}
    data = basic_suite(image_folder, codecs=[{"name": "jpeg", "qualities": [20, 60]}], solvers=["identity", solver],
                       metrics=["psnr_rgb"], output={"cost_probe": 40, "cost_repeats": 3})
    out = tmp_path / "out"
    Batched.calls.clear()
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    # the FLOP count, two warm-up calls and three timed calls, each on one 40 px probe
    assert Batched.calls[:6] == [1] * 6 and sum(Batched.calls[6:]) == 8
    assert [(label, probe, repeats) for label, probe, repeats, _ in _costs(out)] == [("b", 40, 3)]
    write_reports(out)

    costs = {(r["label"], r["step"]): r for r in json.loads((out / "results.json").read_text())["costs"]}
    probe = costs[("b", "solve")]
    assert probe["n"] == 3 and probe["probe"] == 40 and probe["spread"] == "min-max"
    assert probe["seconds_low"] <= probe["seconds_per_mp"] <= probe["seconds_high"]
    with sqlite3.connect(out / "results.sqlite") as db:
        enc = db.execute("SELECT e.seconds, e.pixels, t.encode, t.decode FROM encodings e JOIN code_seconds t "
                         "ON t.enc_key = e.enc_key").fetchall()
    assert len(enc) == 8                                        # 4 images x 2 qualities, each timed
    assert all(total == pytest.approx(e + d) for total, _, e, d in enc)
    for step, col in (("encode", 2), ("decode", 3)):
        row = costs[("jpeg", step)]
        per_mp = np.array([r[col] / (r[1] / 1e6) for r in enc])
        assert row["kind"] == "codec" and row["n"] == 8 and row["spread"] == "p25-p75"
        assert row["seconds_per_mp"] == pytest.approx(np.median(per_mp))
        assert (row["seconds_low"], row["seconds_high"]) == pytest.approx(tuple(np.quantile(per_mp, [0.25, 0.75])))
    md = (out / "leaderboard.md").read_text()
    section = md[md.index("## Solvers and cost"):]
    assert "3 calls on 40 px" in section
    assert sum(line.startswith("| jpeg ") and "8 encodings" in line for line in section.splitlines()) == 2

    # a rerun reuses the measured cost; a new probe size measures again
    first = _costs(out)
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert _costs(out) == first
    data["output"]["cost_probe"] = 48
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert [(label, probe) for label, probe, _, _ in _costs(out)] == [("b", 48)]
