"""Planning: suite -> samples (dataset image x codec point x solver) with their pipeline and keys.

Keys hash what determines a result (see :meth:`qbench.pipelines.Pipeline.keys`): the image's pixel
hash; a pre step's solver spec; the codec's name, parameters, library versions, code identity and
setting; the solver's spec (class, code identity, version, parameters, weight hashes,
output-changing engine options); whether outputs are quantised. The metric's version (preset and
code identity) is stored with each value. Code identities: :mod:`qbench.codeid`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Callable

from ..datasets import Dataset
from ..errors import QbenchError
from ..images import pixel_hash
from ..pipelines import ImageRef, Keys, Pipeline, content_key, pipeline_for
from .resolve import Components


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
        return self.keys.enc_key

    @property
    def out_key(self) -> str:
        return self.keys.out_key

    @property
    def out_role(self) -> str:
        return self.keys.out_role

    @property
    def what(self) -> str:
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


def diagnostics_complete(s: Sample, diagnostics, done: set) -> bool:
    """Whether every value of every triplet diagnostic of ``s`` is stored (at its measured image)."""
    return all((s.out_key, s.out_role, name, d.version) in done for d in diagnostics for name in d.keys())


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
