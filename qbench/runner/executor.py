"""Executors run pure stage functions (:mod:`.stages`) somewhere and hand back their results.

The protocol is small: ``submit(fn, job) -> handle``, ``wait(handles, timeout) -> done handles``,
``result(handle)`` (raises the stage's exception), ``close()``. The runner's main process stays
the only store writer and the only user of the device; executors run the CPU stages:

* ``inline``: in the calling process, at submit time (``--workers 0``; debugging, tests);
* ``local``: ``--workers N`` processes, one intra-op thread each, jobs of one image kept on one
  worker where the load allows (:class:`LocalExecutor`);
* ``ray``: a Ray cluster (``pip install qbench[ray]``; :mod:`.ray_executor`).
"""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any, Callable, Iterable, Protocol

from ..errors import ConfigError


class WorkerLost(RuntimeError):
    """The worker process running a job died (killed, out of memory) before returning; the
    scheduler runs the job once more on a fresh worker."""


class Executor(Protocol):
    """What the scheduler needs of an executor: submit jobs, wait for some, read results."""

    name: str
    workers: int

    def submit(self, fn: Callable, job: Any) -> Any:
        """Start ``fn(job)``; returns a handle."""

    def wait(self, handles: Iterable[Any], timeout: float | None = None) -> set:
        """The handles of ``handles`` that are done (at least one, unless ``timeout`` passes)."""

    def result(self, handle: Any) -> Any:
        """The result of a finished job (raises what the job raised)."""

    def close(self) -> None:
        """Stop the workers; pending jobs are cancelled."""


class InlineExecutor:
    """Runs each job when it is submitted, in this process."""

    name = "inline"
    workers = 1

    def submit(self, fn: Callable, job: Any) -> cf.Future:
        """Run ``fn(job)`` now; a finished future."""
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(job))
        except Exception as exc:
            fut.set_exception(exc)
        return fut

    def wait(self, handles: Iterable[cf.Future], timeout: float | None = None) -> set:
        """The finished handles (all of this executor's are; a device process's may not be)."""
        done, _ = cf.wait(list(handles), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    def result(self, handle: cf.Future) -> Any:
        """The job's result (raises what it raised)."""
        return handle.result()

    def close(self) -> None:
        """Nothing to stop."""
        pass


class LocalExecutor:
    """``workers`` worker processes (forkserver; spawn when CUDA is in use), each its own
    one-process pool, so a job can go where its image already is: a job with an ``affinity``
    (the pixel hash of the original it measures against) goes to the worker that last took one
    of that image (a new image: to the workers in turn), unless that worker has more than
    :attr:`slack` jobs more than the least busy one (then to the least busy, which becomes the
    image's worker). A worker's caches (the
    original, its prepared metric references) then serve all the codec points of an image: on the
    Kodak JPEG run (24 images, 2 workers) MS-SSIM references were prepared 27-30 times, 44-48
    with one shared pool.

    Workers die with this process (:mod:`.lifeline`). When a worker dies its pool breaks: the
    jobs in flight on it raise :class:`WorkerLost` and its next submit starts a new one."""

    name = "local"
    slack = 4

    def __init__(self, workers: int, device: str = "cpu"):
        import multiprocessing as mp
        import os
        import threading

        from .lifeline import forkserver_preload

        self.workers = workers
        self._ctx = mp.get_context("spawn" if device.startswith("cuda") else "forkserver")
        if self._ctx.get_start_method() == "forkserver":
            self._ctx.set_forkserver_preload(forkserver_preload())
        self._main_pid = os.getpid()
        self.pools = [self._new_pool() for _ in range(workers)]
        self.load = [0] * workers                    # jobs submitted and not finished, per worker
        self.home: dict[str, int] = {}               # affinity -> the worker that last took it
        self._turn = 0                               # the worker for the next new affinity
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the forkserver now and return at once: its interpreter imports its preload
        modules while this process goes on, and the workers fork from it on their first jobs.
        (Starting workers from another thread would tie their lives to that thread: the
        parent-death signal of :mod:`.lifeline` fires when the thread that started a process ends.)
        Nothing to do with the spawn start method."""
        if self._ctx.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        from .stages import init_worker

        return cf.ProcessPoolExecutor(max_workers=1, mp_context=self._ctx, initializer=init_worker,
                                      initargs=(1, self._main_pid))

    def pick(self, affinity: str | None) -> int:
        """The worker for a job with ``affinity`` (None: the least busy). A new affinity goes to
        the workers in turn (the scheduler deals images to lanes in turn, see
        :func:`.schedule.interleave`), a known one to its worker; either unless that worker has
        more than :attr:`slack` jobs more than the least busy one."""
        with self._lock:
            least = min(range(self.workers), key=self.load.__getitem__)
            if affinity is None:
                i = least
            else:
                i = self.home.get(affinity)
                if i is None:
                    i, self._turn = self._turn, (self._turn + 1) % self.workers
                if self.load[i] > self.load[least] + self.slack:
                    i = least
                self.home[affinity] = i
            self.load[i] += 1
        return i

    def _finished(self, i: int) -> None:
        with self._lock:
            self.load[i] -= 1

    def submit(self, fn: Callable, job: Any) -> cf.Future:
        """Submit ``fn(job)`` to the worker :meth:`pick` chooses (a new one when it died)."""
        from concurrent.futures.process import BrokenProcessPool

        i = self.pick(getattr(job, "affinity", None))
        try:
            fut = self.pools[i].submit(fn, job)
        except BrokenProcessPool:            # the worker died: replace it
            self.pools[i].shutdown(wait=False, cancel_futures=True)
            self.pools[i] = self._new_pool()
            fut = self.pools[i].submit(fn, job)
        fut.add_done_callback(lambda _f, i=i: self._finished(i))
        return fut

    def wait(self, handles: Iterable[cf.Future], timeout: float | None = None) -> set:
        """The finished futures of ``handles``, as soon as one is done."""
        done, _ = cf.wait(list(handles), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    def result(self, handle: cf.Future) -> Any:
        """The job's result; a lost worker raises :class:`WorkerLost`."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return handle.result()
        except BrokenProcessPool as exc:
            raise WorkerLost(f"a worker process died ({exc})") from exc

    def close(self) -> None:
        """Shut the workers down, cancelling pending jobs."""
        for pool in self.pools:
            pool.shutdown(wait=True, cancel_futures=True)


def make_executor(kind: str, workers: int, device: str = "cpu", address: str | None = None,
                  extra_cpus: int = 0) -> Executor:
    """An executor by name: ``local`` (``inline`` when ``workers`` is 0) or ``ray`` (a local cluster
    it starts declares ``extra_cpus`` more CPUs, for CPU device actors)."""
    if kind == "local":
        return InlineExecutor() if workers <= 0 else LocalExecutor(workers, device)
    if kind == "inline":
        return InlineExecutor()
    if kind == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(workers, address, extra_cpus)
    raise ConfigError(f"unknown executor {kind!r}; choose local, inline or ray")
