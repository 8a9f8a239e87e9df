"""Planning: suite -> samples (dataset image x codec point x solver) with their pipeline and keys.

Keys hash what determines a result (see :meth:`qbench.pipelines.Pipeline.keys`): the image's pixel
hash; a pre step's solver spec; the codec's name, parameters, library versions, code identity and
setting; the solver's spec (class, code identity, version, parameters, weight hashes,
output-changing engine options); whether outputs are quantised. The metric's version (preset and
code identity) is stored with each value. Code identities: :mod:`qbench.codeid`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Callable

from ..datasets import Dataset
from ..errors import QbenchError
from ..images import pixel_hash
from ..pipelines import COMPRESSED, ENHANCED, LOWRES, ORIGINAL, ImageRef, Keys, Pipeline, content_key, pipeline_for
from ..store import EncodingRow
from .resolve import Components
from .stages import DiagnosticRef, MetricRef


@dataclass(frozen=True)
class Sample:
    """One measured result: an image through a codec point and a solver."""

    sample_id: str
    image: ImageRef
    codec: str            # codec label
    quality: float        # the setting, or the target bpp when ``target``
    target: bool
    solver: str           # solver label
    task: str
    pipeline: str
    keys: Keys

    @property
    def enc_key(self) -> str:
        """The key of the sample's encoding."""
        return self.keys.enc_key

    @property
    def out_key(self) -> str:
        """The key of the sample's output (the encoding's key for a pass-through)."""
        return self.keys.out_key

    @property
    def out_role(self) -> str:
        """The stored role of the output: ``enhanced``, or ``compressed`` for a pass-through."""
        return self.keys.out_role

    @property
    def what(self) -> str:
        """The sample in words for messages: dataset/image codec@quality solver."""
        return f"{self.image.dataset}/{self.image.name} {self.codec}@{self.quality:g} {self.solver}"


def index_dataset(label: str, ds: Dataset, store, on_error: Callable[[str, str, Exception], None],
                  rehash: bool = False) -> list[ImageRef]:
    """Pixel-hash every image of ``ds``, reusing the store's file cache (keyed on path, size,
    modification and inode change time) unless ``rehash``; broken ones go to ``on_error``."""
    refs = []
    for rec in ds.records():
        try:
            src = ds.image_source(rec)
            src = replace(src, path=os.path.abspath(src.path))
            st = os.stat(src.path)
            stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            # the cache entry is keyed by what decides the pixels besides the file: policy and crop
            cached = None if rehash else store.file_info(src.path, *stamp, src.tag)
            if cached is None or (rec.expected_hash and ds.mode == "auto" and cached[0] != rec.expected_hash
                                  and src.modcrop <= 1):
                img = ds.load(rec)
                h = pixel_hash(img)
                shape = tuple(int(s) for s in img.shape)
                store.put_file_info(src.path, *stamp, src.tag, h, shape)
            else:
                h, shape = cached[0], (cached[1], cached[2], cached[3])
            refs.append(ImageRef(label, rec.name, src, h, shape, rec.expected_hash))
        except (QbenchError, OSError) as exc:
            on_error(f"{label}/{rec.name}", rec.path, exc)
    return refs


def make_pipelines(comps: Components) -> dict[tuple[str, str], Pipeline]:
    """One pipeline per (solver label, codec label)."""
    return {(s_label, c.label): pipeline_for(solver, c.codec)
            for s_label, solver in comps.solvers for c in comps.codecs}


def plan_samples(images: list[ImageRef], comps: Components, pipelines: dict[tuple[str, str], Pipeline],
                 quantize: bool) -> list[Sample]:
    """Every (image, codec point, solver) combination, image-major (so the work of one image is
    scheduled together and a worker reads and prepares each original once)."""
    samples = []
    for img in images:
        for s_label, solver in comps.solvers:
            for c in comps.codecs:
                for q in c.points:
                    pipe = pipelines[(s_label, c.label)]
                    keys = pipe.keys(img, q, c.target, quantize)
                    sid = content_key(img.dataset, img.name, c.label, {"target_bpp": q} if c.target else q, s_label)
                    samples.append(Sample(sid, img, c.label, float(q), c.target, s_label, solver.card.task,
                                          pipe.kind, keys))
    return samples


