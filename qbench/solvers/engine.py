"""Running a network on a batch: padding, tiling with seamless blending, AMP, OOM fallback, cost.

``run_model(fn, batch, options)`` is what learned solvers call. Large inputs are split into
overlapping tiles whose outputs are blended with ramps across the overlaps (no seams; the outer
quarter of each overlap gets no weight, so a network whose receptive radius is at most a quarter
of the overlap gives exactly the untiled result);
inputs are padded (reflect) to the multiple an architecture needs and cropped back. A CUDA
out-of-memory error retries with half the tile size, down to ``min_tile``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import SolverError


@dataclass(frozen=True)
class EngineOptions:
    """How a solver's network is run (from the suite's ``engine:`` mapping)."""

    batch_size: int = 1
    tile: int | None = None          # tile side in input pixels; None = whole image
    overlap: int = 32
    amp: str | None = None           # None | "fp16" | "bf16"
    min_tile: int = 64

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None) -> "EngineOptions":
        """Options from a suite's ``engine:`` mapping; unknown keys raise :class:`SolverError`."""
        data = dict(data or {})
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise SolverError(f"unknown engine option(s) {unknown}; valid: {sorted(cls.__dataclass_fields__)}")
        opts = cls(**data)
        if opts.amp not in (None, "fp16", "bf16"):
            raise SolverError("engine.amp must be fp16, bf16 or absent")
        if opts.tile is not None and opts.tile <= 2 * opts.overlap:
            raise SolverError("engine.tile must exceed twice the overlap")
        return opts


    def output_spec(self) -> dict[str, Any]:
        """The options that can change outputs (they enter cache keys); empty when all default."""
        out: dict[str, Any] = {}
        if self.tile is not None:
            out.update(tile=self.tile, overlap=self.overlap)
        if self.amp:
            out["amp"] = self.amp
        return out


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, numpy and torch (all devices); with ``deterministic``, prefer deterministic
    cuDNN kernels (no autotuning), so a run repeats bit for bit on the same machine."""
    import random

    import numpy as np
    import torch

    seed = int(seed) % 2**32
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)          # also seeds every CUDA device
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def _autocast(device: str, amp: str | None):
    import torch

    if not amp:
        return contextlib.nullcontext()
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    kind = "cuda" if device.startswith("cuda") else "cpu"
    return torch.autocast(device_type=kind, dtype=dtype)


def _padded(fn: Callable, x, multiple: int):
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    y = fn(x)
    if ph or pw:
        s = y.shape[-1] // x.shape[-1]
        y = y[..., : h * s, : w * s]
    return y


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile, step))
    return starts + [size - tile]


def _edge_weights(length: int, device, dtype):
    """Weights rising from (almost) 0 to 1 across an overlap of ``length`` pixels: zero over the
    outer quarter (where a tile lacks context), linear over the middle half, 1 over the inner
    quarter. Two facing tiles' weights are mirror images, so every pixel keeps a positive total."""
    import torch

    i = torch.arange(length, device=device, dtype=dtype)
    q = length / 4.0
    return ((i + 0.5 - q) / max(length - 2 * q, 1.0)).clamp(1e-6, 1.0)


def _ramp(n: int, left: int, right: int, device, dtype):
    """1-D blending weights for a tile of ``n`` pixels with overlaps ``left`` and ``right``."""
    import torch

    w = torch.ones(n, device=device, dtype=dtype)
    if left:
        w[:left] = torch.minimum(w[:left], _edge_weights(left, device, dtype))
    if right:
        w[n - right:] = torch.minimum(w[n - right:], _edge_weights(right, device, dtype).flip(0))
    return w


