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
