"""The set-level pass: distribution metrics (FID/KID) per dataset x solver x codec point.

Runs after the per-image loop, reading the cached outputs. A value is recomputed only when the
set of outputs it covers changed (its key hashes their output keys and the metric version).
Reference features are extracted once per dataset and shared by every group.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np

from ..images import read_image
from ..metrics.distribution import DistributionMetric, FeatureStats, InceptionExtractor
from .plan import Sample, content_key


def run_set_metrics(metrics: list[DistributionMetric], samples: list[Sample], store, result, device: str,
                    seed: int, fail: Callable) -> None:
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
    ref_cache: dict[tuple, FeatureStats] = {}

    def stats(imgs_of, members, m: DistributionMetric, keep: bool) -> FeatureStats:
        st = FeatureStats(keep=keep)
        for s in members:
            crops = m.samples(imgs_of(s))
            if crops:
                st.update(extractor(crops))
        return st

    for group, members, m, set_key in todo:
        dataset = group[0]
        try:
            rkey = (dataset, m.patch, m.crop_border, m.preset["type"] == "kid")
            if rkey not in ref_cache:
                refs = {s.image.pixel_hash: s for s in samples if s.image.dataset == dataset}
                ref_cache[rkey] = stats(lambda s: read_image(s.image.path, s.image.mode), list(refs.values()),
                                        m, keep=rkey[3])
            test = stats(lambda s: read_image(store.get_output(s.out_key)[0], "auto"), members, m,
                         keep=m.preset["type"] == "kid")
            value = m.value(ref_cache[rkey], test, seed)
            if not np.isfinite(value):
                raise ValueError(f"{m.key} is {value}")
            store.put_set_metric(result.suite_hash, group, m.key, m.version, set_key, value, len(members),
                                 test.n, result.run_id)
            result.metric_values_computed += 1
        except Exception as exc:
            fail(set_key, "set_metric", f"{m.key} {'/'.join(map(str, group))}", exc)
