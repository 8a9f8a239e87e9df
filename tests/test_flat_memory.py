"""What a run holds at once does not grow with the dataset: jobs in flight, KID's feature vectors."""

import tracemalloc

import numpy as np
import pytest

from qbench.cachefile import OK, check
from qbench.metrics.distribution import FeatureStats, kid_from_features
from qbench.runner.device import DeviceStage
from qbench.runner.plan import plan_todo
from qbench.runner.schedule import Scheduler
from qbench.store import Store
from qbench.suite import parse_suite

from .conftest import basic_suite, plan_suite, save, smooth_image
from .test_scheduler_seam import Bar, ListRecorder


class BusyExecutor:
    """A pool that is always behind: a job runs only when the scheduler waits, one per wait,
    oldest first. Counts the most jobs submitted and not yet handed back."""

    name = "busy"
    workers = 1

    def __init__(self):
        self.pending: dict = {}
        self.done: dict = {}
        self.most = 0

    def submit(self, fn, job):
        handle = object()
        self.pending[handle] = (fn, job)
        self.most = max(self.most, len(self.pending) + len(self.done))
        return handle

    def wait(self, handles, timeout=None):
        handles = set(handles)
        ready = {h for h in handles if h in self.done}
        if not ready:
            h = next(h for h in self.pending if h in handles)
            fn, job = self.pending.pop(h)
            try:
                self.done[h] = (True, fn(job))
            except Exception as exc:
                self.done[h] = (False, exc)
            ready = {h}
        return ready

    def result(self, handle):
        ok, value = self.done.pop(handle)
        if not ok:
            raise value
        return value

    def close(self):
        pass


def _folder(tmp_path, n):
    folder = tmp_path / "imgs"
    for i in range(n):
        save(smooth_image(100 + i, 24, 32), folder / f"{i:02d}.png")
    return folder


def _schedule(tmp_path, data, store):
    suite = parse_suite(data)
    comps, pipes, samples = plan_suite(suite, store)
    todo = plan_todo(samples, pipes, comps.metrics, comps.diagnostics, store,
                     lambda path, sha: check(path, sha) == OK)
    ex, rec, bar = BusyExecutor(), ListRecorder(), Bar()
    sched = Scheduler(rec, todo, pipes, ex, DeviceStage("cpu", 0, lambda *a: None), bar,
                      cache_dir=tmp_path / "cache", codec_names={c.label: c.spec_name for c in comps.codecs},
                      quantize=True, keep_images=False)
    sched.run()
    return sched, ex, rec, bar, samples


def test_jobs_in_flight_stay_bounded_however_many_images(tmp_path):
    """24 images x 2 codec points x 2 solvers with a no-reference metric (one job per original
    too): the scheduler never has more than twice its in-flight limit submitted to a slow pool."""
    store = Store(tmp_path / "results.sqlite")
    data = basic_suite(_folder(tmp_path, 24), solvers=["identity", "gaussian"], metrics=["psnr_y", "bef_y"])
    sched, ex, rec, bar, samples = _schedule(tmp_path, data, store)
    assert not rec.failures and bar.n == len(samples) == 96
    measured = {(v.key, v.role) for r in rec.results for v in r.values}
    assert {(s.out_key, s.out_role) for s in samples} <= measured
    assert {s.image.pixel_hash for s in samples} <= {k for k, _ in measured}      # every original's bef_y
    assert ex.most <= 2 * sched.max_inflight, ex.most
    from qbench.runner import stages

    assert len(stages._IMAGES) <= 16         # originals cached by this process (it ran the jobs): a few images
    store.close()


def test_kid_feature_vectors_are_not_held_in_memory_and_kid_is_unchanged(tmp_path):
    """FeatureStats with ``keep`` holds a fixed amount of memory however many vectors it has
    seen, and KID from the kept vectors equals KID from the same vectors as an array."""
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(1200, 64)), rng.normal(0.2, 1.1, size=(90, 64))
    sa = FeatureStats(dim=64, keep=True)
    sa.update(a[:10])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for chunk in np.array_split(a[10:], 20):
            sa.update(chunk)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 << 10, grown                       # 1190 float32 rows of 64 would be 298 KiB
    sb = FeatureStats(dim=64, keep=True, spill_dir=tmp_path)
    for chunk in np.array_split(b, 9):
        sb.update(chunk)
    f1, f2 = a.astype(np.float32), b.astype(np.float32)  # what used to be kept in memory
    assert np.array_equal(sa.features(), f1)
    expected = kid_from_features(f1, f2, seed=3)
    assert kid_from_features(sa.kept(), sb.kept(), seed=3) == expected
    assert kid_from_features(sa.kept(max_bytes=0), sb.kept(max_bytes=0), seed=3) == expected    # row by row
    assert not list(tmp_path.iterdir())                  # the file is unnamed
    sa.close()
    sb.close()


def test_kept_rows_read_like_an_array(tmp_path):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(50, 8))
    st = FeatureStats(dim=8, keep=True, spill_dir=tmp_path)
    st.update(x)
    idx = rng.choice(50, 20, replace=False)
    for rows in (st.kept(), st.kept(max_bytes=0)):          # read whole, read by row
        assert rows.shape == (50, 8) and rows[idx].dtype == np.float64
        assert np.array_equal(rows[idx], x.astype(np.float32)[idx].astype(np.float64))
        assert np.array_equal(rows[-1], x.astype(np.float32)[-1:].astype(np.float64))
        with pytest.raises(IndexError):
            rows[[50]]
    assert FeatureStats(dim=8).kept().shape == (0, 8)
