"""Where a report's figures are drawn: in this process, or in child processes while this one
writes the tables.

A local worker pool leaves multiprocessing's forkserver running in the main process of a
``qbench run`` (:func:`qbench.forkserver.forkserver_running`); a child forked from it starts in
milliseconds (it then imports matplotlib, about 0.3 s). There two children start as the report
begins, so they import matplotlib while it reads the store and computes its tables; when the
report has at least two figures to (re)draw, they go to up to ``os.cpu_count()`` children (the
longest drawings, the panels, first) and the report waits for them only before the Markdown and
HTML that link them (with fewer, the children are let go and the figure is drawn here). Anywhere else (a cached rerun draws nothing anyway, an inline run, ``qbench
report`` on its own), and for a single figure, they are drawn here: starting a new interpreter
would cost more than it saves.

A drawing is a picklable callable (a module-level function with its arguments, e.g. a
``functools.partial``). In a child it runs under this process's matplotlib settings (the
``rcParams`` changed since matplotlib was imported, e.g. the SVG hash salt of the committed
leaderboards) and ``SOURCE_DATE_EPOCH``, so its files are the bytes this process would write.
Whatever goes wrong in a child (the drawing raised, could not be pickled, or the child died) is
answered by drawing that figure again here, where it then fails or succeeds as it always did; a
child that takes longer than :attr:`FigurePass.timeout` for one drawing is taken to hang: the
children are killed and the remaining figures are drawn here.
"""

from __future__ import annotations

import os
from typing import Any, Callable

#: rcParams that only pick a backend or GUI behaviour; figures here draw on their own Agg canvas
_BACKEND_KEYS = {"backend", "backend_fallback", "interactive"}


def _settings() -> tuple[dict[str, Any], str | None]:
    """This process's matplotlib rcParams that differ from those read at import (none when
    matplotlib is not imported) and its ``SOURCE_DATE_EPOCH``."""
    import sys

    changed: dict[str, Any] = {}
    mpl = sys.modules.get("matplotlib")
    if mpl is not None:
        orig, now = mpl.rcParamsOrig, mpl.rcParams
        for key, value in (dict.items(now) if isinstance(now, dict) else now.items()):
            if key in _BACKEND_KEYS:
                continue
            try:
                same = key in orig and bool((dict.__getitem__(orig, key) if isinstance(orig, dict)
                                             else orig[key]) == value)
            except (TypeError, ValueError):
                same = False
            if not same:
                changed[key] = value
    return changed, os.environ.get("SOURCE_DATE_EPOCH")


def _draw_in_child(draw: Callable[[], Any], rc: dict[str, Any], epoch: str | None) -> None:
    """Run ``draw()`` under the parent's matplotlib settings ``rc`` and ``SOURCE_DATE_EPOCH``."""
    import matplotlib

    if epoch is None:
        os.environ.pop("SOURCE_DATE_EPOCH", None)
    else:
        os.environ["SOURCE_DATE_EPOCH"] = epoch
    with matplotlib.rc_context(rc):
        draw()


def _start_child(main_pid: int) -> None:
    """A drawing child dies with the report's process (:mod:`qbench.runner.lifeline`) and imports
    matplotlib's figure and Agg canvas at once (while the report loads its data)."""
    from ..runner.lifeline import guard_worker

    guard_worker(main_pid)
    from .canvas import new_figure

    new_figure()


def _ready() -> int:
    """The job that makes the pool start a child before the first drawing."""
    return os.getpid()


