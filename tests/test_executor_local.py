"""The local executor keeps an image's jobs on one worker, and the scheduler deals images to lanes,
so each worker reads and prepares an original once (not once per worker)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from types import SimpleNamespace

from qbench.runner.executor import LocalExecutor
from qbench.runner.schedule import interleave


@dataclass(frozen=True)
class Job:
    affinity: str


def whose(job: Job) -> tuple[str, int]:
    """The job's image and the process that ran it."""
    time.sleep(0.01)
    return job.affinity, os.getpid()


def test_interleave_deals_images_to_lanes_in_turn():
    queue = [(None, SimpleNamespace(image_hash=img, q=q)) for img in "abcde" for q in (1, 2)]
    order = [(j.image_hash, j.q) for _, j in interleave(queue, 2)]
    assert order == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("c", 1), ("d", 1), ("c", 2), ("d", 2),
                     ("e", 1), ("e", 2)]
    assert interleave(queue, 1) == queue
    assert sorted(map(id, interleave(queue, 3))) == sorted(map(id, queue))


def test_jobs_of_one_image_run_on_one_worker():
    ex = LocalExecutor(2)
    try:
        jobs = [Job(img) for _ in range(12) for img in ("a", "b")]      # the scheduler's interleaved order
        handles = [ex.submit(whose, j) for j in jobs]
        pending = set(handles)
        while pending:
            pending -= ex.wait(pending, timeout=60)
        pids: dict[str, set[int]] = {}
        for h in handles:
            img, pid = ex.result(h)
            pids.setdefault(img, set()).add(pid)
    finally:
        ex.close()
    assert len(pids["a"]) == 1 and len(pids["b"]) == 1 and pids["a"] != pids["b"], pids


def test_a_busy_home_worker_hands_the_image_on():
    ex = LocalExecutor(2)
    try:
        picks = [ex.pick("a") for _ in range(ex.slack + 2)]        # nothing finishes: loads grow
        new = ex.pick("b")
    finally:
        ex.close()
    # the home worker keeps the image until it has more than `slack` jobs over the least busy one
    assert picks == [0] * (ex.slack + 1) + [1]
    assert new == 1                                    # a new image: the next worker in turn


def test_a_first_run_starts_the_forkserver_before_indexing_a_rerun_does_not(image_folder, write_suite, tmp_path,
                                                                            monkeypatch):
    """A new store (first or --fresh run) starts the pool's forkserver before the datasets are
    indexed and planned, so its interpreter starts meanwhile; a rerun into an existing store
    starts nothing before it knows there is work."""
    import qbench.runner.run as run_mod
    from .conftest import basic_suite
    from qbench.runner import Runner
    from qbench.suite import load_suite

    events: list[str] = []
    start, index = LocalExecutor.start, run_mod.index_dataset
    monkeypatch.setattr(LocalExecutor, "start", lambda self: (events.append("start"), start(self))[1])
    monkeypatch.setattr(run_mod, "index_dataset", lambda *a, **k: (events.append("index"), index(*a, **k))[1])
    suite = load_suite(write_suite(basic_suite(image_folder, metrics=["psnr_rgb"])))
    out = tmp_path / "out"
    Runner(suite, out, device="cpu", workers=2).run()
    assert events[0] == "start" and "index" in events
    events.clear()
    result = Runner(suite, out, device="cpu", workers=2).run()
    assert events and "start" not in events and not result.computed_anything
    events.clear()
    Runner(suite, out, device="cpu", workers=2, fresh=True).run()
    assert events[0] == "start"


def test_start_returns_before_the_forkserver_is_ready_and_the_workers_then_run_jobs():
    """``start`` only launches the forkserver (no waiting for its imports); jobs then run on
    workers forked from it."""
    import subprocess
    import sys

    code = ("import os, time\n"
            "if __name__ == '__main__':\n"
            "    from multiprocessing import forkserver\n"
            "    from qbench.runner.executor import LocalExecutor\n"
            "    ex = LocalExecutor(2)\n"
            "    ex.start()\n"
            "    pid = forkserver._forkserver._forkserver_pid\n"
            "    assert pid is not None and os.waitpid(pid, os.WNOHANG) == (0, 0)\n"
            "    futs = [p.submit(os.getpid) for p in ex.pools]\n"
            "    pids = {f.result(timeout=60) for f in futs}\n"
            "    assert len(pids) == 2 and os.getpid() not in pids\n"
            "    assert forkserver._forkserver._forkserver_pid == pid\n"
            "    ex.close()\n"
            "    print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr
