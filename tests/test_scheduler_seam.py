"""The runner/scheduler seam: the scheduler reports to any recorder and never writes the store."""

import sqlite3

from qbench.cachefile import OK, check
from qbench.runner.device import DeviceStage
from qbench.runner.executor import make_executor
from qbench.runner.plan import plan_todo
from qbench.runner.schedule import Scheduler
from qbench.store import Store
from qbench.suite import parse_suite

from .conftest import basic_suite, plan_suite


class ListRecorder:
    """Keeps what the scheduler reports, in memory."""

    def __init__(self):
        self.results, self.artefacts, self.failures, self.outputs, self.lines = [], [], [], 0, []

    def record(self, result):
        self.results.append(result)

    def record_artefact(self, row):
        self.artefacts.append(row)

    def fail(self, key, stage, detail, exc, component=""):
        self.failures.append((key, stage, detail, str(exc)))

    def output_computed(self):
        self.outputs += 1

    def log(self, msg):
        self.lines.append(msg)


class Bar:
    n = 0

    def update(self, k):
        self.n += k


def test_the_scheduler_reports_to_a_recorder_and_leaves_the_store_alone(image_folder, tmp_path):
    suite = parse_suite(basic_suite(image_folder, solvers=["identity", "gaussian"], metrics=["psnr_y"]))
    store = Store(tmp_path / "results.sqlite")
    comps, pipes, samples = plan_suite(suite, store)
    todo = plan_todo(samples, pipes, comps.metrics, comps.diagnostics, store,
                     lambda path, sha: check(path, sha) == OK)
    rec, bar = ListRecorder(), Bar()
    Scheduler(rec, todo, pipes, make_executor("local", 0), DeviceStage("cpu", 0, lambda *a: None), bar,
              cache_dir=tmp_path / "cache", codec_names={c.label: c.spec_name for c in comps.codecs},
              quantize=True, keep_images=False).run()
    assert not rec.failures and bar.n == len(samples) == 16
    assert rec.outputs == 8                                  # the gaussian outputs; identity is the codec's
    assert len([r for r in rec.results if r.encoding is not None]) == 8
    measured = {(v.key, v.role) for r in rec.results for v in r.values}
    assert measured == {(s.out_key, s.out_role) for s in samples}
    store.close()
    db = sqlite3.connect(tmp_path / "results.sqlite")
    assert db.execute('SELECT COUNT(*) FROM "values"').fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM encodings").fetchone()[0] == 0
