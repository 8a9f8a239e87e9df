"""Device actors: solvers and learned codecs in Ray actors, one per GPU (or CPU actors).

With ``--executor ray`` the scheduler's device steps go to ``--device-actors N`` actors, each
reserving ``--gpus-per-actor G`` GPUs (default 1 on a cluster with GPUs, so one actor per GPU;
a fraction packs several small models on one GPU) or, with G = 0, one CPU. Each actor receives
the run's pipelines once (through the object store), sets each component up on its first step
and keeps it; steps are batches from the scheduler. The main process stays the only writer of
the store. An actor that dies is dropped and its steps are submitted again to the others
(:mod:`.device_pool`); actors are not restarted by Ray.

The device inside an actor: ``auto`` is ``cuda`` when Ray gave the actor a GPU and torch sees
one, else ``cpu`` (a cluster that declares GPUs it does not have, as tests do, runs on the CPU);
``cpu`` always; ``cuda`` requires CUDA in the actor.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError
from .device import DeviceReply, DeviceWorker
from .device_pool import CostKnown, DeviceLost, DevicePool, Slot

#: seconds to wait for the actors to start (placement and set-up) before the run fails
START_TIMEOUT = 600.0


class DeviceActor:
    """The body of a device actor: one :class:`DeviceWorker` on the actor's device."""

    def __init__(self, pipelines, device: str, seed: int, probe: int, repeats: int, ladders, threads: int):
        from .stages import init_worker

        init_worker(threads)
        self.worker = DeviceWorker(pipelines, device=actor_device(device), seed=seed, probe=probe,
                                   repeats=repeats, ladders=ladders)

    def device(self) -> str:
        """The device this actor runs on."""
        return self.worker.device

    def run(self, step: str, pair, args: tuple, probe: bool) -> DeviceReply:
        """One device step (see :meth:`DeviceWorker.run`)."""
        return self.worker.run(step, pair, args, probe)


def actor_device(device: str) -> str:
    """The device of an actor asked for ``device`` (``auto``, ``cpu``, ``cuda`` or ``cuda:i``)."""
    if device == "cpu":
        return "cpu"
    import ray

    gpus = ray.get_gpu_ids()
    if device == "auto":
        import torch

        return "cuda" if gpus and torch.cuda.is_available() else "cpu"
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA device is available in a device actor")
    return "cuda"            # Ray makes the actor's GPUs visible as cuda:0...


def plan_actors(resources: dict[str, float], device: str, actors: int | None,
                gpus_per_actor: float | None) -> tuple[int, float]:
    """How many actors, and GPUs each, for a cluster with ``resources``: by default one per GPU
    (``device`` not ``cpu``), else one CPU actor. Raises :class:`ConfigError` for a request the
    cluster cannot place."""
    gpus = float(resources.get("GPU", 0))
    if gpus_per_actor is None:
        gpus_per_actor = 1.0 if gpus and device != "cpu" else 0.0
    if gpus_per_actor < 0:
        raise ConfigError(f"--gpus-per-actor must be >= 0, got {gpus_per_actor:g}")
    if gpus_per_actor > 1 and gpus_per_actor != int(gpus_per_actor):
        raise ConfigError(f"--gpus-per-actor above 1 must be a whole number, got {gpus_per_actor:g}")
    if actors is not None and actors < 1:
        raise ConfigError(f"--device-actors must be >= 1, got {actors}")
    if gpus_per_actor == 0:
        cpus = float(resources.get("CPU", 0))
        n = actors or 1
        if n > cpus:
            raise ConfigError(f"--device-actors {n}: CPU actors take one CPU each; the cluster has {cpus:g}")
        return n, 0.0
    if not gpus:
        raise ConfigError(f"--gpus-per-actor {gpus_per_actor:g}: the Ray cluster has no GPUs "
                          "(use --gpus-per-actor 0 for CPU actors)")
    n = actors or max(1, math.floor(gpus / gpus_per_actor + 1e-9))
    if n * gpus_per_actor > gpus + 1e-9:
        raise ConfigError(f"--device-actors {n} x --gpus-per-actor {gpus_per_actor:g} needs "
                          f"{n * gpus_per_actor:g} GPUs; the cluster has {gpus:g}")
    return n, gpus_per_actor


class RayDevices(DevicePool):
    """``n`` device actors of ``gpus`` GPUs each (CPU actors when 0); waits until each has
    started and said its device."""

    name = "ray"

    def __init__(self, pipelines, *, n: int, gpus: float, device: str, seed: int, probe: int, repeats: int,
                 ladders: dict[str, list[float] | None], cost_known: CostKnown | None = None,
                 timeout: float = START_TIMEOUT):
        import ray

        self._ray = ray
        if gpus:
            cls = ray.remote(num_gpus=gpus, num_cpus=0, max_restarts=0, max_task_retries=0)(DeviceActor)
        else:
            cls = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(DeviceActor)
        shared = ray.put(pipelines)
        handles = [cls.remote(shared, device, seed, probe, repeats, ladders, 1)
                   for _ in range(n)]
        asked = {h.device.remote(): (i, h) for i, h in enumerate(handles)}
        ready, pending = ray.wait(list(asked), num_returns=len(asked), timeout=timeout)
        slots, errors = [], []
        for ref in asked:
            i, h = asked[ref]
            if ref in pending:
                errors.append(f"actor {i} not started after {timeout:g} s (the cluster lacks the resources?)")
                ray.kill(h)
                continue
            try:
                slots.append(Slot(f"device actor {i}", ray.get(ref), h))
            except Exception as exc:  # noqa: BLE001 - its set-up failed: reported below
                errors.append(f"actor {i}: {_first_line(exc)}")
        self.start_errors = errors
        super().__init__(slots, cost_known=cost_known)
        if not slots:
            raise ConfigError(f"no device actor started: {errors[0]}" if errors else "no device actor started")

    def _start(self, slot: Slot, step: str, pair, args: tuple, probe: bool) -> Any:
        return slot.handle.run.remote(step, pair, args, probe)

    def _result(self, slot: Slot, handle: Any) -> DeviceReply:
        from ray.exceptions import RayActorError, RayTaskError

        from .ray_executor import RemoteTraceback, _writable

        try:
            reply = self._ray.get(handle)
        except RayActorError as exc:
            raise DeviceLost(_first_line(exc)) from exc
        except RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception) and not isinstance(cause, RayTaskError):
                raise cause from RemoteTraceback(str(exc))
            raise exc.as_instanceof_cause() from None
        reply.value = _writable(reply.value)
        return reply

    def _stop(self, slot: Slot) -> None:
        try:
            self._ray.kill(slot.handle)
        except Exception:  # noqa: BLE001 - already gone with its node or the cluster
            pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(exc).__name__
