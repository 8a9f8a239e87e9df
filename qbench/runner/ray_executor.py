"""The Ray executor: the pure stage functions of :mod:`.stages` as Ray tasks.

``qbench run SUITE --executor ray [--address ADDR]`` (``pip install 'qbench[ray]'``). Without an
address, and when Ray is not running in this process yet, a local cluster with ``workers`` CPUs
is started (and shut down by :meth:`RayExecutor.close`); with an address the run joins that
cluster, whose workers need qbench (and the suite's plugins) importable. Each stage function
becomes one cached remote function; jobs and results travel through Ray's object store, numpy
arrays out of band. A stage's exception reaches the runner as the original exception (type and
message), its remote traceback chained as the cause, so failures read as they do with ``local``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..errors import ConfigError

_WORKER_READY = False


class RemoteTraceback(Exception):
    """The traceback text of a stage that failed in a Ray worker (chained as ``__cause__``)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def run_stage(fn: Callable, job: Any) -> Any:
    """Body of every Ray task: set the worker up once (one intra-op thread), then run the stage."""
    global _WORKER_READY
    if not _WORKER_READY:
        from .stages import init_worker

        init_worker()
        _WORKER_READY = True
    return fn(job)


class RayExecutor:
    """Runs stage jobs as Ray tasks; handles are ``ray.ObjectRef``."""

    name = "ray"

    def __init__(self, workers: int, address: str | None = None, extra_cpus: int = 0):
        try:
            import ray
        except ImportError as exc:
            raise ConfigError("the ray executor needs Ray: pip install 'qbench[ray]'") from exc
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, log_to_driver=False, ignore_reinit_error=True)
                else:
                    ray.init(num_cpus=max(1, workers) + max(0, extra_cpus), include_dashboard=False,
                             log_to_driver=False,
                             ignore_reinit_error=True)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"connect to the Ray cluster at {address}" if address else "start a local Ray cluster"
                raise ConfigError(f"cannot {where}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
            self._started = True
        try:
            cpus = int(ray.cluster_resources().get("CPU", 0))
        except Exception:  # pragma: no cover - a client connection without the resource API
            cpus = 0
        self.workers = cpus or max(1, workers)
        self._tasks: dict[Callable, Any] = {}
        self._pending: set = set()

    def _remote(self, fn: Callable):
        task = self._tasks.get(fn)
        if task is None:
            def stage(job, _fn=fn):
                return run_stage(_fn, job)

            stage.__name__ = stage.__qualname__ = getattr(fn, "__name__", "stage")
            task = self._tasks[fn] = self._ray.remote(num_cpus=1)(stage)
        return task

    def submit(self, fn: Callable, job: Any):
        """Run ``fn(job)`` as a Ray task; returns its object ref."""
        ref = self._remote(fn).remote(job)
        self._pending.add(ref)
        return ref

    def wait(self, handles: Iterable[Any], timeout: float | None = None) -> set:
        """Every handle that is ready now; if none is, block (up to ``timeout``) for the first."""
        refs = list(handles)
        if not refs:
            return set()
        ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        if not ready and timeout != 0:
            ready, _ = self._ray.wait(refs, num_returns=1, timeout=timeout)
        return set(ready)

    def result(self, handle: Any) -> Any:
        """The stage's return value, or its original exception raised here."""
        from ray.exceptions import RayTaskError

        self._pending.discard(handle)
        try:
            value = self._ray.get(handle)
        except RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception) and not isinstance(cause, RayTaskError):
                raise cause from RemoteTraceback(str(exc))
            raise exc.as_instanceof_cause() from None
        return _writable(value)

    def close(self) -> None:
        """Cancel pending tasks (the cluster itself is left running)."""
        for ref in self._pending:
            try:
                self._ray.cancel(ref)
            except Exception:  # pragma: no cover - already finished or gone with the cluster
                pass
        self._pending.clear()
        self._tasks.clear()
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False


def _writable(value: Any) -> Any:
    """Copy a zero-copy (read-only) decoded array out of the object store: solvers may write to it,
    and holding the view would pin the object in the store."""
    decoded = getattr(value, "decoded", None)
    if isinstance(decoded, np.ndarray) and not decoded.flags.writeable:
        value.decoded = decoded.copy()
    return value
