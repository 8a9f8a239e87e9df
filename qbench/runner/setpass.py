"""The set-level pass: distribution metrics (FID/KID) between two image sets of each group.

Runs after the per-image work, reading stored images through :mod:`qbench.pipelines.diagnostic`.
A value is recomputed only when the images it covers changed (its key hashes both sets' image
keys and the metric version). Features are extracted once per image set and sampling (full
images or patches, border crop) and shared by every metric and pair that needs them.

The pass reads the store and yields rows; the runner writes them (it is the only writer).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..metrics.distribution import FeatureStats, InceptionExtractor
from ..pipelines import content_key
from ..pipelines.diagnostic import RoleImages, groups, role_key, set_pairs
from ..vocabulary import ENHANCED, LOWRES


def extract_stats(extractor, images, m, keep: bool, spill_dir=None) -> FeatureStats:
    """Running feature statistics of the samples of ``images`` (an iterable read lazily), batched
    across images (``batch_size`` samples a batch, in order): one image and at most one
    batch of resized samples are in memory at a time; kept rows go to ``spill_dir``."""
    st = FeatureStats(keep=keep, spill_dir=spill_dir)
    pending: list[np.ndarray] = []          # samples resized for the network (1 MiB each), not whole images
    for img in images:
        pending += [extractor.prepare(s) for s in m.samples(img)]
        del img
        if len(pending) >= extractor.batch_size:
            st.update(extractor.features(pending))
            pending = []
    if pending:
        st.update(extractor.features(pending))
    return st


@dataclass(frozen=True)
class SetValue:
    """A computed set-level value of ``group`` between two roles (``set_key``: the images covered)."""

    group: tuple
    ref_role: str
    test_role: str
    metric: str
    version: str
    set_key: str
    value: float
    n_images: int
    n_features: int


@dataclass(frozen=True)
class SetFailure:
    """A set-level value that could not be computed."""

    key: str
    detail: str
    exc: BaseException


def set_pass(store, comps, samples, suite, suite_hash: str, device: str,
             cache_ok: Callable[..., bool], spill_dir=None) -> Iterator[SetValue | SetFailure]:
    """Every set metric for every group and role pair whose stored value is missing or covers
    other images, as it is computed; reads ``store``, never writes it. KID's feature vectors are
    kept in temporary files under ``spill_dir`` (the system's temporary folder when None)."""
    metrics = comps.set_metrics
    from dataclasses import replace

    # only cache files that match their recorded hash are read
    encodings = {k: e if cache_ok(e.decoded_path, e.decoded_hash, quiet=True) else replace(e, decoded_path=None)
                 for k, e in store.get_encodings({s.enc_key for s in samples}).items()
                 if cache_ok(e.bytes_path, e.bytes_hash)}
    artefacts = {}
    wanted = {ENHANCED: {s.out_key for s in samples}, LOWRES: {s.keys.pre_key for s in samples}}
    for role in (ENHANCED, LOWRES):     # this run's images only: other suites' files are not read
        artefacts.update({(k, role): a.path for k, a in store.get_artefacts(role).items()
                          if k in wanted[role] and cache_ok(a.path, a.hash)})
    images = RoleImages(encodings, artefacts, {c.label: c.codec for c in comps.codecs})
    pairs = set_pairs(tuple(p) for p in suite.diagnostics.set_pairs)
    todo = []
    for group, members in groups(samples).items():
        for ref_role, test_role in pairs:
            usable = [s for s in members if images.available(s, ref_role) and images.available(s, test_role)]
            if not usable:
                continue
            set_key = content_key(sorted(role_key(s, ref_role) for s in usable),
                                  sorted(role_key(s, test_role) for s in usable))
            for m in metrics:
                got = store.get_set_value(suite_hash, group, ref_role, test_role, m.key, m.version)
                if got is None or got[0] != set_key:
                    todo.append((group, usable, ref_role, test_role, m, set_key))
    if not todo:
        return
    try:
        extractor = InceptionExtractor(device)
    except Exception as exc:
        for group, _, a, b, m, set_key in todo:
            yield SetFailure(set_key, f"{m.key} {a}-{b} {'/'.join(map(str, group))}", exc)
        return
    keep = {(m.patch, m.crop_border) for m in metrics if m.preset["type"] == "kid"}   # KID needs the rows
    if keep and spill_dir is not None:
        Path(spill_dir).mkdir(parents=True, exist_ok=True)
    cache: OrderedDict = OrderedDict()       # (image set, sampling) -> stats; a few sets at a time

    def stats(members, role, m) -> FeatureStats:
        sampling = (m.patch, m.crop_border)
        ident = (tuple(sorted(role_key(s, role) for s in members)), sampling)
        if ident not in cache:
            cache[ident] = extract_stats(extractor, images.loader(members, role)(), m, sampling in keep,
                                         spill_dir)
            if len(cache) > 6:
                cache.popitem(last=False)[1].close()
        cache.move_to_end(ident)
        return cache[ident]

    for group, members, a, b, m, set_key in todo:
        try:
            ref, test = stats(members, a, m), stats(members, b, m)
            value = m.value(ref, test, suite.seed)
            if not np.isfinite(value):
                raise ValueError(f"{m.key} is {value}")
        except Exception as exc:
            yield SetFailure(set_key, f"{m.key} {a}-{b} {'/'.join(map(str, group))}", exc)
            continue
        yield SetValue(group, a, b, m.key, m.version, set_key, value, len(members), test.n)
    for st in cache.values():
        st.close()
    if keep and spill_dir is not None:
        with contextlib.suppress(OSError):
            Path(spill_dir).rmdir()             # empty now: the files were unnamed
