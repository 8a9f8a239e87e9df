"""The device side of a run: solvers and learned codecs set up once, batches run in order.

A :class:`DeviceStage` owns one device. A :class:`DeviceWorker` wraps one stage with the run's
pipelines and runs the scheduler's device steps (``pre``, ``code``, ``post``) by name: in the
main process (one device), in a device process per listed device (``--device cuda:0,cuda:1``) or
in a Ray actor (``--executor ray``; :mod:`.device_pool`). It is fed decoded images by the
scheduler and never touches the store: measured costs travel back with each reply.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from ..errors import SolverError
from ..pipelines import Pipeline
from ..solvers import Context
from ..solvers.engine import Cost


def check_finite(t, who: str, what: str) -> None:
    """Raise :class:`SolverError` when tensor ``t`` holds NaN or Inf."""
    import torch

    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise SolverError(f"{who} produced {bad} non-finite values (NaN/Inf) in its {what}")


class DeviceStage:
    """Sets up each solver/learned codec once (remembering failures) and runs pipeline steps."""

    def __init__(self, device: str, seed: int, on_cost: Callable[[str, str, Any, Cost], None],
                 probe: int = 128, repeats: int = 7, cost_known: Callable[[str], bool] | None = None,
                 ladders: dict[int, list[float] | None] | None = None):
        self.device = device
        self.seed = seed
        self.on_cost = on_cost
        self.probe, self.repeats = probe, repeats          # the cost probe's side and timed calls
        self.cost_known = cost_known or (lambda spec_hash: False)   # a cost of this probe is stored
        self.ladders = ladders or {}                       # id(learned codec) -> the suite's qualities
        self._ready: dict[str, Any] = {}

    def reseed(self, key: str) -> None:
        """Seed every generator from the suite seed and ``key``, so a stochastic solver gives the
        same output for a sample whatever the order of work or a resume."""
        from ..solvers.engine import seed_everything

        digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
        seed_everything(int.from_bytes(digest[:4], "little"))

    def ready(self, label: str, component, kind: str, probe: Callable[[], tuple] | None = None):
        """Set ``component`` up on the device once; re-raise its set-up error on every later call."""
        if label not in self._ready:
            try:
                self.reseed(label)
                component.setup(self.device)
                self._ready[label] = component
            except Exception as exc:  # missing weights, bad file: this component fails alone
                self._ready[label] = exc
            else:
                if probe is not None:
                    self._cost(label, kind, component, probe)
        got = self._ready[label]
        if isinstance(got, BaseException):
            raise got
        return got

    def ready_solver(self, label: str, pipe: Pipeline):
        """:meth:`ready` for ``pipe``'s solver, probing its cost unless stored."""
        return self.ready(label, pipe.solver, "solver", self.solver_probe(pipe))

    def ready_codec(self, label: str, codec):
        """:meth:`ready` for a learned codec, probing its cost unless stored."""
        return self.ready(label, codec, "codec", self.codec_probe(codec))

    def solver_probe(self, pipe: Pipeline) -> Callable[[], tuple | None]:
        """The cost probe of ``pipe``'s device steps: (fn, modules, channels), or None when its cost
        is stored or it has no device steps."""
        def make():
            if self.cost_known(pipe.solver.spec_hash()):
                return None
            from ..solvers.cost import probe_context

            fn = pipe.cost_probe(probe_context(self.device, self.probe))
            channels = 3 if "rgb" in pipe.solver.card.channels else 1
            return None if fn is None else (fn, pipe.solver.modules(), channels)
        return make

    def codec_probe(self, codec) -> Callable[[], tuple | None]:
        """The cost probe of a learned codec at its suite's middle quality (None when stored)."""
        def make():
            if self.cost_known(codec.spec_hash()):
                return None
            channels = 3 if "rgb" in codec.solver.card.channels else 1
            return codec.cost_probe(self.ladders.get(id(codec))), codec.modules(), channels
        return make

    def _cost(self, label: str, kind: str, component, probe: Callable[[], tuple]) -> None:
        from ..solvers.cost import measure_probe_cost
        from .interrupts import import_flop_counter

        made = probe()
        if made is None or made[0] is None:
            return
        fn, modules, channels = made
        import_flop_counter()                    # the probe imports it; a Ctrl-C there must not be lost
        self.reseed(label)
        cost = measure_probe_cost(fn, modules, channels, self.device, self.probe, self.repeats)
        if cost is not None:
            self.on_cost(label, kind, component, cost)

    # -- steps -----------------------------------------------------------------------------------
    def pre(self, pipeline: Pipeline, original: np.ndarray, ctx: Context) -> np.ndarray:
        """original -> the low-res image the codec codes (uint8)."""
        import torch

        from ..images import quantize, to_tensor

        self.reseed(ctx.image_names[0] if ctx.image_names else "pre")
        with torch.inference_mode():
            low = pipeline.pre(to_tensor(original, self.device), ctx)
        if not isinstance(low, torch.Tensor) or low.ndim != 4:
            raise SolverError(f"{pipeline.solver.card.name} pre step returned {type(low).__name__}, "
                              "not a (1, C, h, w) tensor")
        check_finite(low, pipeline.solver.card.name, "downscale")
        return quantize(low)[0]

    def post(self, pipeline: Pipeline, decoded: list[np.ndarray], ctx: Context, seed_key: str,
             out_shape: tuple[int, int, int], quantize_out: bool) -> tuple[list, float]:
        """A batch of decoded images -> per-item output arrays (or the item's error), and the
        solver seconds per item. Outputs are uint8 when ``quantize_out``, else float32 in [0, 255].

        What the solver reported through ``ctx.report`` is checked here (a malformed report
        fails the batch like a wrong shape does); :func:`item_reports` gives it per item."""
        import torch

        from ..images import quantize, to_tensor

        name = pipeline.solver.card.name
        batch = to_tensor(decoded, self.device)
        self.reseed(seed_key)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = pipeline.post(batch, ctx)
        if not isinstance(out, torch.Tensor):
            raise SolverError(f"{name} returned {type(out).__name__}, not a tensor")
        if not out.is_floating_point():           # e.g. uint8 0..255 would clamp to a white image
            raise SolverError(f"{name} returned a {out.dtype} tensor; outputs are float in [0, 1]")
        if out.device.type == "cuda":
            torch.cuda.synchronize(out.device)
        seconds = (time.perf_counter() - t0) / len(decoded)
        expected = (len(decoded), out_shape[2], out_shape[0], out_shape[1])
        if tuple(out.shape) != expected:
            raise SolverError(f"{name} returned shape {tuple(out.shape)}, expected {expected}")
        item_reports(ctx, len(decoded))
        results: list = []
        for i in range(len(decoded)):
            one = out[i:i + 1]
            try:
                check_finite(one, name, "output")
            except SolverError as exc:
                results.append(exc)
                continue
            if quantize_out:
                results.append(quantize(one)[0])
            else:
                arr = one[0].detach().float().clamp(0, 1).mul(255).permute(1, 2, 0).cpu().numpy()
                results.append(np.ascontiguousarray(arr, dtype=np.float32))
        return results, seconds


