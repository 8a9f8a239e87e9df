"""Where an exception came from, in the user's code: the file:line a message should point at.

A traceback through qbench, the standard library and installed libraries is mostly noise to the
author of a plugin; the frame that matters is the innermost one in their own code.
"""

from __future__ import annotations

import sysconfig
import traceback
from pathlib import Path

_QBENCH = str(Path(__file__).resolve().parent)
_LIBRARY_ROOTS = tuple({str(Path(p).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib")
                        if (p := sysconfig.get_paths().get(key))})


def _is_library(filename: str) -> bool:
    if filename.startswith("<"):                     # <frozen importlib._bootstrap>, <string>
        return True
    try:
        resolved = str(Path(filename).resolve())
    except OSError:
        return False
    if resolved.startswith(_QBENCH):
        return True
    return resolved.startswith(_LIBRARY_ROOTS) or "/site-packages/" in resolved or "/dist-packages/" in resolved


def user_frame(exc: BaseException, strict: bool = False) -> traceback.FrameSummary | None:
    """The innermost frame of ``exc``'s traceback outside qbench, the standard library and
    installed packages; else (unless ``strict``) the innermost frame outside qbench; else the
    innermost one."""
    frames = traceback.extract_tb(exc.__traceback__)
    picks = (lambda f: not _is_library(f.filename),
                 lambda f: not f.filename.startswith("<") and not str(Path(f.filename).resolve()).startswith(_QBENCH),
                 lambda f: True)
    for pick in picks[:1] if strict else picks:
        hits = [f for f in frames if pick(f)]
        if hits:
            return hits[-1]
    return None


def where(exc: BaseException, strict: bool = False) -> str:
    """``file:line (in function)`` of :func:`user_frame`, or ``""`` when there is none."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    frame = user_frame(exc, strict)
    return f"{frame.filename}:{frame.lineno} (in {frame.name})" if frame else ""
