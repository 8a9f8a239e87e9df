"""Whether this process has a running multiprocessing forkserver.

A local worker pool (:class:`qbench.runner.executor.LocalExecutor`) starts the forkserver, which
stays up until this process exits. Forking a further child from it takes milliseconds, while a
new interpreter (``spawn``, or a forkserver not yet running) costs a fraction of a second before
it does anything; work worth a child process only after a pool run asks this first.
"""

from __future__ import annotations

import os
import sys


def forkserver_running() -> bool:
    """True when this process started multiprocessing's forkserver and it is still alive.

    Reads the forkserver module's state without starting it (and without importing it when no
    one has); a server that exited is left for multiprocessing to reap."""
    module = sys.modules.get("multiprocessing.forkserver")
    server = getattr(module, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if not isinstance(pid, int) or getattr(server, "_forkserver_alive_fd", None) is None:
        return False
    try:                             # WNOWAIT: an exited server stays unreaped for ensure_running()
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False
    except (AttributeError, OSError):        # no waitid here: a zombie still counts, at worst
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