def item_reports(ctx: Context, n: int) -> list[dict[str, Any]]:
    """The per-image reports a solver made through ``ctx.report`` in the call that ``ctx`` was
    given to, as the ``info`` of each of the ``n`` outputs: ``{"report": {...}}``, or ``{}``
    for an image without any. Raises :class:`SolverError` on a malformed report."""
    return [{"report": r} if r else {} for r in ctx.reports.per_image(n)]


@dataclass
class DeviceReply:
    """What a device step returns: its value, the device it ran on, and the costs it measured as
    ``(label, kind, spec_hash, cost)`` (for the main process to store)."""

    value: Any
    device: str
    costs: list[tuple[str, str, str, Cost]] = field(default_factory=list)


class DeviceWorker:
    """Runs the scheduler's device steps on one device with its own copy of the run's pipelines.

    Built around an existing ``stage`` (the main process's, whose callbacks store costs
    directly), or with a stage of its own on ``device`` whose costs are returned with each reply
    and which probes a component only when the step asks it to (``probe``)."""

    def __init__(self, pipelines: dict[tuple[str, str], Pipeline], stage: DeviceStage | None = None, *,
                 device: str = "cpu", seed: int = 0, probe: int = 128, repeats: int = 7,
                 ladders: dict[str, list[float] | None] | None = None):
        self.pipelines = pipelines
        self._costs: list[tuple[str, str, str, Cost]] = []
        self._probe = False
        if stage is None:
            by_id = {id(pipe.codec): (ladders or {}).get(codec) for (_, codec), pipe in pipelines.items()}
            stage = DeviceStage(device, seed, self._on_cost, probe, repeats,
                                cost_known=lambda spec_hash: not self._probe, ladders=by_id)
        self.stage = stage
        self.device = stage.device

    def _on_cost(self, label: str, kind: str, component, cost: Cost) -> None:
        self._costs.append((label, kind, component.spec_hash(), cost))

    def run(self, step: str, pair: tuple[str, str], args: tuple, probe: bool = False) -> DeviceReply:
        """Run device step ``step`` (``pre``, ``code`` or ``post``) of pipeline ``pair`` on ``args``;
        ``probe``: measure the cost of a component this step sets up (when it has its own stage)."""
        self._costs, self._probe = [], probe
        try:
            value = getattr(self, f"_{step}")(self.pipelines[pair], pair, *args)
        finally:
            self._probe = False
        return DeviceReply(value, self.device, self._costs)

    def _pre(self, pipe: Pipeline, pair, original, ctx: Context) -> tuple[np.ndarray, float]:
        """The low-res image of ``original`` (an :class:`~qbench.images.ImageSource`), and seconds."""
        self.stage.ready_solver(pair[0], pipe)
        t0 = time.perf_counter()
        low = self.stage.pre(pipe, original.read(), replace(ctx, device=self.device))
        return low, time.perf_counter() - t0

    def _code(self, pipe: Pipeline, pair, job):
        """A learned codec's encode and decode of ``job`` (a :class:`~.stages.CodeJob`)."""
        from .stages import run_code

        codec = self.stage.ready_codec(pair[1], pipe.codec)
        self.stage.reseed(job.enc_key)
        return run_code(replace(job, metrics=(), diagnostics=(), return_decoded=True), codec=codec)

    def _post(self, pipe: Pipeline, pair, decoded: list[np.ndarray], ctx: Context, seed_key: str,
              out_shape: tuple[int, int, int], quantize_out: bool) -> tuple[list, float, list[dict[str, Any]]]:
        """A batch's outputs (or per-item errors), solver seconds per item, and per-item reports."""
        from ..solvers.base import SolverReports

        self.stage.ready_solver(pair[0], pipe)
        ctx = replace(ctx, device=self.device, reports=SolverReports())
        outs, seconds = self.stage.post(pipe, decoded, ctx, seed_key, out_shape, quantize_out)
        return outs, seconds, item_reports(ctx, len(decoded))
