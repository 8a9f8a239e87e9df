"""Pure stage functions: a picklable job in, a record out; no store access, no shared state.

They run in worker processes (the local pool or a Ray cluster) or inline, and give the same
records wherever they run. Only the runner's main process writes the store.

* :func:`run_code` -- read the codec input (the original or a cached low-res image), encode (or
  reuse cached bytes), decode, write the bitstream, and measure the compressed image against the
  original when it has the original's size;
* :func:`run_measure` -- write a solver output to the cache and measure it against the original.

Both also compute the suite's triplet diagnostics (:mod:`qbench.diagnostics`) of a sample: the
code stage for a pass-through sample (E is C: the known answer, no E-side work), the measure
stage for a solver output, given the decoded image it was made from (``MeasureJob.compressed``).

A per-process cache keeps codecs, metrics, recently read originals and prepared references, so a
worker that measures many codec points of one image reads and prepares that image once.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cachefile import write_bytes, write_png
from ..errors import CodecError, QbenchError
from ..images import ImageSource, read_image
from ..lru import LRU
from ..store import ArtefactRow, EncodingRow, ValueRow
from ..vocabulary import COMPRESSED


@dataclass(frozen=True)
class MetricRef:
    """A metric as a worker rebuilds it: preset name, border crop, and the key/version recorded."""

    name: str
    crop_border: int | None
    key: str
    version: str
    kind: str = "full_reference"     # or no_reference: a value of the image alone


@dataclass(frozen=True)
class DiagnosticRef:
    """A triplet diagnostic as a worker rebuilds it; ``examples`` is its example-image count."""

    name: str
    params_json: str
    label: str
    version: str

    @classmethod
    def of(cls, diag) -> "DiagnosticRef":
        """The reference of a built diagnostic."""
        import json

        return cls(diag.name, json.dumps(diag.params, sort_keys=True, default=str), diag.label, diag.version)


@dataclass(frozen=True)
class CodeJob:
    """One encode/decode (and the compressed image's measurements) of one image at one codec point."""

    enc_key: str
    image_hash: str
    codec_label: str
    codec_name: str
    codec_params: dict[str, Any]
    point: float                       # quality, or the target bpp when ``target``
    target: bool
    input: ImageSource                 # codec input: the original or the cached low-res image
    pixels: int                        # H * W of the original: the bpp denominator
    cache_dir: str
    ref: ImageSource                   # the original (for measuring the compressed image)
    cached_bytes: str | None = None    # reuse these bytes (decode only) when they match cached_hash
    cached_hash: str | None = None     # the bitstream's recorded sha256
    keep_decoded: bool = False         # also write the decoded PNG (slow decoders)
    return_decoded: bool = False       # a solver needs the decoded pixels
    metrics: tuple[MetricRef, ...] = ()
    diagnostics: tuple[DiagnosticRef, ...] = ()   # of the pass-through sample (E is C), key enc_key

    @property
    def affinity(self) -> str:
        """The original it is measured against: jobs of one image share a worker's caches."""
        return self.image_hash


@dataclass(frozen=True)
class MeasureJob:
    """One solver output to write to the cache and measure against its original."""

    key: str
    role: str
    ref: ImageSource                   # the original
    ref_hash: str
    output: np.ndarray | None          # the image to measure (uint8, or float32 in [0, 255])
    output_path: str | None            # where to write it (or read it from, when output is None;
                                       # neither given: the measured image is the original itself)
    seconds: float = 0.0               # solver time, recorded with the artefact
    write: bool = True
    metrics: tuple[MetricRef, ...] = ()
    diagnostics: tuple[DiagnosticRef, ...] = ()
    compressed: np.ndarray | None = None   # C for the diagnostics; None: the measured image is C
    examples: tuple[str, ...] = ()         # labels of diagnostics that write example images
    image_dir: str | None = None           # where example images go (the run's cache)
    info: dict[str, Any] = field(default_factory=dict)   # stored with the artefact: the solver's report

    @property
    def affinity(self) -> str:
        """The original it is measured against: jobs of one image share a worker's caches."""
        return self.ref_hash


@dataclass
class StageResult:
    """What a stage returns for the main process to record."""

    encoding: EncodingRow | None = None       # a new encoding (None when reused)
    decoded: np.ndarray | None = None
    artefact: ArtefactRow | None = None
    values: list[ValueRow] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)   # (metric key, message)
    extra: list[ArtefactRow] = field(default_factory=list)        # diagnostic example images
    code_seconds: tuple[float, float] | None = None   # (encode, decode) seconds of a new encoding
    repaired: list[str] = field(default_factory=list)             # cache files found damaged and rewritten


