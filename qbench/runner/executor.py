"""Executors run pure stage functions (:mod:`.stages`) somewhere and hand back their results.

The protocol is small: ``submit(fn, job) -> handle``, ``wait(handles, timeout) -> done handles``,
``result(handle)`` (raises the stage's exception), ``close()``. The runner's main process stays
the only store writer and the only user of the device; executors run the CPU stages:

* ``inline``: in the calling process, at submit time (``--workers 0``; debugging, tests);
* ``local``: a process pool (``--workers N``), one intra-op thread per worker;
* ``ray``: a Ray cluster (``pip install qbench[ray]``; :mod:`.ray_executor`).
"""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any, Callable, Iterable, Protocol

from ..errors import ConfigError


class Executor(Protocol):
    name: str
    workers: int

    def submit(self, fn: Callable, job: Any) -> Any: ...

    def wait(self, handles: Iterable[Any], timeout: float | None = None) -> set: ...

    def result(self, handle: Any) -> Any: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs each job when it is submitted, in this process."""

    name = "inline"
    workers = 1

    def submit(self, fn: Callable, job: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(job))
        except Exception as exc:
            fut.set_exception(exc)
        return fut

    def wait(self, handles: Iterable[cf.Future], timeout: float | None = None) -> set:
        return set(handles)

    def result(self, handle: cf.Future) -> Any:
        return handle.result()

    def close(self) -> None:
        pass


class LocalExecutor:
    """A process pool of ``workers`` processes (forkserver; spawn when CUDA is in use)."""

    name = "local"

    def __init__(self, workers: int, device: str = "cpu"):
        import multiprocessing as mp

        from .stages import init_worker

        self.workers = workers
        ctx = mp.get_context("spawn" if device.startswith("cuda") else "forkserver")
        self.pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker)

    def submit(self, fn: Callable, job: Any) -> cf.Future:
        return self.pool.submit(fn, job)

    def wait(self, handles: Iterable[cf.Future], timeout: float | None = None) -> set:
        done, _ = cf.wait(list(handles), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    def result(self, handle: cf.Future) -> Any:
        return handle.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def make_executor(kind: str, workers: int, device: str = "cpu", address: str | None = None) -> Executor:
    """An executor by name: ``local`` (``inline`` when ``workers`` is 0) or ``ray``."""
    if kind == "local":
        return InlineExecutor() if workers <= 0 else LocalExecutor(workers, device)
    if kind == "inline":
        return InlineExecutor()
    if kind == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(workers, address)
    raise ConfigError(f"unknown executor {kind!r}; choose local, inline or ray")
