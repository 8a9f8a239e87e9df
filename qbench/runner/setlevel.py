"""The set-level pass: distribution metrics (FID/KID) per dataset x solver x codec point.

Runs after the per-image loop, reading the cached outputs. A value is recomputed only when the
set of outputs it covers changed (its key hashes their output keys and the metric version).
Features are extracted once per image set and sampling (full images or patches, border crop) and
shared by every metric that needs them: reference features once per dataset, output features once
per group, whatever the number of FID/KID variants.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterable

import numpy as np

from ..images import read_image
from ..metrics.distribution import DistributionMetric, FeatureStats, InceptionExtractor
from .plan import Sample, content_key


def sampling(m: DistributionMetric) -> tuple[int, int]:
    """What determines a metric's feature set: patch size and border crop."""
    return (m.patch, m.crop_border)


def extract_stats(extractor: InceptionExtractor, images: Iterable[np.ndarray], m: DistributionMetric,
                  keep: bool) -> FeatureStats:
    """Running feature statistics of the samples of ``images``, batched across images."""
    st = FeatureStats(keep=keep)
    pending: list[np.ndarray] = []
    for img in images:
        pending += m.samples(img)
        if len(pending) >= extractor.batch_size:
            st.update(extractor(pending))
            pending = []
    if pending:
        st.update(extractor(pending))
    return st


def run_set_metrics(metrics: list[DistributionMetric], samples: list[Sample], store, result, device: str,
                    seed: int, fail: Callable) -> None:
    """Compute (or reuse from the store) every distribution metric of every group."""
    groups: dict[tuple, list[Sample]] = defaultdict(list)
    for s in samples:
        out = store.get_output(s.out_key)
        if out is not None and out[0]:
            groups[(s.image.dataset, s.solver, s.codec, s.quality)].append(s)
    todo = []
    for group, members in groups.items():
        set_key = content_key(sorted(m.out_key for m in members))
        for m in metrics:
            got = store.get_set_metric(result.suite_hash, group, m.key, m.version)
            if got is None or got[0] != set_key:
                todo.append((group, members, m, set_key))
    if not todo:
        return
    try:
        extractor = InceptionExtractor(device)
    except Exception as exc:
        for group, _, m, _ in todo:
            fail(m.key, "set_metric", f"{m.key} {'/'.join(map(str, group))}", exc)
        return
    keep = {sampling(m) for m in metrics if m.preset["type"] == "kid"}     # KID needs the rows
    ref_cache: dict[tuple, FeatureStats] = {}
    test_cache: dict[tuple, FeatureStats] = {}
    current = None
    for group, members, m, set_key in todo:          # todo is ordered by group
        if group != current:
            test_cache.clear()                       # one group's output features at a time
            current = group
        dataset, fkey = group[0], sampling(m)
        try:
            if (dataset, fkey) not in ref_cache:
                refs = {s.image.pixel_hash: s for s in samples if s.image.dataset == dataset}
                ref_cache[(dataset, fkey)] = extract_stats(
                    extractor, (read_image(s.image.path, s.image.mode) for s in refs.values()), m, fkey in keep)
            if fkey not in test_cache:
                test_cache[fkey] = extract_stats(
                    extractor, (read_image(store.get_output(s.out_key)[0], "auto") for s in members), m,
                    fkey in keep)
            test = test_cache[fkey]
            value = m.value(ref_cache[(dataset, fkey)], test, seed)
            if not np.isfinite(value):
                raise ValueError(f"{m.key} is {value}")
            store.put_set_metric(result.suite_hash, group, m.key, m.version, set_key, value, len(members),
                                 test.n, result.run_id)
            result.metric_values_computed += 1
        except Exception as exc:
            fail(set_key, "set_metric", f"{m.key} {'/'.join(map(str, group))}", exc)
