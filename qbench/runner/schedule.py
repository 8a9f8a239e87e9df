"""The scheduler: CPU stages on an executor, device steps on a device pool, results to a recorder.

Flow per encoding group (samples sharing a bitstream): [pre on a device, once per low-res key]
-> code (a worker; a learned codec on a device) -> post on a device, batched by solver, codec
point and size -> measure (a worker). Code and measure jobs run concurrently on the executor while
the device pool (:mod:`.device_pool`: this process, a process per device, or Ray actors) works
through the device queue; every result goes to the :class:`Recorder` (the runner, the only store
writer) as soon as it arrives. Each job in flight carries its completion callbacks. A device
step whose worker died is submitted again to the others (at most twice).
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from ..cachefile import write_png
from ..errors import FOLDER_ERRNOS
from ..images import ImageSource
from ..pipelines import COMPRESSED, LOWRES, ORIGINAL, Pipeline
from ..solvers import Context
from ..store import ArtefactRow
from .device import DeviceReply, DeviceStage, DeviceWorker
from .device_pool import DeviceLost, DevicePool, DevicesGone, InlineDevices
from .executor import WorkerLost
from .plan import GroupTodo, Sample, Todo, Work
from .stages import CodeJob, MeasureJob, StageResult, run_code, run_measure


class Recorder(Protocol):
    """What the scheduler reports to; nothing else of the run is visible to it."""

    def record(self, result: StageResult) -> None:
        """Store a stage's records (encoding, artefact, values, example images)."""

    def record_artefact(self, row: ArtefactRow) -> None:
        """Store an artefact made in this process (a low-res image)."""

    def fail(self, key: str, stage: str, detail: str, exc: BaseException | str, component: str = "") -> None:
        """Record a failed job."""

    def output_computed(self) -> None:
        """Count one solver output computed."""

    def log(self, msg: str) -> None:
        """Tell the user."""

    def record_cost(self, label: str, kind: str, component, cost) -> None:
        """Store a cost measured in this process (only called by a stage built around this recorder)."""

    def device_cost(self, label: str, kind: str, spec_hash: str, device: str, cost) -> None:
        """Store a cost a device worker measured and returned."""


@dataclass(frozen=True)
class _Job:
    """A job in flight: what ran, and what to call with its result or its error."""

    what: str
    fn: Callable | None             # None: a device step, ``job`` is (step, pair, args, probe)
    job: Any
    done: Callable[[Any], None]
    failed: Callable[[BaseException], None]
    attempt: int = 1

    @property
    def device(self) -> bool:
        return self.fn is None


def interleave(queue: list, lanes: int, key: Callable[[Any], str] = lambda item: item[1].image_hash) -> list:
    """``queue`` (code jobs in plan order: image by image; or any items whose ``key`` is their
    image) as ``lanes`` lanes taken in turn, the images dealt to the lanes in their order, each
    lane keeping its images' jobs together. With a lane per worker, the jobs in flight at any time
    belong to as many images as there are workers, so an executor that keeps an image on one
    worker (:class:`.executor.LocalExecutor`) reads and prepares each original once."""
    if lanes <= 1:
        return queue
    by_image: dict[str, list] = {}
    for item in queue:
        by_image.setdefault(key(item), []).append(item)
    rows: list[list] = [[] for _ in range(lanes)]
    for i, items in enumerate(by_image.values()):
        rows[i % lanes].extend(items)
    return [row[k] for k in range(max(map(len, rows))) for row in rows if k < len(row)]


