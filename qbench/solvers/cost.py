"""Cost columns: parameters, FLOPs and latency per megapixel, peak device memory.

Latency is measured on a ``size`` x ``size`` probe (the suite's ``output.cost_probe``, 128 by
default) after two warm-up calls, as the median of ``repeats`` timed calls (``output.cost_repeats``,
7 by default) with the fastest and slowest beside it.

The function timed comes from the pipeline (a solver's device steps) or from a learned codec
(encode + decode), so this module knows nothing of solver kinds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from .base import Context
from .engine import Cost, measure_cost

_IJG_LUMA_Q50 = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
                 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
                 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_IJG_CHROMA_Q50 = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                   24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32
PROBE_SIZE = 128
PROBE_REPEATS = 7


def probe_context(device: str, size: int = PROBE_SIZE) -> Context:
    """The context of a cost probe: JPEG quality 50 with the IJG (Annex K) tables, for methods
    that read the decoder's tables."""
    return Context(codec="probe", quality=50.0, qtables=((_IJG_LUMA_Q50, _IJG_CHROMA_Q50),),
                   original_size=(size, size), device=device)


def measure_probe_cost(fn: Callable, modules: list, channels: int, device: str,
                       size: int = PROBE_SIZE, repeats: int = PROBE_REPEATS) -> Cost | None:
    """Cost of ``fn`` on a ``size`` x ``size`` probe, latency over ``repeats`` calls after warm-up
    (None when it cannot run on one, e.g. a method that needs side information the probe lacks)."""
    try:
        cost = measure_cost(None, fn, channels, device, size, repeats)
    except Exception:  # needs side information the probe does not have
        return None
    params = sum(p.numel() for m in modules for p in m.parameters())
    return replace(cost, params=params, flops_per_mp=cost.flops_per_mp if modules else None)
