"""The Runner: sets a run up, hands the work to the scheduler, and is the only store writer.

Resume is the default: samples whose values are all in the store are skipped, cached bitstreams,
low-res images and solver outputs are reused, and only what is new is computed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .. import datasets as dataset_mod
from ..errors import FOLDER_ERRNOS, ConfigError, OutputError, QbenchError
from ..folders import missing_folders, remove_empty
from ..store import ArtefactRow, Store
from ..suite import Suite
from ..vocabulary import STORE_NAME
from .environment import collect_environment, resolve_device
from .executor import make_executor
from .plan import Todo, example_images, index_dataset, make_pipelines, plan_samples, plan_todo
from .recompute import drop, select
from .resolve import Resolved, changed_components, describe_components, resolve
from .stages import after_import


@dataclass
class RunResult:
    """What a run did: counts of computed and reused work, and the failures."""

    out_dir: Path
    run_id: int
    suite_hash: str
    samples: int = 0
    samples_done_before: int = 0
    encodings_computed: int = 0
    outputs_computed: int = 0
    metric_values_computed: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)   # (what, stage, error)
    skipped_metrics: dict[str, str] = field(default_factory=dict)
    cache_rejected: list[tuple[str, str]] = field(default_factory=list)   # (path, state): recomputed
    seconds: float = 0.0
    changed: list[str] = field(default_factory=list)       # components whose identity changed since the store
    devices: list[str] = field(default_factory=list)       # the device of each device worker
    device_steps: list[int] = field(default_factory=list)  # the device steps each one finished
    devices_lost: list[str] = field(default_factory=list)  # device workers that died (their steps ran elsewhere)
    recomputed: list[str] = field(default_factory=list)    # what --recompute dropped

    #: (stage, component, error, where) -> [count, first detail, full text]
    failure_groups: dict[tuple[str, str, str, str], list] = field(default_factory=dict)

    def note_failure(self, stage: str, component: str, error: str, where: str, detail: str, full: str) -> None:
        """Count a failure in its group (stage, component, error, where); the first one's text is kept."""
        group = self.failure_groups.setdefault((stage, component, error, where), [0, detail, full])
        group[0] += 1

    @property
    def computed_anything(self) -> bool:
        """Whether this run computed any encoding, output or value."""
        return bool(self.encodings_computed or self.outputs_computed or self.metric_values_computed)


