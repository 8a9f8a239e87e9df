"""Planning: suite -> samples (dataset image x codec point x solver) with cache keys.

Keys hash what determines a result: the image's pixel hash; the codec's name, parameters and
library versions and the quality; the solver's spec (class, parameters, version, weight
hashes); whether outputs are quantised. The metric preset's version is added per metric value.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Callable

from ..codecs import Codec
from ..datasets import Dataset
from ..errors import QbenchError
from ..images import pixel_hash
from ..solvers import LearnedCodec, Rescaler, Solver


def content_key(*parts: Any) -> str:
    """A 24-hex key: sha256 of the canonical JSON of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class ImageRef:
    """An indexed image: where it comes from and what its pixels hash to."""

    dataset: str
    name: str
    path: str
    mode: str
    pixel_hash: str
    shape: tuple[int, int, int]
    expected_hash: str | None = None


@dataclass(frozen=True)
class Sample:
    """One measured result: an image through a codec point and a solver."""

    sample_id: str
    image: ImageRef
    codec: str            # codec label (or the learned codec's label)
    quality: float
    solver: str           # solver label
    task: str
    enc_key: str
    out_key: str
    target: bool = False  # quality holds a target bpp (rate-control mode)


def index_dataset(label: str, ds: Dataset, store, on_error: Callable[[str, str, Exception], None]
                  ) -> list[ImageRef]:
    """Pixel-hash every image of ``ds`` (reusing the store's file cache); broken ones go to ``on_error``."""
    refs = []
    for rec in ds.records():
        try:
            st = os.stat(rec.path)
            cached = store.file_info(rec.path, st.st_size, st.st_mtime_ns, ds.mode)
            if cached is None or (rec.expected_hash and ds.mode == "auto" and cached[0] != rec.expected_hash):
                img = ds.load(rec)
                h = pixel_hash(img)
                shape = tuple(int(s) for s in img.shape)
                store.put_file_info(rec.path, st.st_size, st.st_mtime_ns, ds.mode, h, shape)
            else:
                h, shape = cached[0], (cached[1], cached[2], cached[3])
            refs.append(ImageRef(label, rec.name, rec.path, ds.mode, h, shape, rec.expected_hash))
        except (QbenchError, OSError) as exc:
            on_error(f"{label}/{rec.name}", rec.path, exc)
    return refs


def enc_key_for(image: ImageRef, codec: Codec | None, quality: float, solver: Solver,
                target: bool = False) -> str:
    if isinstance(solver, LearnedCodec):
        return content_key("lcodec", image.pixel_hash, solver.spec(), quality)
    pre = solver.spec() if isinstance(solver, Rescaler) else None
    point = {"target_bpp": quality} if target else quality
    return content_key("enc", image.pixel_hash, codec.spec() if codec else None, point, pre)


def out_key_for(enc_key: str, solver: Solver, quantize: bool) -> str:
    return content_key("out", enc_key, solver.spec(), quantize)


def plan_samples(images: list[ImageRef], codecs: list[tuple[str, Codec, list[float], bool]],
                 solvers: list[tuple[str, Solver, list[float] | None]], quantize: bool) -> list[Sample]:
    """Every (image, codec point, solver) combination. Learned codecs use their own ladders.

    ``codecs`` entries are (label, codec, ladder, target): with ``target`` the ladder holds bpp
    targets, and the codec setting is searched per image.
    """
    samples = []
    for img in images:
        for s_label, solver, s_qualities in solvers:
            if isinstance(solver, LearnedCodec):
                points = [(s_label, None, q, False) for q in (s_qualities or type(solver).qualities)]
            else:
                points = [(c_label, codec, q, target) for c_label, codec, qs, target in codecs for q in qs]
            for c_label, codec, q, target in points:
                enc = enc_key_for(img, codec, q, solver, target)
                out = out_key_for(enc, solver, quantize)
                sid = content_key(img.dataset, img.name, c_label, {"target_bpp": q} if target else q, s_label)
                samples.append(Sample(sid, img, c_label, float(q), s_label, solver.card.task, enc, out, target))
    return samples