# -- per-process caches ---------------------------------------------------------------------------
_CODECS = LRU(16)
_METRICS = LRU(32)
# decoded originals: the plan is image-major and the scheduler keeps only a few jobs in flight, so an
# original is asked for again soon or not at all; a count bound keeps a worker's memory from growing
# with the dataset until the byte bound (which holds only ~30 DIV2K-sized images) is reached
_IMAGES = LRU(16, max_bytes=256 << 20)
_PREPARED = LRU(max_bytes=512 << 20)     # prepared references of metrics and diagnostics


def _codec(name: str, params: dict[str, Any]):
    import json

    from .. import codecs

    return _CODECS.get_or((name, json.dumps(params, sort_keys=True, default=str)),
                          lambda: codecs.build(name, params))


def _metric(ref: MetricRef):
    from .. import metrics

    # keyed by version too: a weight file replaced under the same name (its sha256 is part of the
    # version) must not be served from this process's cache
    return _METRICS.get_or((ref.name, ref.crop_border, ref.version),
                           lambda: metrics.build(ref.name, crop_border=ref.crop_border))


def _image(src: ImageSource) -> np.ndarray:
    """``src.read()``, cached per process by file state, channel policy and preparation."""
    import os

    st = os.stat(src.path)
    return _IMAGES.get_or((src.path, src.tag, st.st_size, st.st_mtime_ns, st.st_ctime_ns), src.read)


def measure(ref_img: np.ndarray, ref_hash: str, out: np.ndarray, refs: tuple[MetricRef, ...], key: str,
            role: str) -> tuple[list[ValueRow], list[tuple[str, str]]]:
    """Every metric of ``refs`` on one (original, image) pair; errors are returned per metric."""
    import math

    values, errors = [], []
    for r in refs:
        try:
            m = _metric(r)
            if r.kind == "no_reference":
                v = float(m.compute_image(out))
            else:       # every Metric has prepare/compute_prepared (by default the reference itself)
                prep = _PREPARED.get_or((ref_hash, r.name, r.crop_border, r.version), lambda m=m: m.prepare(ref_img))
                v = float(m.compute_prepared(prep, out))
            if not math.isfinite(v) and not (math.isinf(v) and v > 0):
                raise ValueError(f"{r.key} is {v}")
            values.append(ValueRow(key, role, r.key, r.version, v))
        except Exception as exc:  # one metric failing must not lose the others
            errors.append((r.key, _message(exc)))
    return values, errors