class Runner:
    """Execute a suite into ``out_dir`` (a results store, a cache and the reports).

    ``suite`` is a :class:`~qbench.runner.resolve.Resolved` suite (its components built once, by
    validation) or a :class:`Suite`, resolved (under ``data_root``) when the run starts.

    Device steps run in this process on ``device``; on one device process per device of a list
    (``"cuda:0,cuda:1"``, local executor); or, with ``executor="ray"``, in ``device_actors`` Ray
    actors of ``gpus_per_actor`` GPUs each (:func:`~.ray_devices.plan_actors` gives the defaults)."""

    def __init__(self, suite: Suite | Resolved, out_dir: str | Path, *, device: str = "auto",
                 workers: int | None = None, fresh: bool = False, data_root: str | None = None, progress: bool = True,
                 log: Callable[[str], None] | None = None, executor: str = "local", address: str | None = None,
                 recompute: Sequence[str] = (), rehash: bool = False, device_actors: int | None = None,
                 gpus_per_actor: float | None = None):
        from .device_pool import parse_devices

        self.resolved = suite if isinstance(suite, Resolved) else None
        self.suite = suite.suite if isinstance(suite, Resolved) else suite
        self.out_dir = Path(out_dir)
        listed = parse_devices(device)
        if len(listed) > 1 and executor != "local":
            raise ConfigError(f"--device {device}: a device list is for the local executor; with --executor "
                              f"{executor} use --device-actors and --gpus-per-actor")
        if executor != "ray" and (device_actors is not None or gpus_per_actor is not None):
            raise ConfigError("--device-actors and --gpus-per-actor need --executor ray")
        self.devices = [resolve_device(d) for d in listed]
        self.device = self.devices[0]           # the main process's: metrics, costs, the run's record
        self.device_arg = device                # what device actors resolve for themselves
        self.device_actors = device_actors
        self.gpus_per_actor = gpus_per_actor
        if workers is not None and workers < -1:
            raise ConfigError(f"workers must be >= 0, or -1 for one per core; got {workers}")
        self.workers = (min(4, os.cpu_count() or 1) if workers is None
                        else (os.cpu_count() or 1) if workers == -1 else workers)
        self.fresh = fresh
        self.recompute = list(recompute)
        self.data_root = data_root
        self.progress = progress
        self.log = log or (lambda msg: None)
        self.executor_kind = executor
        self.address = address
        self.rehash = rehash           # pixel-hash every image again, ignoring the file-hash cache
        self._early = None             # a local pool started before planning (a new store)
        self._verified: set[tuple[str, str]] = set()     # (path, sha256) found intact in this run
        self.cache_dir = self.out_dir.resolve() / "cache"     # absolute: workers may run elsewhere
        self.quantize = self.suite.output.quantize
        self.keep_images = self.suite.output.keep_images
        self.keep_decoded = self.suite.output.keep_decoded
        self.store: Store | None = None
        self.codec_names: dict[str, str] = {}
        self.ladders: dict[int, list[float] | None] = {}
        self.result: RunResult | None = None
        self.examples: dict[str, set[str]] = {}     # diagnostic label -> its example images' pixel hashes

    # -- records (the scheduler and passes call these; nothing else writes the store) ---------------
    def fail(self, key: str, stage: str, detail: str, exc: BaseException | str, component: str = "") -> None:
        """Record a failed job; ``component`` (a solver or codec label) groups repeats of one error."""
        where = ""
        if isinstance(exc, str):
            msg, full = exc.splitlines()[0] if exc else "", exc
        elif isinstance(exc, QbenchError):
            msg = full = str(exc)
        else:
            from ..frames import where as user_site

            msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
            where = user_site(exc)
            full = (f"{type(exc).__name__}: {exc}" + (f"\nat {where}" if where else "") + "\n"
                    + "".join(traceback.format_exception(exc, limit=-12)))
        self.result.failures.append((detail, stage, msg))
        self.result.note_failure(stage, component, msg, where, detail, full)
        self.store.put_failure(key, stage, detail, full, self.result.run_id)

    def cache_ok(self, path: str | None, expected: str | None, quiet: bool = False) -> bool:
        """Whether a cache file is present and matches its recorded sha256; a damaged or
        unrecorded file is logged (unless ``quiet``) and reported as absent, so it is recomputed."""
        from ..cachefile import MISMATCH, OK, UNRECORDED, check

        if path and expected and (path, expected) in self._verified:
            return True
        state = check(path, expected)
        if state == OK:
            self._verified.add((path, expected))
            return True
        if state in (MISMATCH, UNRECORDED) and not quiet:
            self._rejected(path, state)
        return False

    def _rejected(self, path: str, state: str) -> None:
        from ..cachefile import MISMATCH

        rejected = self.result.cache_rejected
        if any(p == path for p, _ in rejected):
            return
        rejected.append((path, state))
        if len(rejected) <= 20:
            why = "does not match its recorded sha256" if state == MISMATCH else "has no recorded sha256"
            self.log(f"cache file {path} {why}: computing it again")
        elif len(rejected) == 21:
            self.log("… more cache files are computed again (the run's summary gives the count)")

    def record(self, result) -> None:
        """Write a stage result to the store and count what it computed."""
        for path in getattr(result, "repaired", ()):
            self._rejected(path, "mismatch")
        if result.encoding is not None:
            self.store.put_encoding(result.encoding, self.result.run_id)
            self.result.encodings_computed += 1
            if getattr(result, "code_seconds", None) is not None:
                self.store.put_code_seconds(result.encoding.enc_key, *result.code_seconds, self.result.run_id)
        if result.artefact is not None:
            self.store.put_artefact(result.artefact, self.result.run_id)
        if result.values:
            self.store.put_values(result.values, self.result.run_id)
            self.result.metric_values_computed += len(result.values)
        for row in getattr(result, "extra", ()):
            self.store.put_artefact(row, self.result.run_id)

    def record_artefact(self, row: ArtefactRow) -> None:
        """Write an artefact row to the store."""
        self.store.put_artefact(row, self.result.run_id)

    def record_cost(self, label: str, kind: str, component, cost) -> None:
        """Write a solver's or learned codec's measured cost to the store."""
        self.store.put_cost(label, kind, component.spec_hash(), self.device, cost, self.result.run_id)

    def output_computed(self) -> None:
        """Count one solver output computed."""
        self.result.outputs_computed += 1

    def device_cost(self, label: str, kind: str, spec_hash: str, device: str, cost) -> None:
        """Write a cost a device worker measured on ``device`` to the store."""
        self.store.put_cost(label, kind, spec_hash, device, cost, self.result.run_id)

    def _cost_known(self, spec_hash: str, device: str | None = None) -> bool:
        """Whether a cost was measured on ``device`` (this run's) with this run's probe size and repeats."""
        out = self.suite.output
        return self.store.get_cost(spec_hash, device or self.device, out.cost_probe, out.cost_repeats) is not None

    def _device_stage(self):
        """The device stage of this run: it probes costs not yet stored for this device."""
        from .device import DeviceStage

        out = self.suite.output
        return DeviceStage(self.device, self.suite.seed, self.record_cost, out.cost_probe, out.cost_repeats,
                           self._cost_known, self.ladders)

    # -- the run -------------------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Run the suite; the results folder's file-system errors (read-only, full, a name too
        long) are raised as one-line :class:`OutputError`\\s."""
        try:
            return self._run_in_folder()
        except OSError as exc:
            if exc.errno in FOLDER_ERRNOS:
                raise OutputError(f"cannot write the results folder {self.out_dir}: "
                                  f"{exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''}") from exc
            raise

    def _run_in_folder(self) -> RunResult:
        t_start = time.perf_counter()
        if self.resolved is None:         # a bad component stops the run before anything is written
            self.resolved = resolve(self.suite, data_root=self.data_root)
        datasets = self._datasets()      # a listing error stops the run before anything is written
        if self.fresh:
            for p in self._store_files():
                p.unlink(missing_ok=True)
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        created = missing_folders(self.out_dir)
        new_store = not (self.out_dir / STORE_NAME).exists()
        self._early = self._start_workers_early() if new_store else None
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            suite_hash = self.suite.hash()
            self.store = Store(self.out_dir / STORE_NAME)
            env = collect_environment(self.device) | {"executor": self.executor_kind, "workers": self.workers}
            run_id = self.store.start_run(self.suite.name, suite_hash, self.suite.model_dump(mode="json"), env)
        except BaseException:
            if self._early is not None:
                self._early.close()
                self._early = None
            raise
        self.result = RunResult(self.out_dir, run_id, suite_hash)
        status, pending = "failed", True
        try:
            self._run(datasets)
            status = "ok" if not self.result.failures else "finished_with_failures"
            pending = False
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            r = self.result
            r.seconds = time.perf_counter() - t_start
            try:
                try:
                    self.store.finish_run(run_id, status, {
                        "samples": r.samples, "samples_done_before": r.samples_done_before,
                        "encodings_computed": r.encodings_computed, "outputs_computed": r.outputs_computed,
                        "metric_values_computed": r.metric_values_computed, "failures": len(r.failures),
                        "seconds": round(r.seconds, 3),
                        **({"devices": r.devices, "device_steps": r.device_steps}
                           if len(r.devices) > 1 or self.executor_kind == "ray" else {}),
                        **({"devices_lost": r.devices_lost} if r.devices_lost else {})})
                except QbenchError:
                    if not pending:      # a full disk fails this too: keep the error that stopped the run
                        raise
                try:
                    alone = self.store.query("SELECT COUNT(*) FROM runs")[1][0][0] == 1
                except QbenchError:
                    alone = False
            finally:
                try:
                    if self._early is not None:          # started early, then not needed
                        self._early.close()
                        self._early = None
                finally:
                    self.store.close()
            if status == "failed" or status == "interrupted":
                if new_store and alone and not r.computed_anything:
                    self._remove_leftovers(created)
        return self.result

    def _start_workers_early(self):
        """A new store (a first or ``--fresh`` run) will compute nearly everything: start the local
        pool's workers now, so the forkserver's interpreter and the workers start while this
        process opens the store and indexes and plans the datasets (about 0.3 s of a Kodak run's
        start-up on two cores). A rerun into an existing store, where often nothing is computed,
        starts them only when samples are to be computed."""
        if self.executor_kind != "local" or self.workers <= 0:
            return None
        executor = make_executor("local", self.workers, self.device, self.address)
        executor.start()
        return executor

    def _store_files(self) -> list[Path]:
        return [self.out_dir / f"{STORE_NAME}{suffix}" for suffix in ("", "-wal", "-shm")]

    def _remove_leftovers(self, created: list[Path]) -> None:
        """After a run that failed before computing anything into a store it created: remove that
        store, a cache folder without files and the folders the run created, so no empty results
        folder is left behind."""
        for p in self._store_files():
            p.unlink(missing_ok=True)
        if self.cache_dir.is_dir() and not any(f.is_file() for f in self.cache_dir.rglob("*")):
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        remove_empty(created)

    def _datasets(self) -> list[tuple[str, dataset_mod.Dataset]]:
        """List the suite's datasets' images: names must be unique within a dataset, and the
        results folder must not lie inside a dataset's folder (its cache and figures would be read
        as images by the next run)."""
        from ..datasets.base import check_unique

        out = self.out_dir.resolve()
        built = []
        for spec, (label, ds) in zip(self.suite.datasets, self.resolved.datasets):
            folder = ds.source_folder
            if folder is not None:
                folder = Path(folder).resolve()
                if out == folder or folder in out.parents:
                    where = "is the folder" if out == folder else "lies inside the folder"
                    raise ConfigError(f"results folder {self.out_dir} {where} of dataset {spec.label!r} "
                                      f"({folder}): its cache and figures would be read as images by the "
                                      f"next run; choose an --out outside {folder}")
            check_unique(spec.label, ds.records())
            built.append((spec.label, ds))
        return built

    def _run(self, datasets: list[tuple[str, dataset_mod.Dataset]]) -> None:
        store, result = self.store, self.result
        comps = self.resolved.components
        for m in comps.metrics + comps.set_metrics:
            m.device = self.device
        store.clear_skipped_metrics(result.suite_hash)
        for key, reason in comps.skipped.items():
            result.skipped_metrics[key] = reason
            store.put_skipped_metric(result.suite_hash, key, reason, result.run_id)
        pipelines = make_pipelines(comps)
        self.codec_names = {c.label: c.spec_name for c in comps.codecs}     # how workers rebuild them
        self.ladders = {id(c.codec): None if c.target else c.points for c in comps.codecs}
        kinds = {s_label: pipelines[(s_label, comps.codecs[0].label)].kind for s_label, _ in comps.solvers}
        rows = describe_components(self.suite, comps, kinds)
        if self.recompute:
            select(self.recompute, comps)           # an unknown name fails before anything is dropped
        result.changed = changed_components(store.components(result.suite_hash), rows)
        for line in result.changed:
            self.log(line)
        store.put_components(result.suite_hash, rows)
        images = []
        for label, ds in datasets:
            images += index_dataset(label, ds, store, lambda what, path, exc: self.fail(path, "read", what, exc),
                                    rehash=self.rehash)
        samples = plan_samples(images, comps, pipelines, self.quantize)
        self.examples = example_images(samples, comps.diagnostics)
        store.put_plan(result.suite_hash, [
            (s.sample_id, s.image.dataset, s.image.name, s.image.pixel_hash, s.codec, s.quality, int(s.target),
             s.solver, s.task, s.pipeline, s.keys.pre_key, s.enc_key, s.out_key, s.out_role, i)
            for i, s in enumerate(samples)])
        result.samples = len(samples)
        if self.recompute:
            result.recomputed = drop(store, result.suite_hash, self.recompute, samples, comps, pipelines)
            for line in result.recomputed:
                self.log(line)
        need_outputs = bool(comps.set_metrics) and self.keep_images
        todo = plan_todo(samples, pipelines, comps.metrics, comps.diagnostics, store, self.cache_ok, need_outputs)
        result.samples_done_before = todo.done_before
        if not todo.samples:
            self.log(f"nothing new to compute: all {len(samples)} samples are in the store")
        else:
            self.log(f"{len(todo.samples)} of {len(samples)} samples to compute "
                     f"({result.samples_done_before} already in the store)")
            self._execute(todo, pipelines)
        self._measure_missing_costs(pipelines)
        if comps.set_metrics:
            self._set_pass(comps, samples)

    def _set_pass(self, comps, samples) -> None:
        """Write the set-level pass's values and failures as they come."""
        from .setpass import SetFailure, set_pass

        result = self.result
        for row in set_pass(self.store, comps, samples, self.suite, result.suite_hash, self.device, self.cache_ok,
                            spill_dir=self.cache_dir / "features"):
            if isinstance(row, SetFailure):
                self.fail(row.key, "set_metric", row.detail, row.exc)
                continue
            try:
                self.store.put_set_value(result.suite_hash, row.group, row.ref_role, row.test_role, row.metric,
                                         row.version, row.set_key, row.value, row.n_images, row.n_features,
                                         result.run_id)
            except Exception as exc:  # as when it was computed: the value is a failure, the run goes on
                self.fail(row.set_key, "set_metric", f"{row.metric} {row.ref_role}-{row.test_role} "
                          f"{'/'.join(map(str, row.group))}", exc)
                continue
            result.metric_values_computed += 1

    def _measure_missing_costs(self, pipelines) -> None:
        """Probe again the cost of every solver and learned codec measured on this device with
        another probe size or repeat count (when every result was reused, nothing set them up); a
        component that cannot be set up keeps its old cost."""
        from ..pipelines import LearnedCodecCodec

        stage = self._device_stage()
        seen: set[tuple[str, str]] = set()
        for (solver_label, codec_label), pipe in pipelines.items():
            wanted = [(solver_label, pipe.solver, "solver", pipe.solver.spec_hash(), stage.solver_probe(pipe))]
            if isinstance(pipe.codec, LearnedCodecCodec):
                wanted.append((codec_label, pipe.codec, "codec", pipe.codec.spec_hash(),
                               stage.codec_probe(pipe.codec)))
            for label, component, kind, spec_hash, probe in wanted:
                if ((kind, label) in seen or self._cost_known(spec_hash)
                        or self.store.get_cost(spec_hash, self.device) is None):
                    continue
                seen.add((kind, label))
                try:
                    stage.ready(label, component, kind, probe)
                except Exception:  # noqa: BLE001 - missing weights now: the old cost stays
                    continue

    def _execute(self, todo: Todo, pipelines) -> None:
        from tqdm import tqdm

        from .device_pool import InlineDevices
        from .schedule import Scheduler

        extra = (self.device_actors or 1) if self.executor_kind == "ray" else 0   # CPU actors' cores
        executor, self._early = self._early, None
        if executor is None:
            executor = make_executor(self.executor_kind, self.workers, self.device, self.address, extra_cpus=extra)
        devices = None
        try:
            devices = self._device_pool(pipelines)
            self.result.devices = devices.devices
            for line in getattr(devices, "start_errors", ()):
                self.log(f"a device actor did not start: {line}")
            if len(devices.slots) > 1 or self.executor_kind == "ray":
                self.log(f"{len(devices.slots)} device worker(s) ({devices.name}): {', '.join(devices.devices)}")
            bar = tqdm(total=len(todo.samples), desc=self.suite.name, unit="sample", disable=not self.progress)
            beside = self.workers if self.executor_kind == "local" and len(devices.slots) == 1 and \
                self.device == "cpu" and isinstance(devices, InlineDevices) else 0
            try:
                with torch_threads_beside(beside):
                    Scheduler(self, todo, pipelines, executor, devices, bar, cache_dir=self.cache_dir,
                              codec_names=self.codec_names, quantize=self.quantize, keep_images=self.keep_images,
                              keep_decoded=self.keep_decoded, examples=self.examples).run()
            finally:
                bar.close()
        finally:
            if devices is not None:
                self.result.devices_lost = list(devices.lost)
                self.result.device_steps = [slot.steps for slot in devices.slots]
                devices.close()
            executor.close()

    def _device_pool(self, pipelines):
        """Where device steps run: this process (one device), a process per listed device, or Ray actors."""
        from .device import DeviceWorker
        from .device_pool import InlineDevices, ProcessDevices

        out = self.suite.output
        ladders = {c.label: None if c.target else c.points for c in self.resolved.components.codecs}
        common = dict(seed=self.suite.seed, probe=out.cost_probe, repeats=out.cost_repeats, ladders=ladders,
                      cost_known=self._cost_known)
        if self.executor_kind == "ray":
            import ray

            from .ray_devices import RayDevices, plan_actors

            n, gpus = plan_actors(ray.cluster_resources(), self.device_arg, self.device_actors, self.gpus_per_actor)
            return RayDevices(pipelines, n=n, gpus=gpus, device=self.device_arg, **common)
        if len(self.devices) > 1:
            return ProcessDevices(self.devices, pipelines, **common)
        return InlineDevices(DeviceWorker(pipelines, self._device_stage()))


@contextmanager
def torch_threads_beside(workers: int) -> Iterator[None]:
    """While CPU solvers run in this process beside ``workers`` pool workers on this machine's
    cores, torch here uses the cores the pool leaves (at least one): more intra-op threads than
    free cores spend the solver's time waking threads (a 128 px Gaussian blur measured 7 s/MP
    instead of milliseconds with 2 threads beside 2 workers on 2 cores). Torch is not imported
    for it; its thread count is restored afterwards. ``workers`` 0: nothing changes."""
    if workers <= 0:
        yield
        return
    n = max(1, (os.cpu_count() or 1) - workers)
    saved: list[int] = []

    def limit(torch) -> None:
        saved.append(torch.get_num_threads())
        torch.set_num_threads(n)

    hook = after_import("torch", limit)
    try:
        yield
    finally:
        if hook is not None and hook in sys.meta_path:
            sys.meta_path.remove(hook)
        if saved:
            sys.modules["torch"].set_num_threads(saved[0])
