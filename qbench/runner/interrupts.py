"""Ctrl-C that a library would swallow is held back and raised after it.

Some imports run C-extension initialisers that turn a pending ``KeyboardInterrupt`` into an
``ImportError`` (pybind11 modules do), which the importing library then catches as "optional
dependency missing": a Ctrl-C arriving in that window is lost and the run goes on to its end.
:func:`deferred_interrupt` records SIGINT during such a block and raises ``KeyboardInterrupt``
right after it, so the run stops as it does everywhere else (exit 130, resumable).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold SIGINT back during the block and raise ``KeyboardInterrupt`` after it if one came.
    Outside the main thread, or when SIGINT is not Python's default handler (ignored, or
    handled by the caller), the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def import_flop_counter() -> None:
    """Import torch's FLOP counter with Ctrl-C held back: it imports triton, whose extension
    turns an interrupt during its initialisation into an ImportError that torch catches."""
    with deferred_interrupt():
        import torch.utils.flop_counter  # noqa: F401
