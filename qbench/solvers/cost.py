"""Per-solver cost columns: parameters, FLOPs and latency per megapixel, peak device memory."""

from __future__ import annotations

from .base import Context, Enhancer, LearnedCodec, Rescaler, Solver
from .engine import Cost, measure_cost

_IJG_LUMA_Q50 = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
                 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
                 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_IJG_CHROMA_Q50 = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                   24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32


def measure_solver_cost(solver: Solver, device: str, size: int = 128) -> Cost | None:
    """Cost of one pass over a ``size`` x ``size`` probe (None when the solver cannot run on one,
    e.g. a method that needs JPEG side information, or a learned codec)."""
    channels = 3 if "rgb" in solver.card.channels else 1
    # JPEG quality 50 tables (the IJG/Annex K ones) for methods that read the decoder's tables
    ctx = Context(codec="probe", quality=50.0, qtables=((_IJG_LUMA_Q50, _IJG_CHROMA_Q50),),
                  original_size=(size, size), device=device)
    if isinstance(solver, Enhancer):
        def fn(x):
            return solver.enhance(x, ctx)
    elif isinstance(solver, Rescaler):
        def fn(x):
            return solver.upscale(solver.downscale(x, ctx), ctx)
    else:
        return None
    if isinstance(solver, LearnedCodec):
        return None
    modules = solver.modules()
    try:
        cost = measure_cost(None, fn, channels, device, size)
    except Exception:  # needs side information the probe does not have
        return None
    params = sum(p.numel() for m in modules for p in m.parameters())
    return Cost(params, cost.flops_per_mp if modules else None, cost.seconds_per_mp, cost.peak_mem_mb)