@dataclass(frozen=True)
class Work:
    """What one sample's measured image still needs: metrics, triplet diagnostics, and a stored,
    verified output (``output``) when its solver need not run again."""

    sample: Sample
    metrics: tuple[MetricRef, ...]
    diagnostics: tuple[DiagnosticRef, ...]
    output: str | None = None


@dataclass
class GroupTodo:
    """The to-do of the samples sharing one bitstream (an encoding group).

    ``finished`` samples need nothing; ``measure`` ones are measured from their stored output;
    ``remeasure`` ones too, once the code stage has decoded the image their diagnostics need;
    ``solve`` ones run their solver; ``passthrough`` ones are finished by the code stage. The
    code stage runs when ``code`` is set, from ``cached`` bytes when they verified, coding the
    stored low-res image ``lowres`` (a pre step's output; None: compute it) or the original."""

    enc_key: str
    pipeline: Pipeline
    samples: list[Sample]
    finished: list[Sample] = field(default_factory=list)
    measure: list[Work] = field(default_factory=list)
    remeasure: list[Work] = field(default_factory=list)
    solve: list[Work] = field(default_factory=list)
    passthrough: list[Sample] = field(default_factory=list)
    code: bool = False
    cached: EncodingRow | None = None
    lowres: str | None = None
    metrics: tuple[MetricRef, ...] = ()              # of the compressed image
    diagnostics: tuple[DiagnosticRef, ...] = ()      # of the pass-through samples (E is C)


@dataclass
class Todo:
    """A run's to-do, decided once from the store: ``samples`` are those with anything missing
    (``done_before`` the others); ``originals`` the first sample of each image whose
    no-reference values are missing, with those metrics."""

    samples: list[Sample]
    done_before: int
    originals: list[tuple[Sample, tuple[MetricRef, ...]]]
    groups: list[GroupTodo]


def metric_refs(metrics) -> tuple[MetricRef, ...]:
    """The metrics as workers rebuild them."""
    return tuple(MetricRef(m.name, m.preset.get("crop_border") or None, m.key, m.version, m.kind) for m in metrics)


class _Missing:
    """Missing metrics and diagnostics of one image (key, role), against the stored values."""

    def __init__(self, metrics, diagnostics, done: set):
        self.refs = metric_refs(metrics)
        self.diags = tuple(DiagnosticRef.of(d) for d in diagnostics)
        self.diag_keys = {d.label: d.keys() for d in diagnostics}
        self.done = done

    def metrics(self, key: str, role: str) -> tuple[MetricRef, ...]:
        """An original gets only no-reference metrics (a full-reference one would compare it with itself)."""
        return tuple(r for r in self.refs if (key, role, r.key, r.version) not in self.done
                     and (role != ORIGINAL or r.kind == "no_reference"))

    def diagnostics(self, key: str, role: str) -> tuple[DiagnosticRef, ...]:
        return tuple(r for r in self.diags
                     if any((key, role, n, r.version) not in self.done for n in self.diag_keys[r.label]))