class FigurePass:
    """The drawings of one report: run at once, here (``children`` 0), or collected and, from
    :meth:`start` on, drawn by up to ``children`` child processes forked from the running
    forkserver (here, at once, when fewer than two were collected); :meth:`wait` finishes them.

    :meth:`after` registers what must follow the drawings submitted so far (recording their
    signatures, listing the files present); it runs at once when nothing is pending. Use it as a
    context manager: leaving the block waits (or, on an error, stops the children)."""

    #: seconds the report waits for one drawing in a child before it stops the children and draws
    #: the rest here (a drawing takes well under ten seconds; a child that hangs must not hang the report)
    timeout = 300.0

    def __init__(self, children: int = 0):
        self.children = max(0, int(children))
        self._pool: Any = None
        self._hung = False                          # children killed after a timeout
        self._started = False
        # in order: (drawing, None) or (None, what follows); a started drawing's future beside it
        self._queue: list[tuple[Callable[[], Any] | None, Callable[[], Any] | None]] = []
        self._futures: dict[int, Any] = {}
        self.drawn_in_children = 0                 # drawings a child finished
        self.drawn_here = 0                        # drawings run in this process (at once or again)

    @classmethod
    def for_report(cls) -> FigurePass:
        """Children (up to ``os.cpu_count()``) when this process has a running forkserver, else
        none. Two of them start now and import matplotlib while the report reads the store and
        computes its tables (about 0.35 s each), the others on demand."""
        from ..forkserver import forkserver_running

        if not forkserver_running():
            return cls(0)
        drawer = cls(os.cpu_count() or 1)
        drawer._open_pool(warm=min(2, drawer.children))
        return drawer

    def _open_pool(self, warm: int = 0) -> None:
        """The children's pool (``children`` at most), ``warm`` of them started now."""
        import concurrent.futures as cf
        import multiprocessing as mp

        try:
            self._pool = cf.ProcessPoolExecutor(max_workers=self.children, mp_context=mp.get_context("forkserver"),
                                                initializer=_start_child, initargs=(os.getpid(),))
            for _ in range(warm):
                self._pool.submit(_ready)
        except Exception:                     # no children after all: drawn here
            self.close(cancel=True)

    def submit(self, draw: Callable[[], Any]) -> None:
        """Run ``draw()`` now, here, or keep it for the children."""
        if self.children and not self._started:
            self._queue.append((draw, None))
            return
        if self._queue:                       # after the start: behind what is pending
            self._queue.append((draw, None))
            return
        draw()
        self.drawn_here += 1

    def after(self, then: Callable[[], Any]) -> None:
        """Call ``then()`` once every drawing submitted so far is done (now, when none is pending)."""
        if self._queue:
            self._queue.append((None, then))
        else:
            then()

    def start(self) -> None:
        """Hand the drawings collected so far to the children (at least two of them; else run
        them here, now). Later drawings run here, in order."""
        if self._started:
            return
        self._started = True
        draws = [i for i, (draw, _) in enumerate(self._queue) if draw is not None]
        if len(draws) < 2:
            self.close(cancel=True, wait=False)       # children started early, not needed: let them go
            self._finish()
            return
        try:
            rc, epoch = _settings()
            if self._pool is None:
                self._open_pool()
            for i in draws:
                self._futures[i] = self._pool.submit(_draw_in_child, self._queue[i][0], rc, epoch)
        except Exception:                     # no children after all (or not for the rest): drawn here
            pass

    def wait(self) -> None:
        """Finish every drawing, in submission order: a child's result, or the drawing run here
        when it failed in the child or never went to one; then what :meth:`after` registered. A
        drawing that raises here propagates, and what was to follow it does not run (as when
        drawn here at once)."""
        self.start()
        self._finish()

    def _finish(self) -> None:
        queue, futures = self._queue, self._futures
        self._queue, self._futures = [], {}
        try:
            for i, (draw, then) in enumerate(queue):
                if then is not None:
                    then()
                    continue
                future = futures.get(i)
                if future is not None and not self._hung:
                    try:
                        future.result(timeout=self.timeout)
                        self.drawn_in_children += 1
                        continue
                    except Exception as exc:
                        from concurrent.futures import TimeoutError as Timeout
                        from concurrent.futures.process import BrokenProcessPool

                        if isinstance(exc, Timeout):               # a child hangs: stop them all,
                            self._kill()                           # the rest is drawn here
                        elif isinstance(exc, BrokenProcessPool):   # a child died: the others are
                            self.close()                           # stopped before drawing here
                draw()
                self.drawn_here += 1
        finally:
            self.close(cancel=True)

    def _kill(self) -> None:
        """Kill the children (one hangs) and let the pool go without waiting; what they had not
        finished is drawn here."""
        self._hung = True
        pool, self._pool = self._pool, None
        if pool is not None:
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.kill()
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self, cancel: bool = False, wait: bool = True) -> None:
        """Stop the children (after their current drawing; ``cancel``: dropping queued ones;
        ``wait=False``: not waiting for them to exit)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel)

    def __enter__(self) -> FigurePass:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            self.wait()
        else:
            self._queue, self._futures = [], {}
            self.close(cancel=True)
