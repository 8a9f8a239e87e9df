"""Per-solver cost columns: parameters, FLOPs and latency per megapixel, peak device memory."""

from __future__ import annotations

from .base import Context, Enhancer, LearnedCodec, Rescaler, Solver
from .engine import Cost, measure_cost


def measure_solver_cost(solver: Solver, device: str, size: int = 128) -> Cost | None:
    """Cost of one pass over a ``size`` x ``size`` probe (None when the solver cannot run on one,
    e.g. a method that needs JPEG side information, or a learned codec)."""
    channels = 3 if "rgb" in solver.card.channels else 1
    ctx = Context(codec="probe", quality=50.0, original_size=(size, size), device=device)
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