class Scheduler:
    """Executes a run's :class:`~qbench.runner.plan.Todo`; ``recorder`` receives records and failures.

    ``codec_names`` says how workers rebuild each codec label; outputs are cached under
    ``cache_dir`` (as PNG when ``quantize``) and kept there when ``keep_images`` (decoded images
    of library codecs too when ``keep_decoded``). ``devices`` is a :class:`DevicePool`, or a
    :class:`DeviceStage` run in this process."""

    def __init__(self, recorder: Recorder, todo: Todo, pipelines: dict[tuple[str, str], Pipeline], executor,
                 devices: DevicePool | DeviceStage, bar, *, cache_dir: str | Path, codec_names: dict[str, str],
                 quantize: bool, keep_images: bool, keep_decoded: bool = False,
                 examples: dict[str, set[str]] | None = None):
        self.r = recorder
        self.pipelines = pipelines
        self.ex = executor
        self.devices = (InlineDevices(DeviceWorker(pipelines, devices)) if isinstance(devices, DeviceStage)
                        else devices)
        self.bar = bar
        self.todo = todo
        self.cache_dir = Path(cache_dir)
        self.codec_names = codec_names
        self.quantize = quantize
        self.keep_images = keep_images
        self.keep_decoded = keep_decoded          # decoded images of library codecs kept too
        self.inflight: dict[Any, _Job] = {}
        self.code_queue: deque = deque()          # (group, job) waiting for submission
        self.device_queue: deque = deque()        # device steps (pre, learned codecs) waiting for a device
        self._spec_hashes: dict[tuple[str, str], str] = {}
        self.batches: dict[tuple, list] = defaultdict(list)
        self.max_inflight = max(4, 3 * getattr(executor, "workers", 1))
        self.examples = examples or {}         # diagnostic label -> pixel hashes of its example images

    # -- helpers -------------------------------------------------------------------------------------
    def _pipe(self, s: Sample) -> Pipeline:
        return self.pipelines[(s.solver, s.codec)]

    def _out_path(self, s: Sample) -> Path:
        ext = ".png" if self.quantize else ".npy"
        return self.cache_dir / "outputs" / s.out_key[:2] / (s.out_key + ext)

    def _finish(self, samples: list[Sample]) -> None:
        self.bar.update(len(samples))

    def _fail(self, samples: list[Sample], stage: str, exc: BaseException, key: str | None = None) -> None:
        if isinstance(exc, OSError) and exc.errno in FOLDER_ERRNOS:
            raise exc                         # the results folder is full or read-only: stop the run
        for s in samples:
            self.r.fail(key or s.out_key, stage, s.what, exc, s.solver if stage in ("pre", "solve") else s.codec)
        self._finish(samples)

    # -- executing the plan --------------------------------------------------------------------------
    def run(self) -> None:
        """Execute the plan: originals' no-reference values, then every group (images dealt to one
        lane per worker, :func:`interleave`), until all jobs are done.

        The plan is taken a little at a time (:meth:`_feed`): jobs are made and submitted only
        while few are in flight and queued (``max_inflight`` each), so what the run holds at once
        (jobs, decoded images, outputs waiting to be measured) does not grow with the dataset."""
        groups = interleave(self.todo.groups, getattr(self.ex, "workers", 1),
                            key=lambda g: g.samples[0].image.pixel_hash)
        self._plan = itertools.chain(((self._measure_original, o) for o in self.todo.originals),
                                     ((self._start_group, g) for g in groups))
        self._planned = False            # every item of the plan taken
        self._loop()

    def _feed(self) -> None:
        """Take items of the plan while there is room in flight (workers may lag up to the bound
        at which devices wait for them) and in the code and device queues, then submit what the
        code queue may."""
        while (not self._planned and self._cpu_inflight() < 2 * self.max_inflight
               and len(self.code_queue) + len(self.device_queue) < self.max_inflight):
            item = next(self._plan, None)
            if item is None:
                self._planned = True
                break
            start, what = item
            start(what)
        self._submit_code()

    def _measure_original(self, item: tuple[Sample, tuple]) -> None:
        """The no-reference values of an original (once per image)."""
        s, missing = item
        img = s.image
        what = f"{img.dataset}/{img.name} (original)"

        def done(result: StageResult) -> None:
            self._record(result, img.pixel_hash, what)

        self._submit("measure", run_measure, MeasureJob(
            img.pixel_hash, ORIGINAL, img.source, img.pixel_hash, None, None, 0.0, False, missing), done,
            lambda exc: self.r.fail(img.pixel_hash, "measure", what, exc))

    def _start_group(self, group: GroupTodo) -> None:
        self._finish(group.finished)
        for work in group.measure:
            self._submit_measure(work, None, work.output, 0.0, write=False)
        if not group.code:
            return
        first = group.samples[0]
        if not group.pipeline.has_pre:
            self._code_group(group, first.image.source)
        elif group.lowres is not None:
            self._code_group(group, ImageSource(group.lowres))
        else:
            self.device_queue.append(lambda: self._make_lowres(group))

    def _code_group(self, group: GroupTodo, source: ImageSource) -> None:
        """Queue the code job of ``group`` for its input ``source`` (the original, or its low-res image)."""
        first = group.samples[0]
        pipe = group.pipeline
        img = first.image
        codec = pipe.codec
        cached = group.cached
        job = CodeJob(group.enc_key, img.pixel_hash, first.codec, self.codec_names[first.codec],
                      dict(codec.params), first.quality,
                      first.target, source, img.shape[0] * img.shape[1], str(self.cache_dir),
                      img.source, cached_bytes=cached.bytes_path if cached else None,
                      cached_hash=cached.bytes_hash if cached else None,
                      keep_decoded=(codec.device_bound or self.keep_decoded) and self.keep_images,
                      return_decoded=bool(group.solve or group.remeasure), metrics=group.metrics,
                      diagnostics=group.diagnostics)
        if codec.device_bound:
            self.device_queue.append(lambda: self._device_code(group, job))
        else:
            self.code_queue.append((group, job))

    def _make_lowres(self, group: GroupTodo) -> None:
        """The pre step on a device, once per low-res key; the result is a cached PNG, then the group's input."""
        s = group.samples[0]
        pipe = group.pipeline
        ctx = Context(codec=s.codec, image_names=(s.image.name,), original_size=s.image.shape[:2])

        def done(value) -> None:
            low, seconds = value
            path = self.cache_dir / "lowres" / s.keys.pre_key[:2] / f"{s.keys.pre_key}.png"
            sha = write_png(low, path)
            self.r.record_artefact(ArtefactRow(s.keys.pre_key, LOWRES, str(path), seconds,
                                               {"shape": list(low.shape)}, sha))
            self._code_group(group, ImageSource(str(path)))

        self._submit_device("pre", (s.solver, s.codec), (s.image.source, ctx), done,
                            lambda exc: self._fail(group.samples, "pre", exc, group.enc_key),
                            self._probe("solver", s.solver, pipe.solver))

    # -- the loop ------------------------------------------------------------------------------------
    def _submit(self, what: str, fn, job, done: Callable[[StageResult], None],
                failed: Callable[[BaseException], None], attempt: int = 1) -> None:
        self.inflight[self.ex.submit(fn, job)] = _Job(what, fn, job, done, failed, attempt)

    def _submit_device(self, step: str, pair: tuple[str, str], args: tuple, done: Callable[[Any], None],
                       failed: Callable[[BaseException], None], probe: tuple[str, str, str] | None = None,
                       attempt: int = 1) -> None:
        """Start a device step on the pool; ``done`` gets its value once its costs are recorded."""
        handle = self.devices.submit(step, pair, args, probe)
        self.inflight[handle] = _Job(step, None, (step, pair, args, probe), done, failed, attempt)

    def _probe(self, kind: str, label: str, component) -> tuple[str, str, str]:
        """``(kind, label, spec_hash)`` of the component a device step sets up (for its cost probe)."""
        key = (kind, label)
        if key not in self._spec_hashes:
            self._spec_hashes[key] = component.spec_hash()
        return (kind, label, self._spec_hashes[key])

    def _cpu_inflight(self) -> int:
        return sum(1 for j in self.inflight.values() if not j.device)

    def _submit_code(self) -> None:
        while self.code_queue and self._cpu_inflight() < self.max_inflight and self._queued() < 64:
            group, job = self.code_queue.popleft()
            self._submit("code", run_code, job, lambda result, group=group: self._code_done(group, result),
                         lambda exc, group=group: self._fail(group.samples, "encode", exc, group.enc_key))

    def _queued(self) -> int:
        return sum(len(v) for v in self.batches.values())

    def _submit_measure(self, work: Work, out: np.ndarray | None, path: str, seconds: float,
                        write: bool = True, compressed: np.ndarray | None = None,
                        info: dict[str, Any] | None = None) -> None:
        """Measure a solver output; its diagnostics too when the decoded image it came from is given."""
        s = work.sample
        img = s.image
        diags = work.diagnostics if compressed is not None else ()
        examples = tuple(r.label for r in diags if img.pixel_hash in self.examples.get(r.label, ()))
        job = MeasureJob(s.out_key, s.out_role, img.source, img.pixel_hash, out, path, seconds, write,
                         work.metrics, diagnostics=diags,
                         compressed=compressed if diags else None, examples=examples,
                         image_dir=str(self.cache_dir) if examples else None, info=info or {})

        def done(result: StageResult) -> None:
            self._record(result, s.out_key, s.what)
            self._finish([s])

        self._submit("measure", run_measure, job, done, lambda exc: self._fail([s], "measure", exc))

    def _loop(self) -> None:
        while True:
            self._feed()
            self._dispatch()
            if not self.inflight:
                if self.batches and not self.device_queue:   # nothing in flight can fill them:
                    self._run_batch(max(self.batches, key=lambda k: len(self.batches[k])))  # the fullest
                    continue
                if not self.code_queue and not self.device_queue and self._planned:
                    break
                continue
            for h in self._wait():
                self._on_result(h, self.inflight.pop(h))

    def _dispatch(self) -> None:
        """Give the device pool what it has room for: queued steps first, then full batches; not
        while workers lag behind the devices (outputs waiting to be measured hold memory)."""
        if (self.device_queue or self.batches) and not self.devices.live():
            raise DevicesGone(self.devices.gone_message())
        while self.devices.free() > 0 and self._cpu_inflight() < 2 * self.max_inflight:
            if self.device_queue:
                self.device_queue.popleft()()
                continue
            ready = self._ready_batches()
            if not ready:
                break
            self._run_batch(ready[0])

    def _wait(self) -> set:
        """Handles done now (device steps run in this process are done when submitted), else
        block for the first to finish."""
        done = {h for h, j in self.inflight.items() if isinstance(h, cf.Future) and h.done()}
        return done or self.ex.wait(list(self.inflight), timeout=None)

    def _ready_batches(self) -> list[tuple]:
        return [k for k, items in self.batches.items() if len(items) >= self.pipelines[k[:2]].batch_size]

    # -- results -------------------------------------------------------------------------------------
    def _on_result(self, handle, job: _Job) -> None:
        if job.device:
            self._on_device_result(handle, job)
            return
        try:
            result: StageResult = self.ex.result(handle)
        except WorkerLost as exc:
            if job.attempt < 2:               # a worker died (killed, out of memory): once more on a new one
                self.r.log(f"{exc}; retrying its {job.what} job")
                self._submit(job.what, job.fn, job.job, job.done, job.failed, job.attempt + 1)
                return
            job.failed(exc)
        except Exception as exc:
            job.failed(exc)
        else:
            job.done(result)

    def _on_device_result(self, handle, job: _Job) -> None:
        step, pair, args, probe = job.job
        try:
            reply: DeviceReply = self.devices.result(handle)
        except DeviceLost as exc:
            if job.attempt < 3:               # on another device worker (raises when none is left)
                self.r.log(f"{exc}; its {step} step goes to another device worker")
                self._submit_device(step, pair, args, job.done, job.failed, probe, job.attempt + 1)
                return
            job.failed(exc)
        except Exception as exc:
            job.failed(exc)
        else:
            for label, kind, spec_hash, cost in reply.costs:
                self.r.device_cost(label, kind, spec_hash, reply.device, cost)
            job.done(reply.value)

    def _device_code(self, group: GroupTodo, job: CodeJob) -> None:
        first = group.samples[0]
        self._submit_device("code", (first.solver, first.codec), (job,),
                            lambda result: self._device_coded(group, job, result),
                            lambda exc: self._fail(group.samples, "encode", exc, group.enc_key),
                            self._probe("codec", first.codec, group.pipeline.codec))

    def _device_coded(self, group: GroupTodo, job: CodeJob, result: StageResult) -> None:
        first = group.samples[0]
        metrics, diags = job.metrics, job.diagnostics
        if metrics or diags:      # measuring needs no device: hand it to a worker
            first_img = first.image
            what = f"{group.passthrough[0].what if group.passthrough else group.enc_key} (compressed)"

            def done(measured: StageResult) -> None:
                self._record(measured, group.enc_key, what)
                self._finish(group.passthrough)

            self._submit("measure", run_measure, MeasureJob(
                job.enc_key, COMPRESSED, first_img.source, first_img.pixel_hash, result.decoded,
                None, 0.0, False, metrics, diagnostics=diags), done,
                lambda exc: self._fail(group.passthrough, "measure", exc, group.enc_key))
            result = StageResult(result.encoding, result.decoded if group.solve or group.remeasure else None)
            self._code_done(group, result, finish_passthrough=False)
        else:
            self._code_done(group, result)

    def _record(self, result: StageResult, key: str, what: str) -> None:
        """Store a stage result; each metric that failed on it is recorded as a failure of ``key``."""
        self.r.record(result)
        for metric, msg in result.errors:
            self.r.fail(key, "metric", f"{what} {metric}", msg)

    def _code_done(self, group: GroupTodo, result: StageResult, finish_passthrough: bool = True) -> None:
        self._record(result, group.enc_key, f"{group.samples[0].what} (compressed)")
        if finish_passthrough:
            self._finish(group.passthrough)
        for work in group.remeasure:
            self._submit_measure(work, None, work.output, 0.0, write=False, compressed=result.decoded)
        if not group.solve:
            return
        enc = result.encoding or group.cached
        for work in group.solve:
            s = work.sample
            # the original's shape too: one decoded size can come from several original sizes
            # (a rescaler's ceil(H / s)), and a batch's outputs all take its first image's size
            shape = (result.decoded.shape, s.image.shape)
            self.batches[(s.solver, s.codec, s.quality, shape)].append((work, enc, result.decoded))

    def _run_batch(self, key: tuple) -> None:
        items = self.batches.pop(key)
        size = self.pipelines[key[:2]].batch_size
        for i in range(0, len(items), size):
            self._post(items[i:i + size])

    def _post(self, items: list) -> None:
        first = items[0][0].sample
        pipe = self._pipe(first)
        qts = tuple(tuple(tuple(t) for t in enc.side_info.get("qtables", [])) for _, enc, _ in items)
        ctx = Context(codec=first.codec, quality=first.quality, bpp=tuple(enc.bpp for _, enc, _ in items),
                      qtables=qts if any(qts) else (), image_names=tuple(w.sample.image.name for w, _, _ in items),
                      original_size=first.image.shape[:2])
        self._submit_device("post", (first.solver, first.codec),
                            ([d for _, _, d in items], ctx, first.out_key, first.image.shape, self.quantize),
                            lambda value: self._posted(items, *value),
                            lambda exc: self._fail([w.sample for w, _, _ in items], "solve", exc),
                            self._probe("solver", first.solver, pipe.solver))

    def _posted(self, items: list, outs: list, seconds: float, infos: list[dict[str, Any]]) -> None:
        """Measure each output of a batch (``infos``: what the solver reported per image)."""
        for (work, _, d), out, info in zip(items, outs, infos):
            s = work.sample
            if isinstance(out, BaseException):
                self._fail([s], "solve", out)
                continue
            self.r.output_computed()
            self._submit_measure(work, out, str(self._out_path(s)), seconds,
                                 write=self.keep_images, compressed=d, info=info)

