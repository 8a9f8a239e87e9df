"""Worker processes die with the run that started them.

A local pool's workers are children of the forkserver, itself a child of the run's main process.
If the main process is killed (SIGKILL, SIGTERM, the OOM killer), neither would notice for a long
time: they would hold memory and the terminal's stdout. Two guards:

* Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, through ctypes): the
  forkserver gets it against the main process (set while the forkserver imports this module as
  its preload, see :func:`forkserver_preload`), each worker against the forkserver;
* a watchdog thread in each worker (any POSIX system): it exits the worker once its parent
  changes or the main process is gone.
"""

from __future__ import annotations

import os
import sys
import threading

_ENV = "QBENCH_LIFELINE_PID"     # the main process, for the forkserver's preload import
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watch(main_pid: int | None, interval: float = 0.5) -> None:
    """Start a daemon thread that ends this process when its parent changes (it was adopted:
    the parent died) or ``main_pid`` no longer exists."""
    parent = os.getppid()

    def run() -> None:
        import time

        while True:
            if os.getppid() != parent or (main_pid is not None and not _alive(main_pid)):
                os._exit(70)
            time.sleep(interval)

    threading.Thread(target=run, name="qbench-lifeline", daemon=True).start()


def guard_worker(main_pid: int | None) -> None:
    """Both guards, in a worker process (its pool's initializer)."""
    die_with_parent()
    if main_pid is not None and not _alive(main_pid):     # died before the guard was set
        os._exit(70)
    watch(main_pid)


def forkserver_preload() -> list[str]:
    """The forkserver's preload list: the default ``__main__`` and this module, which on import
    in the forkserver (whose parent is the process named by the environment) sets the
    parent-death signal there. Call it in the main process before the forkserver starts."""
    os.environ[_ENV] = str(os.getpid())
    return ["__main__", __name__]


def _in_forkserver() -> None:
    """Import-time hook: only acts in a process whose parent set :data:`_ENV` to its own pid."""
    want = os.environ.get(_ENV)
    if want and want.isdigit() and int(want) == os.getppid() and "multiprocessing.forkserver" in sys.modules:
        die_with_parent()
        if not _alive(int(want)):
            os._exit(70)


_in_forkserver()
