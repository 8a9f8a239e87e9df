"""Thread count of the OpenBLAS libraries a worker has loaded (numpy's and scipy's BLAS).

numpy's matrix products (the metric kernels' Gaussian filter, :mod:`qbench.metrics.band`) run in
OpenBLAS, which starts one thread per core when it is loaded, before a pool worker can set
``OPENBLAS_NUM_THREADS``. Two workers on two cores then run four busy threads. A worker sets the
count of every OpenBLAS already in the process through its own ``*_set_num_threads`` and the
variable for those loaded later (what threadpoolctl does, without the dependency).
"""

from __future__ import annotations

import ctypes
import os

_SETTERS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads_64_",
            "scipy_openblas_set_num_threads", "openblas_set_num_threads64_")
_GETTERS = tuple(s.replace("set_num", "get_num") for s in _SETTERS)


def loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries mapped into this process (Linux; elsewhere none)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if "openblas" in os.path.basename(p).lower())


def _call(path: str, names: tuple[str, ...], *args) -> int | None:
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for name in names:
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = ctypes.c_int
            return fn(*args)
    return None


def limit_blas_threads(n: int) -> None:
    """At most ``n`` threads in every OpenBLAS of this process, loaded now or later."""
    os.environ["OPENBLAS_NUM_THREADS"] = str(n)
    for path in loaded_openblas():
        _call(path, _SETTERS, ctypes.c_int(n))


def blas_threads() -> dict[str, int | None]:
    """The thread count of each loaded OpenBLAS (for tests and diagnostics)."""
    return {p: _call(p, _GETTERS) for p in loaded_openblas()}