def plan_todo(samples: list[Sample], pipelines: dict[tuple[str, str], Pipeline], metrics, diagnostics, store,
              cache_ok: Callable[[str | None, str | None], bool], need_outputs: bool = False) -> Todo:
    """What the run still computes, from the store's values, encodings and artefacts: a stored
    cache file counts only when ``cache_ok`` verifies it (else it is missing and made again);
    with ``need_outputs`` (set-level metrics read stored images) a sample whose output or
    bitstream is not stored is not complete."""
    done = store.done_values([s.enc_key for s in samples] + [s.out_key for s in samples]
                             + [s.image.pixel_hash for s in samples])
    miss = _Missing(metrics, diagnostics, done)
    encs = store.get_encodings({s.enc_key for s in samples})
    outputs = store.get_artefacts(ENHANCED)

    def have_enc(key: str) -> bool:
        enc = encs.get(key)
        return enc is not None and cache_ok(enc.bytes_path, enc.bytes_hash)

    def have_output(key: str) -> str | None:
        art = outputs.get(key)
        return art.path if art is not None and cache_ok(art.path, art.hash) else None

    def complete(s: Sample, pipe: Pipeline) -> bool:
        if miss.metrics(s.out_key, s.out_role) or miss.diagnostics(s.out_key, s.out_role):
            return False
        if pipe.compressed_comparable() and miss.metrics(s.enc_key, COMPRESSED):
            return False
        if miss.metrics(s.image.pixel_hash, ORIGINAL):
            return False
        return not need_outputs or bool(have_enc(s.enc_key) if pipe.passthrough else have_output(s.out_key))

    todo = [s for s in samples if not complete(s, pipelines[(s.solver, s.codec)])]
    originals: dict[str, tuple[Sample, tuple[MetricRef, ...]]] = {}
    for s in todo:                       # no-reference values of the originals, once each
        if s.image.pixel_hash not in originals:
            originals[s.image.pixel_hash] = (s, miss.metrics(s.image.pixel_hash, ORIGINAL))
    by_enc: dict[str, list[Sample]] = defaultdict(list)
    for s in todo:
        by_enc[s.enc_key].append(s)
    lowres = store.get_artefacts(LOWRES) if any(p.has_pre for p in pipelines.values()) else {}
    groups = []
    for enc_key, members in by_enc.items():
        pipe = pipelines[(members[0].solver, members[0].codec)]
        g = GroupTodo(enc_key, pipe, members,
                      metrics=miss.metrics(enc_key, COMPRESSED) if pipe.compressed_comparable() else ())
        for s in members:
            if pipelines[(s.solver, s.codec)].passthrough:
                g.passthrough.append(s)
                continue
            work = Work(s, miss.metrics(s.out_key, s.out_role), miss.diagnostics(s.out_key, s.out_role),
                        have_output(s.out_key))
            if not work.metrics and not work.diagnostics and (work.output or not need_outputs):
                g.finished.append(s)
            elif work.output and not work.diagnostics:
                g.measure.append(work)
            elif work.output:            # diagnostics need C: measured once the code stage decoded it
                g.remeasure.append(work)
            else:
                g.solve.append(work)
        if g.passthrough and pipe.compressed_comparable():
            g.diagnostics = miss.diagnostics(enc_key, COMPRESSED)
        cached = have_enc(enc_key)
        g.code = bool(g.metrics or g.solve or g.remeasure or g.diagnostics or not (cached or not need_outputs))
        if g.code:
            g.cached = encs[enc_key] if cached else None
            if pipe.has_pre:
                got = lowres.get(members[0].keys.pre_key)
                g.lowres = got.path if got is not None and cache_ok(got.path, got.hash) else None
        else:
            g.finished += g.passthrough
            g.passthrough = []
        groups.append(g)
    return Todo(todo, len(samples) - len(todo), [o for o in originals.values() if o[1]], groups)


def example_images(samples: list[Sample], diagnostics) -> dict[str, set[str]]:
    """Per diagnostic label, the pixel hashes of the images that get example images: the first
    ``examples`` images of each dataset in plan (dataset) order."""
    out: dict[str, set[str]] = {}
    for d in diagnostics:
        if d.examples <= 0:
            continue
        per_dataset: dict[str, list[str]] = {}
        for s in samples:
            seen = per_dataset.setdefault(s.image.dataset, [])
            if len(seen) < d.examples and s.image.pixel_hash not in seen:
                seen.append(s.image.pixel_hash)
        out[d.label] = {h for hashes in per_dataset.values() for h in hashes}
    return out
