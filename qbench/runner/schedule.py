"""The scheduler: CPU stages on an executor, device steps in this process, results to the runner.

Flow per encoding group (samples sharing a bitstream): [pre on the device, once per low-res key]
-> code (a worker; a learned codec on the device) -> post on the device, batched by solver, codec
point and size -> measure (a worker). Code and measure jobs run concurrently on the executor while
the device works through its queue; every result goes to the runner (the only store writer) as
soon as it arrives.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..cachefile import write_png
from ..errors import FOLDER_ERRNOS
from ..images import ImageSource
from ..pipelines import COMPRESSED, ENHANCED, LOWRES, ORIGINAL, Pipeline
from ..solvers import Context
from ..store import ArtefactRow, EncodingRow
from .device import item_reports
from .executor import WorkerLost
from .plan import Sample
from .stages import CodeJob, DiagnosticRef, MeasureJob, MetricRef, StageResult, run_code, run_measure


@dataclass
class _Group:
    enc_key: str
    samples: list[Sample]
    pipeline: Pipeline
    solve: list[Sample]          # samples whose solver must run
    passthrough: list[Sample] = field(default_factory=list)   # finished by the code stage
    cached: EncodingRow | None = None
    remeasure: list[tuple[Sample, str]] = field(default_factory=list)   # stored output, needs C (diagnostics)


class Scheduler:
    """Runs the todo samples of one run; ``runner`` receives records and failures."""

    def __init__(self, runner, todo: list[Sample], pipelines: dict[tuple[str, str], Pipeline],
                 metrics: list, done: set, executor, device_stage, bar, need_outputs: bool = False,
                 diagnostics: list = (), examples: dict[str, set[str]] | None = None):
        self.r = runner
        self.store = runner.store
        self.pipelines = pipelines
        self.metrics = metrics
        self.refs = tuple(MetricRef(m.name, m.preset.get("crop_border") or None, m.key, m.version, m.kind)
                          for m in metrics)
        self.done = done
        self.ex = executor
        self.dev = device_stage
        self.bar = bar
        self.todo = todo
        self.cache_dir = Path(runner.cache_dir)
        self.quantize = runner.quantize
        self.inflight: dict[Any, tuple[str, Any]] = {}
        self.code_queue: deque = deque()          # (group, job) waiting for submission
        self.device_code: deque = deque()         # (group, job) for device-bound codecs
        self.batches: dict[tuple, list] = defaultdict(list)
        self.max_inflight = max(4, 3 * getattr(executor, "workers", 1))
        self.need_outputs = need_outputs       # set-level metrics read stored outputs
        self.diags = tuple(DiagnosticRef.of(d) for d in diagnostics)
        self.diag_keys = {d.label: d.keys() for d in diagnostics}
        self.examples = examples or {}         # diagnostic label -> pixel hashes of its example images

    # -- helpers -------------------------------------------------------------------------------------
    def _missing(self, key: str, role: str) -> tuple[MetricRef, ...]:
        """Metrics without a stored value for the image (key, role); an original gets only
        no-reference metrics (a full-reference one would compare it with itself)."""
        return tuple(r for r in self.refs if (key, role, r.key, r.version) not in self.done
                     and (role != ORIGINAL or r.kind == "no_reference"))

    def _missing_diags(self, key: str, role: str) -> tuple[DiagnosticRef, ...]:
        """Diagnostics with a value missing for the sample whose measured image is (key, role)."""
        return tuple(r for r in self.diags
                     if any((key, role, n, r.version) not in self.done for n in self.diag_keys[r.label]))

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

    # -- planning the work ---------------------------------------------------------------------------
    def run(self) -> None:
        groups: dict[str, list[Sample]] = defaultdict(list)
        for s in self.todo:
            groups[s.enc_key].append(s)
        encs = self.store.get_encodings(groups)
        outputs = self.store.get_artefacts(ENHANCED)
        lowres = self.store.get_artefacts(LOWRES)
        originals = {}
        for s in self.todo:
            originals.setdefault(s.image.pixel_hash, s)
        for s in originals.values():             # no-reference values of the originals, once each
            missing = self._missing(s.image.pixel_hash, ORIGINAL)
            if missing:
                img = s.image
                self._submit("measure_original", run_measure, MeasureJob(
                    img.pixel_hash, ORIGINAL, img.source, img.pixel_hash, None, None, 0.0, False, missing), s)
        for enc_key, samples in groups.items():
            self._plan_group(enc_key, samples, encs.get(enc_key), outputs, lowres)
        self._loop()

    def _plan_group(self, enc_key: str, samples: list[Sample], enc: EncodingRow | None,
                    outputs: dict[str, ArtefactRow], lowres: dict[str, ArtefactRow]) -> None:
        first = samples[0]
        pipe = self._pipe(first)
        comp_metrics = self._missing(enc_key, COMPRESSED) if pipe.compressed_comparable() else ()
        solve, passthrough, remeasure = [], [], []
        for s in samples:
            p = self._pipe(s)
            if p.passthrough:
                passthrough.append(s)
                continue
            missing = self._missing(s.out_key, s.out_role)
            diags = self._missing_diags(s.out_key, s.out_role)
            art = outputs.get(s.out_key)
            have = art is not None and self.r.cache_ok(art.path, art.hash)
            if not missing and not diags and (have or not self.need_outputs):
                self._finish([s])
            elif have and not diags:
                self._submit_measure(s, None, art.path, 0.0, write=False)
            elif have:                      # diagnostics need C: measured once the code stage decoded it
                remeasure.append((s, art.path))
            else:
                solve.append(s)
        pass_diags = self._missing_diags(enc_key, COMPRESSED) if passthrough and pipe.compressed_comparable() else ()
        have_enc = enc is not None and self.r.cache_ok(enc.bytes_path, enc.bytes_hash)
        if not comp_metrics and not solve and not remeasure and not pass_diags and (have_enc or not self.need_outputs):
            self._finish(passthrough)
            return
        cached = enc if have_enc else None
        group = _Group(enc_key, samples, pipe, solve, passthrough, cached, remeasure)
        img = first.image
        source = img.source
        if pipe.has_pre:
            got = lowres.get(first.keys.pre_key)
            if got is not None and self.r.cache_ok(got.path, got.hash):
                source = ImageSource(got.path)
            else:
                try:
                    source = ImageSource(self._make_lowres(pipe, first))
                except Exception as exc:
                    self._fail(samples, "pre", exc, enc_key)
                    return
        codec = pipe.codec
        job = CodeJob(enc_key, img.pixel_hash, first.codec, self.r.codec_names[first.codec], dict(codec.params),
                      first.quality,
                      first.target, source, img.shape[0] * img.shape[1], str(self.cache_dir),
                      img.source, cached_bytes=cached.bytes_path if cached else None,
                      cached_hash=cached.bytes_hash if cached else None,
                      keep_decoded=bool(getattr(codec, "device_bound", False)) and self.r.keep_images,
                      return_decoded=bool(solve or remeasure), metrics=comp_metrics, diagnostics=pass_diags)
        if getattr(codec, "device_bound", False):
            self.device_code.append((group, job))
        else:
            self.code_queue.append((group, job))

    def _make_lowres(self, pipe: Pipeline, s: Sample) -> str:
        """The pre step on the device, once per low-res key; the result is a cached PNG."""
        self.dev.ready(s.solver, pipe.solver, "solver", self.r.cost_probe(pipe))
        original = s.image.source.read()
        ctx = Context(codec=s.codec, image_names=(s.image.name,), original_size=s.image.shape[:2],
                      device=self.dev.device)
        import time

        t0 = time.perf_counter()
        low = self.dev.pre(pipe, original, ctx)
        path = self.cache_dir / "lowres" / s.keys.pre_key[:2] / f"{s.keys.pre_key}.png"
        sha = write_png(low, path)
        self.r.record_artefact(ArtefactRow(s.keys.pre_key, LOWRES, str(path), time.perf_counter() - t0,
                                           {"shape": list(low.shape)}, sha))
        return str(path)

    # -- the loop ------------------------------------------------------------------------------------
    def _submit(self, kind: str, fn, job, payload, attempt: int = 1) -> None:
        self.inflight[self.ex.submit(fn, job)] = (kind, payload, fn, job, attempt)

    def _submit_code(self) -> None:
        while self.code_queue and len(self.inflight) < self.max_inflight and self._queued() < 64:
            group, job = self.code_queue.popleft()
            self._submit("code", run_code, job, group)

    def _queued(self) -> int:
        return sum(len(v) for v in self.batches.values())

    def _submit_measure(self, s: Sample, out: np.ndarray | None, path: str, seconds: float,
                        write: bool = True, compressed: np.ndarray | None = None,
                        info: dict[str, Any] | None = None) -> None:
        """Measure a solver output; its diagnostics too when the decoded image it came from is given."""
        img = s.image
        diags = self._missing_diags(s.out_key, s.out_role) if compressed is not None else ()
        examples = tuple(r.label for r in diags if img.pixel_hash in self.examples.get(r.label, ()))
        job = MeasureJob(s.out_key, s.out_role, img.source, img.pixel_hash, out, path, seconds, write,
                         self._missing(s.out_key, s.out_role), diagnostics=diags,
                         compressed=compressed if diags else None, examples=examples,
                         image_dir=str(self.cache_dir) if examples else None, info=info or {})
        self._submit("measure", run_measure, job, s)

    def _loop(self) -> None:
        while True:
            self._submit_code()
            device_work = bool(self.device_code) or any(self._ready_batches())
            if self.inflight:
                # block when there is no device work, or when workers lag behind the device
                # (outputs waiting to be measured hold memory)
                block = not device_work or len(self.inflight) >= 2 * self.max_inflight
                for h in self.ex.wait(list(self.inflight), timeout=None if block else 0):
                    self._on_result(h, *self.inflight.pop(h))
                self._submit_code()
            if self.device_code:
                group, job = self.device_code.popleft()
                self._device_code(group, job)
                continue
            ready = self._ready_batches()
            if ready:
                self._run_batch(ready[0])
                continue
            if not self.inflight:
                if self.batches:       # nothing in flight can fill them: run the fullest partial batch
                    self._run_batch(max(self.batches, key=lambda k: len(self.batches[k])))
                    continue
                if not self.code_queue:
                    break

    def _ready_batches(self) -> list[tuple]:
        return [k for k, items in self.batches.items() if len(items) >= self.r.batch_size(self.pipelines[k[:2]])]

    # -- results -------------------------------------------------------------------------------------
    def _on_result(self, handle, kind: str, payload, fn, job, attempt: int) -> None:
        try:
            result: StageResult = self.ex.result(handle)
        except WorkerLost as exc:
            if attempt < 2:                   # a worker died (killed, out of memory): once more on a new one
                self.r.log(f"{exc}; retrying its {kind} job")
                self._submit(kind, fn, job, payload, attempt + 1)
                return
            self._failed(kind, payload, exc)
        except Exception as exc:
            self._failed(kind, payload, exc)
        else:
            self._succeeded(kind, payload, result)

    def _failed(self, kind: str, payload, exc: BaseException) -> None:
        if kind == "code":
            self._fail(payload.samples, "encode", exc, payload.enc_key)
        elif kind == "measure_compressed":
            self._fail(payload.samples, "measure", exc, payload.enc_key)
        elif kind == "measure_original":
            self.r.fail(payload.image.pixel_hash, "measure", f"{payload.image.dataset}/{payload.image.name} "
                        "(original)", exc)
        else:
            self._fail([payload], "measure", exc)

    def _succeeded(self, kind: str, payload, result: StageResult) -> None:
        if kind == "code":
            self._code_done(payload, result)
            return
        self.r.record(result)
        if kind == "measure_original":
            for metric, msg in result.errors:
                self.r.fail(payload.image.pixel_hash, "metric",
                            f"{payload.image.dataset}/{payload.image.name} (original) {metric}", msg)
            return
        for metric, msg in result.errors:
            self.r.fail(payload.out_key, "metric", f"{payload.what} {metric}", msg)
        self._finish(payload.samples if kind == "measure_compressed" else [payload])

    def _device_code(self, group: _Group, job: CodeJob) -> None:
        first = group.samples[0]
        try:
            codec = self.dev.ready(first.codec, group.pipeline.codec, "codec", self.r.codec_probe(group.pipeline.codec))
            self.dev.reseed(job.enc_key)
            metrics, diags = job.metrics, job.diagnostics
            result = run_code(replace(job, metrics=(), diagnostics=(), return_decoded=True), codec=codec)
        except Exception as exc:
            self._fail(group.samples, "encode", exc, group.enc_key)
            return
        if metrics or diags:      # measuring needs no device: hand it to a worker
            first_img = first.image
            self._submit("measure_compressed", run_measure, MeasureJob(
                job.enc_key, COMPRESSED, first_img.source, first_img.pixel_hash, result.decoded,
                None, 0.0, False, metrics, diagnostics=diags), _Compressed(group.enc_key, group.passthrough))
            result = StageResult(result.encoding, result.decoded if group.solve or group.remeasure else None)
            self._code_done(group, result, finish_passthrough=False)
        else:
            self._code_done(group, result)

    def _code_done(self, group: _Group, result: StageResult, finish_passthrough: bool = True) -> None:
        self.r.record(result)
        for metric, msg in result.errors:
            self.r.fail(group.enc_key, "metric", f"{group.samples[0].what} (compressed) {metric}", msg)
        if finish_passthrough:
            self._finish(group.passthrough)
        for s, path in group.remeasure:
            self._submit_measure(s, None, path, 0.0, write=False, compressed=result.decoded)
        if not group.solve:
            return
        enc = result.encoding or group.cached
        for s in group.solve:
            # the original's shape too: one decoded size can come from several original sizes
            # (a rescaler's ceil(H / s)), and a batch's outputs all take its first image's size
            shape = (result.decoded.shape, s.image.shape)
            self.batches[(s.solver, s.codec, s.quality, shape)].append((s, enc, result.decoded))

    def _run_batch(self, key: tuple) -> None:
        items = self.batches.pop(key)
        size = self.r.batch_size(self.pipelines[key[:2]])
        for i in range(0, len(items), size):
            self._post(items[i:i + size])

    def _post(self, items: list) -> None:
        first = items[0][0]
        pipe = self._pipe(first)
        try:
            self.dev.ready(first.solver, pipe.solver, "solver", self.r.cost_probe(pipe))
            qts = tuple(tuple(tuple(t) for t in enc.side_info.get("qtables", [])) for _, enc, _ in items)
            ctx = Context(codec=first.codec, quality=first.quality, bpp=tuple(enc.bpp for _, enc, _ in items),
                          qtables=qts if any(qts) else (), image_names=tuple(s.image.name for s, _, _ in items),
                          original_size=first.image.shape[:2], device=self.dev.device)
            outs, seconds = self.dev.post(pipe, [d for _, _, d in items], ctx, first.out_key, first.image.shape,
                                          self.quantize)
            infos = item_reports(ctx, len(items))      # what the solver reported per image
        except Exception as exc:
            self._fail([s for s, _, _ in items], "solve", exc)
            return
        for (s, _, d), out, info in zip(items, outs, infos):
            if isinstance(out, BaseException):
                self._fail([s], "solve", out)
                continue
            self.r.result.outputs_computed += 1
            self._submit_measure(s, out, str(self._out_path(s)), seconds,
                                 write=self.r.keep_images, compressed=d, info=info)


@dataclass
class _Compressed:
    """Payload of a compressed-image measurement handed to a worker (learned codecs)."""

    enc_key: str
    samples: list[Sample]

    @property
    def out_key(self) -> str:
        return self.enc_key

    @property
    def what(self) -> str:
        return f"{self.samples[0].what if self.samples else self.enc_key} (compressed)"
