"""Local execution: CPU worker processes degrade images while the main process restores and measures.

Resume is the default: samples whose metric values are all in the store are skipped, cached
bitstreams/decoded images/solver outputs are reused, and only what is new is computed.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import shutil
import time
import traceback
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import codecs as codec_mod
from .. import datasets as dataset_mod
from .. import metrics as metric_mod
from .. import solvers as solver_mod
from ..errors import QbenchError, SolverError
from ..images import read_image, write_png
from ..metrics import Metric
from ..solvers import Context, Enhancer, LearnedCodec, Rescaler, Solver
from ..store import EncodingRow, Store
from ..suite import Suite
from .degrade import EncodeJob, cache_paths, run_encode
from .environment import collect_environment, resolve_device
from .plan import ImageRef, Sample, index_dataset, plan_samples

STORE_NAME = "results.sqlite"


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
    seconds: float = 0.0

    @property
    def computed_anything(self) -> bool:
        return bool(self.encodings_computed or self.outputs_computed or self.metric_values_computed)


class Runner:
    """Execute a validated suite into ``out_dir`` (a results store, a cache and the reports)."""

    def __init__(self, suite: Suite, out_dir: str | Path, *, device: str = "auto", workers: int | None = None,
                 fresh: bool = False, data_root: str | None = None, progress: bool = True,
                 log: Callable[[str], None] | None = None):
        self.suite = suite
        self.out_dir = Path(out_dir)
        self.device = resolve_device(device)
        self.workers = (min(4, os.cpu_count() or 1) if workers is None else max(0, workers))
        self.fresh = fresh
        self.data_root = data_root
        self.progress = progress
        self.log = log or (lambda msg: None)
        self.cache_dir = self.out_dir / "cache"
        self.quantize = suite.output.quantize

    # -- set-up ---------------------------------------------------------------------------
    def _fail(self, result: RunResult, store: Store, key: str, stage: str, detail: str, exc: BaseException) -> None:
        msg = f"{type(exc).__name__}: {exc}" if not isinstance(exc, QbenchError) else str(exc)
        result.failures.append((detail, stage, msg))
        store.put_failure(key, stage, detail, msg + ("" if isinstance(exc, QbenchError) else
                                                     "\n" + traceback.format_exc(limit=6)), result.run_id)

    def run(self) -> RunResult:
        t_start = time.perf_counter()
        if self.fresh:
            for p in (self.out_dir / STORE_NAME, self.out_dir / f"{STORE_NAME}-wal",
                      self.out_dir / f"{STORE_NAME}-shm"):
                p.unlink(missing_ok=True)
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        suite_hash = self.suite.hash()
        store = Store(self.out_dir / STORE_NAME)
        env = collect_environment(self.device)
        run_id = store.start_run(self.suite.name, suite_hash, self.suite.model_dump(mode="json"), env)
        result = RunResult(self.out_dir, run_id, suite_hash)
        status = "failed"
        try:
            self._run(store, result)
            status = "ok" if not result.failures else "finished_with_failures"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            result.seconds = time.perf_counter() - t_start
            store.finish_run(run_id, status, {
                "samples": result.samples, "samples_done_before": result.samples_done_before,
                "encodings_computed": result.encodings_computed, "outputs_computed": result.outputs_computed,
                "metric_values_computed": result.metric_values_computed, "failures": len(result.failures),
                "seconds": round(result.seconds, 3)})
            store.close()
        return result

    def _build_components(self, store: Store, result: RunResult):
        s = self.suite
        codecs = [(c.key, codec_mod.build(c.name, c.params, c.qualities), c.points, c.target_bpp is not None)
                  for c in s.codecs]
        solvers: list[tuple[str, Solver, list[float] | None]] = []
        for spec in s.solvers:
            solver = solver_mod.build(spec.name, spec.params,
                                      spec.engine.model_dump() if spec.engine is not None else None)
            solvers.append((spec.key, solver, spec.qualities))
        if any(not isinstance(sv, LearnedCodec) for _, sv, _ in solvers) and not codecs:
            from ..errors import ConfigError
            raise ConfigError("the suite has enhancers or rescalers but no codecs")
        metrics: list[Metric] = []
        store.clear_skipped_metrics(result.suite_hash)
        for m in s.metrics:
            try:
                metric = metric_mod.build(m.name, crop_border=m.crop_border)
                metric.device = self.device
                metrics.append(metric)
            except QbenchError as exc:
                result.skipped_metrics[m.key] = str(exc)
                store.put_skipped_metric(result.suite_hash, m.key, str(exc), result.run_id)
        return codecs, solvers, metrics

    # -- the loop -------------------------------------------------------------------------
    def _run(self, store: Store, result: RunResult) -> None:
        codecs, solvers, all_metrics = self._build_components(store, result)
        metrics = [m for m in all_metrics if m.kind != "distribution"]
        set_metrics = [m for m in all_metrics if m.kind == "distribution"]
        images: list[ImageRef] = []
        for spec in self.suite.datasets:
            ds = dataset_mod.build(spec, self.data_root)
            images += index_dataset(spec.label, ds, store,
                                    lambda what, path, exc: self._fail(result, store, path, "read", what, exc))
        samples = plan_samples(images, codecs, solvers, self.quantize)
        store.put_plan(result.suite_hash, [
            (s.sample_id, s.image.dataset, s.image.name, s.image.pixel_hash, s.codec, s.quality, s.solver,
             s.task, s.enc_key, s.out_key, i) for i, s in enumerate(samples)])
        result.samples = len(samples)
        metric_ids = [(m.key, m.version) for m in metrics]
        todo = [s for s in samples if not set(metric_ids) <= store.done_metrics(s.out_key)]
        result.samples_done_before = len(samples) - len(todo)
        if not todo:
            self.log(f"nothing new to compute: all {len(samples)} samples are in the store")
        else:
            self.log(f"{len(todo)} of {len(samples)} samples to compute "
                     f"({result.samples_done_before} already in the store)")
            self._execute(todo, codecs, solvers, metrics, store, result)
        if set_metrics:
            from .setlevel import run_set_metrics

            run_set_metrics(set_metrics, samples, store, result, self.device, self.suite.seed,
                            lambda key, stage, detail, exc: self._fail(result, store, key, stage, detail, exc))

    def _execute(self, todo: list[Sample], codecs, solvers, metrics: list[Metric], store: Store,
                 result: RunResult) -> None:
        from tqdm import tqdm

        codec_by_label = {label: codec for label, codec, *_ in codecs}
        solver_by_label = {label: solver for label, solver, _ in solvers}
        by_enc: dict[str, list[Sample]] = defaultdict(list)
        for s in todo:
            by_enc[s.enc_key].append(s)
        refs = _RefCache(lambda img: read_image(img.path, img.mode))
        ready_solvers: dict[str, Solver | BaseException] = {}
        bar = tqdm(total=len(todo), desc=self.suite.name, unit="sample", disable=not self.progress)

        def solver_ready(label: str) -> Solver:
            if label not in ready_solvers:
                solver = solver_by_label[label]
                try:
                    self._seed(label)
                    solver.setup(self.device)
                    ready_solvers[label] = solver
                except Exception as exc:  # missing weights, bad file: fail this solver only
                    ready_solvers[label] = exc
                else:
                    self._record_cost(label, solver, store, result)
            got = ready_solvers[label]
            if isinstance(got, BaseException):
                raise got
            return got

        pending: dict[tuple, list[tuple[Sample, EncodingRow, np.ndarray]]] = defaultdict(list)

        def flush(key: tuple) -> None:
            items = pending.pop(key, [])
            if not items:
                return
            try:
                outs = self._restore_batch(items, solver_ready(key[0]))
            except Exception as exc:
                outs = [exc] * len(items)
            for (s, enc, _), out in zip(items, outs):
                try:
                    if isinstance(out, BaseException):
                        raise out
                    self._restore_and_measure(s, enc, None, solver_ready, metrics, refs, store, result,
                                              computed=out)
                except Exception as exc:
                    self._fail(result, store, s.out_key, "solve", f"{s.image.dataset}/{s.image.name} "
                               f"{s.codec}@{s.quality:g} {s.solver}", exc)
                bar.update(1)

        def finish(enc: EncodingRow | None, decoded: np.ndarray | None, group: list[Sample]) -> None:
            for s in group:
                size = _batch_size(solver_by_label[s.solver])
                if size > 1 and enc is not None and decoded is not None and store.get_output(s.out_key) is None:
                    key = (s.solver, s.codec, s.quality, decoded.shape)
                    pending[key].append((s, enc, decoded))
                    if len(pending[key]) >= size:
                        flush(key)
                    continue
                try:
                    self._restore_and_measure(s, enc, decoded, solver_ready, metrics, refs, store, result)
                except Exception as exc:
                    self._fail(result, store, s.out_key, "solve", f"{s.image.dataset}/{s.image.name} "
                               f"{s.codec}@{s.quality:g} {s.solver}", exc)
                bar.update(1)

        jobs: list[tuple[EncodeJob, list[Sample]]] = []
        for enc_key, group in by_enc.items():
            first = group[0]
            solver = solver_by_label[first.solver]
            cached = store.get_encoding(enc_key)
            if cached is not None and Path(cached.bytes_path or "").is_file():
                decoded = None
                if cached.decoded_path and Path(cached.decoded_path).is_file():
                    decoded = read_image(cached.decoded_path, "auto")
                elif not isinstance(solver, LearnedCodec):
                    codec = codec_by_label[first.codec]
                    decoded = codec.decode(Path(cached.bytes_path).read_bytes(), channels=first.image.shape[2])
                finish(cached, decoded, group)
                continue
            if isinstance(solver, LearnedCodec):
                try:
                    enc = self._learned_encode(first, solver_ready(first.solver), store, result)
                    finish(enc, None, group)
                except Exception as exc:
                    self._fail_group(result, store, enc_key, group, exc)
                    bar.update(len(group))
                continue
            array = None
            if isinstance(solver, Rescaler):
                try:
                    array = self._pre(first, solver_ready(first.solver), refs)
                except Exception as exc:
                    self._fail_group(result, store, enc_key, group, exc)
                    bar.update(len(group))
                    continue
            codec = codec_by_label[first.codec]
            h, w, _ = first.image.shape
            jobs.append((EncodeJob(enc_key, first.image.pixel_hash, first.codec, codec.name, codec.params,
                                   first.quality, first.image.path, first.image.mode, array, h * w,
                                   str(self.cache_dir), self.suite.output.keep_images,
                                   first.quality if first.target else None), group))

        def on_encoded(job: EncodeJob, group: list[Sample], fut_result=None, exc=None) -> None:
            if exc is not None:
                self._fail_group(result, store, job.enc_key, group, exc)
                bar.update(len(group))
                return
            row, decoded = fut_result
            store.put_encoding(row, result.run_id)
            result.encodings_computed += 1
            finish(row, decoded, group)

        if self.workers <= 1 or len(jobs) <= 1:
            for job, group in jobs:
                try:
                    out = run_encode(job)
                except Exception as exc:
                    on_encoded(job, group, exc=exc)
                else:
                    on_encoded(job, group, out)
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn" if self.device.startswith("cuda") else "forkserver")
            with cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx) as pool:
                futures = {pool.submit(run_encode, job): (job, group) for job, group in jobs}
                for fut in cf.as_completed(futures):
                    job, group = futures[fut]
                    exc = fut.exception()
                    on_encoded(job, group, None if exc else fut.result(), exc)
        for key in list(pending):
            flush(key)
        bar.close()

    def _record_cost(self, label: str, solver: Solver, store: Store, result: RunResult) -> None:
        """Measure and store the solver's cost once per solver spec and device."""
        from ..solvers.cost import measure_solver_cost

        key = (solver.spec_hash(), self.device)
        if store.get_cost(*key) is not None:
            return
        cost = measure_solver_cost(solver, self.device)
        if cost is not None:
            store.put_cost(label, *key, cost, result.run_id)

    def _seed(self, key: str) -> None:
        """Seed every generator from the suite seed and ``key`` (a sample's output key), so a
        stochastic solver gives the same output for a sample whatever the order or resume."""
        import hashlib

        from ..solvers.engine import seed_everything

        digest = hashlib.sha256(f"{self.suite.seed}:{key}".encode()).digest()
        seed_everything(int.from_bytes(digest[:4], "little"))

    def _fail_group(self, result: RunResult, store: Store, enc_key: str, group: list[Sample],
                    exc: BaseException) -> None:
        first = group[0]
        self._fail(result, store, enc_key, "encode",
                   f"{first.image.dataset}/{first.image.name} {first.codec}@{first.quality:g}"
                   + (f" ({len(group)} samples)" if len(group) > 1 else ""), exc)

    # -- stages in the main process -----------------------------------------------------------
    def _context(self, s: Sample, enc: EncodingRow | None) -> Context:
        qt = tuple(tuple(t) for t in (enc.side_info.get("qtables", []) if enc else []))
        return Context(codec=s.codec, quality=s.quality, bpp=(enc.bpp,) if enc else (),
                       qtables=(qt,) if qt else (), image_names=(s.image.name,),
                       original_size=s.image.shape[:2], device=self.device)

    def _pre(self, s: Sample, solver: Rescaler, refs: "_RefCache") -> np.ndarray:
        import torch

        from ..images import quantize, to_tensor

        with torch.inference_mode():
            low = solver.downscale(to_tensor(refs.get(s.image), self.device), self._context(s, None))
        _check_finite(low, s.solver, "downscale")
        return quantize(low)[0]

    def _learned_encode(self, s: Sample, solver: LearnedCodec, store: Store, result: RunResult) -> EncodingRow:
        import torch

        from ..images import read_image as _read, to_tensor, write_bytes

        t0 = time.perf_counter()
        with torch.inference_mode():
            data = solver.encode(to_tensor(_read(s.image.path, s.image.mode), self.device), s.quality)
        if not isinstance(data, (bytes, bytearray)):
            raise SolverError(f"{s.solver}.encode returned {type(data).__name__}, not bytes")
        bytes_path, _ = cache_paths(self.cache_dir, s.enc_key)
        write_bytes(bytes(data), bytes_path)
        h, w, _ = s.image.shape
        row = EncodingRow(s.enc_key, s.image.pixel_hash, s.codec, s.quality, len(data), h * w,
                          8.0 * len(data) / (h * w), {}, str(bytes_path), None, time.perf_counter() - t0)
        store.put_encoding(row, result.run_id)
        result.encodings_computed += 1
        return row

    def _restore(self, s: Sample, solver: Solver, enc: EncodingRow, decoded: np.ndarray | None,
                 ref_shape: tuple[int, ...]):
        import torch

        from ..images import to_tensor

        ctx = self._context(s, enc)
        self._seed(s.out_key)
        with torch.inference_mode():
            if isinstance(solver, LearnedCodec):
                out = solver.decode(Path(enc.bytes_path).read_bytes(), s.quality)
            else:
                batch = to_tensor(decoded, self.device)
                out = solver.enhance(batch, ctx) if isinstance(solver, Enhancer) else solver.upscale(batch, ctx)
        if not isinstance(out, torch.Tensor):
            raise SolverError(f"{s.solver} returned {type(out).__name__}, not a tensor")
        expected = (1, ref_shape[2], ref_shape[0], ref_shape[1])
        if tuple(out.shape) != expected:
            raise SolverError(f"{s.solver} returned shape {tuple(out.shape)}, expected {expected}")
        _check_finite(out, s.solver, "output")
        return out

    def _restore_batch(self, items: list[tuple[Sample, EncodingRow, np.ndarray]], solver: Solver) -> list:
        """Run an enhancer on same-size images at one codec point; per-item outputs or errors."""
        import torch

        from ..images import to_tensor

        first = items[0][0]
        qts = tuple(tuple(tuple(t) for t in enc.side_info.get("qtables", [])) for _, enc, _ in items)
        ctx = Context(codec=first.codec, quality=first.quality, bpp=tuple(enc.bpp for _, enc, _ in items),
                      qtables=qts if any(qts) else (), image_names=tuple(s.image.name for s, _, _ in items),
                      original_size=first.image.shape[:2], device=self.device)
        batch = to_tensor([d for _, _, d in items], self.device)
        self._seed(first.out_key)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = solver.enhance(batch, ctx)
        seconds = (time.perf_counter() - t0) / len(items)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(batch.shape):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise SolverError(f"{first.solver} returned {shape}, expected {tuple(batch.shape)}")
        results: list = []
        for i in range(len(items)):
            one = out[i:i + 1]
            try:
                _check_finite(one, first.solver, "output")
                results.append((one, seconds))
            except SolverError as exc:
                results.append(exc)
        return results

    def _restore_and_measure(self, s: Sample, enc: EncodingRow | None, decoded: np.ndarray | None,
                             solver_ready, metrics: list[Metric], refs: "_RefCache", store: Store,
                             result: RunResult, computed=None) -> None:
        from ..images import quantize

        if enc is None:
            raise SolverError("no encoding")
        ref = refs.get(s.image)
        out_path = self.cache_dir / "outputs" / s.out_key[:2] / (s.out_key + (".png" if self.quantize else ".npy"))
        cached = store.get_output(s.out_key)
        out_img = None
        if cached is not None and cached[0] and Path(cached[0]).is_file():
            out_img = (read_image(cached[0], "auto") if self.quantize else np.load(cached[0]))
        if out_img is None:
            if computed is not None:       # produced in a batch
                out, seconds = computed
            else:
                solver = solver_ready(s.solver)
                t0 = time.perf_counter()
                out = self._restore(s, solver, enc, decoded, ref.shape)
                seconds = time.perf_counter() - t0
            if self.quantize:
                out_img = quantize(out)[0]
                write_png(out_img, out_path)
            else:
                out_img = out[0].detach().float().clamp(0, 1).mul(255).permute(1, 2, 0).cpu().numpy()
                out_path.parent.mkdir(parents=True, exist_ok=True)
                np.save(out_path, out_img)
            store.put_output(s.out_key, s.enc_key, s.solver, str(out_path), seconds, result.run_id)
            result.outputs_computed += 1
        done = store.done_metrics(s.out_key)
        values: dict[tuple[str, str], float] = {}
        for m in metrics:
            if (m.key, m.version) in done:
                continue
            try:
                v = m.compute(ref, out_img if self.quantize else out_img)
                if not math.isfinite(v) and not (math.isinf(v) and v > 0):
                    raise ValueError(f"{m.key} is {v}")
                values[(m.key, m.version)] = v
            except Exception as exc:
                self._fail(result, store, s.out_key, "metric", f"{s.image.dataset}/{s.image.name} "
                           f"{s.codec}@{s.quality:g} {s.solver} {m.key}", exc)
        if values:
            store.put_metrics(s.out_key, values, result.run_id)
            result.metric_values_computed += len(values)


def _batch_size(solver: Solver) -> int:
    """Images per solver call: the suite's ``engine.batch_size``, else an Enhancer's
    ``batch_size`` parameter (1 when it has neither)."""
    if not isinstance(solver, Enhancer):
        return 1
    if solver.engine.batch_size > 1:
        return solver.engine.batch_size
    return max(1, int(solver.params.get("batch_size", 1) or 1))


def _check_finite(t, solver: str, what: str) -> None:
    import torch

    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise SolverError(f"{solver} produced {bad} non-finite values (NaN/Inf) in its {what}")


class _RefCache:
    """A small LRU of pristine images, so each is read once while its samples are processed."""

    def __init__(self, loader, size: int = 8):
        self.loader = loader
        self.size = size
        self.items: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, img: ImageRef) -> np.ndarray:
        key = img.pixel_hash + img.mode
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        arr = self.loader(img)
        self.items[key] = arr
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return arr


def run_suite(suite: Suite, out_dir: str | Path, **kwargs: Any) -> RunResult:
    """Run ``suite`` into ``out_dir`` and write the reports; see :class:`Runner` for options."""
    from ..report import write_reports

    result = Runner(suite, out_dir, **kwargs).run()
    write_reports(Path(out_dir))
    return result
