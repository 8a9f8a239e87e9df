"""Device pools: where the scheduler's device steps run, one :class:`~.device.DeviceWorker` per slot.

* :class:`InlineDevices`: one worker in the main process, each step run when it is submitted
  (one device: the default);
* :class:`ProcessDevices`: one device process per listed device (``--device cuda:0,cuda:1``);
* :class:`~.ray_devices.RayDevices`: one Ray actor per GPU, or CPU actors (``--executor ray``).

Each slot holds its own copy of the run's pipelines and sets each component up once. A pool
routes a step to the live slot with the least work in flight (at most ``depth`` each, so a device
is fed while its last result travels back). When a slot dies its steps raise
:class:`DeviceLost`, the slot is dropped and the scheduler submits them again to the others; when
none is left, :class:`DevicesGone` stops the run. Handles are those of the run's executor
(``concurrent.futures`` futures, or Ray object refs), so one wait covers CPU and device jobs.
"""

from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ConfigError, QbenchError
from .device import DeviceReply, DeviceWorker


class DeviceLost(RuntimeError):
    """The device worker running a step died (killed, out of memory, node lost) before replying."""


class DevicesGone(QbenchError):
    """Every device worker of the run is gone: the run stops (rerun it to resume)."""

    exit_code = 4


#: ``(spec_hash, device) -> whether its cost is stored`` (with this run's probe size and repeats)
CostKnown = Callable[[str, str], bool]


@dataclass
class Slot:
    """One device worker as the pool sees it: its name, device, steps in flight, and liveness."""

    name: str
    device: str
    handle: Any = None                       # a process pool or an actor handle
    inflight: set = field(default_factory=set)
    alive: bool = True
    steps: int = 0                           # steps it finished


class DevicePool:
    """Routing, liveness and cost-probe bookkeeping shared by every pool; subclasses start steps."""

    name = "pool"

    def __init__(self, slots: list[Slot], depth: int = 2, cost_known: CostKnown | None = None):
        self.slots = slots
        self.depth = depth
        self.cost_known = cost_known or (lambda spec_hash, device: False)
        self._where: dict[Any, Slot] = {}
        self._probed: set[tuple[str, str]] = set()
        self._asking: dict[Any, tuple[str, str]] = {}     # handle -> the component its step probes
        self.lost: list[str] = []           # one line per slot that died

    @property
    def devices(self) -> list[str]:
        """The device of every slot, dead ones too."""
        return [s.device for s in self.slots]

    def live(self) -> list[Slot]:
        """The slots still alive."""
        return [s for s in self.slots if s.alive]

    def free(self) -> int:
        """How many more steps the live slots take now."""
        return sum(max(0, self.depth - len(s.inflight)) for s in self.live())

    def submit(self, step: str, pair: tuple[str, str], args: tuple,
               probe: tuple[str, str, str] | None = None) -> Any:
        """Start device step ``step`` on the least busy live slot; returns a handle. ``probe`` is
        ``(kind, label, spec_hash)`` of the component the step sets up: the first step of each
        component whose cost is not stored for that slot's device measures it."""
        live = self.live()
        if not live:
            raise DevicesGone(self.gone_message())
        slot = min(live, key=lambda s: len(s.inflight))
        ask = False
        if probe is not None and probe[:2] not in self._probed:
            self._probed.add(probe[:2])
            ask = not self.cost_known(probe[2], slot.device)
        handle = self._start(slot, step, pair, args, ask)
        slot.inflight.add(handle)
        self._where[handle] = slot
        if ask:
            self._asking[handle] = probe[:2]
        return handle

    def result(self, handle: Any) -> DeviceReply:
        """The step's reply; raises what the step raised, or :class:`DeviceLost` if its slot died."""
        slot = self._where.pop(handle)
        slot.inflight.discard(handle)
        asked = self._asking.pop(handle, None)
        try:
            reply = self._result(slot, handle)
        except DeviceLost as exc:
            self._probed.discard(asked)          # the step goes elsewhere: probe there
            if slot.alive:
                slot.alive = False
                self.lost.append(f"{slot.name} ({slot.device}): {exc}")
                self._stop(slot)
            raise DeviceLost(f"{slot.name} ({slot.device}) died: {exc}") from exc
        except Exception:
            slot.steps += 1
            raise
        slot.steps += 1
        return reply

    def gone_message(self) -> str:
        """The one-line error of a run whose device workers are all gone."""
        last = f"; last: {self.lost[-1]}" if self.lost else ""
        return (f"every device worker is gone ({len(self.slots)} started, {len(self.lost)} died){last}; "
                "what was computed is stored, rerun to resume")

    # -- what a kind of pool does ---------------------------------------------------------------------
    def _start(self, slot: Slot, step: str, pair, args: tuple, probe: bool) -> Any:
        raise NotImplementedError

    def _result(self, slot: Slot, handle: Any) -> DeviceReply:
        raise NotImplementedError

    def _stop(self, slot: Slot) -> None:
        """Release a dead slot's resources."""

    def close(self) -> None:
        """Stop every slot."""
        for slot in self.slots:
            if slot.alive:
                self._stop(slot)
                slot.alive = False