def _message(exc: BaseException) -> str:
    """A recorded error: a qbench error's own message, else the type, message and traceback."""
    if isinstance(exc, QbenchError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"


def _diagnostic(ref: DiagnosticRef):
    import json

    from .. import diagnostics

    return _METRICS.get_or(("diagnostic", ref.label, ref.version),
                           lambda: diagnostics.build(ref.name, json.loads(ref.params_json), ref.label))


def diagnose(ref_img: np.ndarray, ref_hash: str, compressed: np.ndarray, enhanced: np.ndarray | None,
             refs: tuple[DiagnosticRef, ...], key: str, role: str, examples: tuple[str, ...] = (),
             image_dir: str | None = None) -> tuple[list[ValueRow], list[tuple[str, str]], list[ArtefactRow]]:
    """Every diagnostic of ``refs`` on one (O, C, E) triplet (``enhanced=None``: E is C); errors
    are returned per diagnostic; example images are written for the labels in ``examples``."""
    from ..diagnostics import match_size

    values, errors, extra = [], [], []
    if refs:
        compressed = match_size(compressed, ref_img.shape)
    for r in refs:
        try:
            d = _diagnostic(r)
            if d.version != r.version:
                raise ValueError(f"diagnostic {r.label!r} rebuilt with version {d.version}, expected {r.version}")
            prep = _PREPARED.get_or((ref_hash, "diagnostic", r.label, r.version), lambda d=d: d.prepare(ref_img))
            got = d.compute_prepared(prep, compressed, enhanced)
            names = d.value_names()
            if set(got) != set(names):
                raise ValueError(f"diagnostic {r.label!r} returned {sorted(got)}, declared {names}")
            for n in names:
                values.append(ValueRow(key, role, f"{r.label}/{n}", r.version, float(got[n])))
            if enhanced is not None and r.label in examples and image_dir:
                for name, img in d.images(prep, compressed, enhanced).items():
                    path = Path(image_dir) / "diagnostics" / key[:2] / f"{key}.{r.label}.{name}.png"
                    sha = write_png(img, path)
                    extra.append(ArtefactRow(key, f"{r.label}:{name}", str(path), 0.0, {"shape": list(img.shape)},
                                             sha))
        except Exception as exc:  # one diagnostic failing must not lose the others
            errors.append((r.label, _message(exc)))
    return values, errors, extra


def cache_paths(cache_dir: str | Path, enc_key: str) -> tuple[Path, Path]:
    """The bitstream and decoded-image cache paths of ``enc_key``."""
    root = Path(cache_dir)
    return root / "bitstreams" / enc_key[:2] / f"{enc_key}.bin", root / "decoded" / enc_key[:2] / f"{enc_key}.png"


# -- stages ----------------------------------------------------------------------------------------
def run_code(job: CodeJob, codec=None) -> StageResult:
    """Encode (or reuse bytes) and decode; measure the compressed image when comparable.

    ``codec`` overrides building one from the job (a device-bound learned codec, run in the
    device process)."""
    codec = codec if codec is not None else _codec(job.codec_name, job.codec_params)
    img = _image(job.input)
    result = StageResult()
    data = _verified_bytes(job.cached_bytes, job.cached_hash)
    if job.cached_bytes is not None and data is None:
        result.repaired.append(job.cached_bytes)          # damaged since it was written: encode again
    if data is not None:
        decoded = codec.decode(data, channels=int(img.shape[2]))
    else:
        t0 = time.perf_counter()
        if job.target:
            from ..codecs.rate import find_quality

            chosen, enc = find_quality(codec, img, job.point, job.pixels)
            enc.side_info.update({"target_bpp": job.point, "chosen_quality": chosen})
        else:
            enc = codec.encode(img, job.point)
        t1 = time.perf_counter()
        decoded = codec.decode(enc.data, channels=int(img.shape[2]))
        seconds = time.perf_counter() - t0
        result.code_seconds = (t1 - t0, seconds - (t1 - t0))
        bytes_path, decoded_path = cache_paths(job.cache_dir, job.enc_key)
        bytes_hash = write_bytes(enc.data, bytes_path)
        decoded_hash = write_png(decoded, decoded_path) if job.keep_decoded else None
        result.encoding = EncodingRow(job.enc_key, job.image_hash, job.codec_label, job.point, len(enc.data),
                                      job.pixels, 8.0 * len(enc.data) / job.pixels, enc.side_info,
                                      str(bytes_path), str(decoded_path) if job.keep_decoded else None, seconds,
                                      bytes_hash, decoded_hash)
    if decoded.shape != img.shape:
        raise CodecError(f"{job.codec_name} decoded shape {decoded.shape} != input {img.shape}")
    if job.metrics:
        ref = _image(job.ref)
        result.values, result.errors = measure(ref, job.image_hash, decoded, job.metrics, job.enc_key, COMPRESSED)
    ref = _image(job.ref) if job.diagnostics else None
    if ref is not None and decoded.shape == ref.shape:
        values, errors, _ = diagnose(ref, job.image_hash, decoded, None, job.diagnostics, job.enc_key, COMPRESSED)
        result.values += values
        result.errors += errors
    if job.return_decoded:
        result.decoded = decoded
    return result


def _verified_bytes(path: str | None, expected: str | None) -> bytes | None:
    """The bytes of a cached file when they match the recorded hash, else None."""
    from ..cachefile import digest

    if path is None or not expected:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return data if digest(data) == expected else None


def run_measure(job: MeasureJob) -> StageResult:
    """Write a solver output to the cache (when new) and measure it against the original."""
    result = StageResult()
    out = job.output
    if out is None and job.output_path is None:
        out = _image(job.ref)
    elif out is None:
        path = Path(job.output_path)
        out = np.load(path) if path.suffix == ".npy" else read_image(path, "auto")
    elif job.write and job.output_path:
        path = Path(job.output_path)
        if out.dtype == np.uint8:
            sha = write_png(out, path)
        else:
            import io

            buf = io.BytesIO()
            np.save(buf, out)
            sha = write_bytes(buf.getvalue(), path)
        result.artefact = ArtefactRow(job.key, job.role, str(path), job.seconds,
                                      {"dtype": str(out.dtype), "shape": list(out.shape), **job.info}, sha)
    elif job.info:          # outputs not kept: the report and the solver time are stored all the same
        result.artefact = ArtefactRow(job.key, job.role, None, job.seconds, dict(job.info))
    if job.metrics:
        needs_ref = any(r.kind != "no_reference" for r in job.metrics)
        ref = _image(job.ref) if needs_ref else None
        result.values, result.errors = measure(ref, job.ref_hash, out, job.metrics, job.key, job.role)
    if job.diagnostics:
        ref = _image(job.ref)
        pair = (job.compressed, out) if job.compressed is not None else (out, None)
        values, errors, result.extra = diagnose(ref, job.ref_hash, *pair, job.diagnostics, job.key, job.role,
                                                job.examples, job.image_dir)
        result.values += values
        result.errors += errors
    return result


def init_worker(threads: int = 1, main_pid: int | None = None) -> None:
    """Worker process set-up: one intra-op thread each, torch's, OpenCV's and OpenBLAS's (the pool supplies
    the parallelism); die with the run's main process (:mod:`.lifeline`); leave Ctrl-C to the
    main process, which stops the pool."""
    import os
    import signal

    from .blas import limit_blas_threads
    from .lifeline import guard_worker

    if main_pid is not None:
        guard_worker(main_pid)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    limit_blas_threads(threads)                    # numpy's OpenBLAS, loaded before this runs
    after_import("torch", lambda torch: torch.set_num_threads(threads))     # a JPEG-only worker never imports it
    after_import("cv2", lambda cv2: cv2.setNumThreads(threads))             # the SSIM kernels' row filter


def after_import(name: str, fn) -> _AfterImport | None:
    """Call ``fn(module)`` once the top-level module ``name`` is imported: now if it already is,
    else right after its first import in this process (so a worker that never needs it does not
    pay for importing it). Returns the waiting hook (remove it from ``sys.meta_path`` to cancel),
    or None when ``fn`` already ran."""
    import sys

    if name in sys.modules:
        fn(sys.modules[name])
        return None
    hook = _AfterImport(name, fn)
    sys.meta_path.insert(0, hook)
    return hook


class _AfterImport:
    """A meta-path finder that runs a callback after one module's first import, then removes itself."""

    def __init__(self, name: str, fn):
        self.name, self.fn = name, fn

    def find_spec(self, fullname, path=None, target=None):
        import importlib.util
        import sys

        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module, fn = spec.loader.exec_module, self.fn

        def exec_then_call(module):
            exec_module(module)
            fn(module)

        spec.loader.exec_module = exec_then_call
        return spec