def tiled(fn: Callable, x, tile: int, overlap: int, multiple: int = 1):
    """Apply ``fn`` on overlapping tiles and blend them; output scale is inferred from ``fn``."""
    import torch

    n, _, h, w = x.shape
    ys, xs = _starts(h, tile, overlap), _starts(w, tile, overlap)
    out = weight = None
    scale = 1
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            th, tw = min(tile, h), min(tile, w)
            y = _padded(fn, x[..., y0:y0 + th, x0:x0 + tw], multiple).float()
            if out is None:
                scale = y.shape[-1] // tw
                out = torch.zeros(n, y.shape[1], h * scale, w * scale, device=y.device)
                weight = torch.zeros(1, 1, h * scale, w * scale, device=y.device)
            # ramps only where a neighbouring tile overlaps this one
            top = (ys[i - 1] + th - y0) * scale if i > 0 else 0
            bottom = (y0 + th - ys[i + 1]) * scale if i + 1 < len(ys) else 0
            left = (xs[j - 1] + tw - x0) * scale if j > 0 else 0
            right = (x0 + tw - xs[j + 1]) * scale if j + 1 < len(xs) else 0
            wy = _ramp(th * scale, top, bottom, y.device, y.dtype)
            wx = _ramp(tw * scale, left, right, y.device, y.dtype)
            win = wy[:, None] * wx[None, :]
            out[..., y0 * scale:(y0 + th) * scale, x0 * scale:(x0 + tw) * scale] += y * win
            weight[..., y0 * scale:(y0 + th) * scale, x0 * scale:(x0 + tw) * scale] += win
    return out / weight


def run_model(fn: Callable, batch, options: EngineOptions = EngineOptions(), multiple: int = 1):
    """Run ``fn`` on ``batch`` under inference mode (and AMP), tiled if asked or out of memory."""
    import torch

    device = str(batch.device)
    tile, overlap = options.tile, options.overlap
    while True:
        try:
            with torch.inference_mode(), _autocast(device, options.amp):
                h, w = batch.shape[-2:]
                if tile is None or (h <= tile and w <= tile):
                    return _padded(fn, batch, multiple).float()
                return tiled(fn, batch, tile, overlap, multiple)
        except torch.cuda.OutOfMemoryError:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            side = max(batch.shape[-2:]) if tile is None else min(tile, max(batch.shape[-2:]))
            if side // 2 < options.min_tile:
                raise SolverError(f"out of device memory even with {side}px tiles "
                                  f"(engine.min_tile is {options.min_tile})") from None
            tile = side // 2
            overlap = min(overlap, tile // 4)      # keep tile > 2 * overlap as tiles shrink


@dataclass(frozen=True)
class Cost:
    """What running a solver costs, measured on a ``probe`` x ``probe`` input: latency is the median
    of ``repeats`` timed calls after warm-up, ``seconds_low``/``seconds_high`` their fastest and
    slowest (all per megapixel)."""

    params: int
    flops_per_mp: float | None
    seconds_per_mp: float
    peak_mem_mb: float | None
    seconds_low: float = float("nan")
    seconds_high: float = float("nan")
    repeats: int = 1
    probe: int = 128


WARMUP = 2          # untimed calls before timing (lazy initialisation, allocator, cuDNN)


def time_calls(fn: Callable, x, device: str, repeats: int, warmup: int = WARMUP) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn(x)`` after ``warmup`` untimed ones, each call
    synchronised on CUDA so that it is timed to its end."""
    import torch

    cuda = device.startswith("cuda")
    out = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            t0 = time.perf_counter()
            fn(x)
            if cuda:
                torch.cuda.synchronize(device)
            if i >= warmup:
                out.append(time.perf_counter() - t0)
    return out


def measure_cost(module, fn: Callable, channels: int, device: str, size: int = 128, repeats: int = 7) -> Cost:
    """Parameter count, FLOPs per megapixel (torch's FLOP counter), latency per megapixel (median,
    fastest and slowest of ``repeats`` calls after warm-up) and peak device memory of ``fn`` on a
    ``size`` x ``size`` probe."""
    import statistics

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    if size < 1 or repeats < 1:
        raise SolverError(f"cost probe needs a size and a repeat count >= 1, got {size} and {repeats}")
    params = sum(p.numel() for p in module.parameters()) if module is not None else 0
    x = torch.rand(1, channels, size, size, device=device)
    mp = size * size / 1e6
    flops = None
    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            fn(x)
        flops = counter.get_total_flops() / mp
    except Exception:  # some custom ops are not countable
        flops = None
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
        torch.cuda.synchronize(device)
    seconds = time_calls(fn, x, device, repeats)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.startswith("cuda") else None
    return Cost(params, flops, statistics.median(seconds) / mp, peak, min(seconds) / mp, max(seconds) / mp,
                repeats, size)