class InlineDevices(DevicePool):
    """One worker in this process: each step runs when it is submitted (a finished future)."""

    name = "inline"

    def __init__(self, worker: DeviceWorker, cost_known: CostKnown | None = None):
        super().__init__([Slot("main process", worker.device, worker)], depth=1, cost_known=cost_known)

    def _start(self, slot: Slot, step: str, pair, args: tuple, probe: bool) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(slot.handle.run(step, pair, args, probe))
        except Exception as exc:
            fut.set_exception(exc)
        return fut

    def _result(self, slot: Slot, handle: cf.Future) -> DeviceReply:
        return handle.result()


# -- one process per device ------------------------------------------------------------------------
_WORKER: DeviceWorker | None = None


def _init_process(pipelines, device: str, seed: int, probe: int, repeats: int, ladders, threads: int,
                  main_pid: int) -> None:
    """Device process set-up: die with the main process, then hold this process's worker."""
    global _WORKER
    from .stages import init_worker

    init_worker(threads, main_pid)
    if device.startswith("cuda:"):          # this process's CUDA context and default device: its own GPU
        import torch

        torch.cuda.set_device(int(device.partition(":")[2]))
    _WORKER = DeviceWorker(pipelines, device=device, seed=seed, probe=probe, repeats=repeats, ladders=ladders)


def _run_in_process(step: str, pair, args: tuple, probe: bool) -> DeviceReply:
    return _WORKER.run(step, pair, args, probe)


def parse_devices(spec: str) -> list[str]:
    """``cuda:0,cuda:1`` -> ``["cuda:0", "cuda:1"]``; one device stays a list of one (``auto`` too).

    A list names each device: ``cpu`` or ``cuda:i`` (``cpu,cpu`` runs two device workers sharing
    the CPU's cores); ``auto``, a bare ``cuda`` or an empty entry in a list is a
    :class:`ConfigError`, as is a device listed twice unless it is ``cpu``."""
    items = [d.strip() for d in str(spec).split(",")]
    if len(items) == 1:
        return items
    if any(not d for d in items):
        raise ConfigError(f"--device {spec!r}: an empty entry in the device list")
    for d in items:
        idx = d.partition(":")[2]
        if d != "cpu" and not (d.startswith("cuda:") and idx.isdigit()):
            raise ConfigError(f"--device {spec!r}: {d!r} is not a device of a list; name each one, "
                              "as cpu or cuda:N (e.g. cuda:0,cuda:1)")
    twice = sorted({d for d in items if d != "cpu" and items.count(d) > 1})
    if twice:
        raise ConfigError(f"--device {spec!r}: {', '.join(twice)} listed twice")
    return items


class ProcessDevices(DevicePool):
    """One device process per device of ``devices`` (spawned: CUDA needs it), each with its own
    copy of ``pipelines``; a process that dies is not replaced, its steps go to the others."""

    name = "processes"

    def __init__(self, devices: list[str], pipelines, *, seed: int, probe: int, repeats: int,
                 ladders: dict[str, list[float] | None], cost_known: CostKnown | None = None):
        import multiprocessing as mp
        import os

        ctx = mp.get_context("spawn")
        cpu_share = max(1, (os.cpu_count() or 1) // max(1, devices.count("cpu")))
        slots = []
        for i, device in enumerate(devices):
            threads = cpu_share if device == "cpu" else 1
            pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_process,
                                          initargs=(pipelines, device, seed, probe, repeats, ladders, threads,
                                                    os.getpid()))
            slots.append(Slot(f"device worker {i}", device, pool))
        super().__init__(slots, cost_known=cost_known)

    def _start(self, slot: Slot, step: str, pair, args: tuple, probe: bool) -> cf.Future:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return slot.handle.submit(_run_in_process, step, pair, args, probe)
        except BrokenProcessPool as exc:      # died since its last step: a failed future
            fut: cf.Future = cf.Future()
            fut.set_exception(exc)
            return fut

    def _result(self, slot: Slot, handle: cf.Future) -> DeviceReply:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return handle.result()
        except BrokenProcessPool as exc:
            raise DeviceLost(str(exc) or "its process ended") from exc

    def _stop(self, slot: Slot) -> None:
        slot.handle.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop every device process: an idle one is waited for; one still running a step (an
        interrupted run) is left to finish it or to die with this process (:mod:`.lifeline`)."""
        for slot in self.slots:
            slot.handle.shutdown(wait=slot.alive and not slot.inflight, cancel_futures=True)
            slot.alive = False
