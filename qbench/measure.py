"""Measure images you already have: ``qbench measure REF DIST``, two images or two folders.

Pairs are matched by file stem (``kodim01.png`` with ``kodim01.webp``). Every per-image value
comes from the runner's own measuring function (:func:`qbench.runner.stages.measure`) with the
same metric presets, so a value equals the one a suite run stores for the same pair of images.
Set-level metrics (FID/KID) run the set pass's feature extraction over the two folders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataNotFoundError, ImageError, QbenchError

DEFAULT_METRICS = ("psnr_rgb", "psnr_y", "ssim_y")


@dataclass(frozen=True)
class Pair:
    """One reference image and the image measured against it."""

    name: str
    ref: Path
    dist: Path


@dataclass
class Measurement:
    """Per-image values (``values[name][metric key]``), their means and the set-level values."""

    pairs: list[Pair]
    metrics: list[str]                                  # per-image metric keys, in order
    values: dict[str, dict[str, float]] = field(default_factory=dict)
    set_values: dict[str, float] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)

    def mean(self) -> dict[str, float]:
        """Mean of the per-image values of each metric (never pooled MSE), as a leaderboard row."""
        return {m: float(np.mean([self.values[p.name][m] for p in self.pairs])) for m in self.metrics}

    def as_json(self) -> dict:
        """The measurement as JSON-ready data (non-finite numbers as strings)."""
        def num(v: float):
            return v if math.isfinite(v) else str(v)
        return {"metrics": {m: {"higher_is_better": self.higher_is_better[m]} for m in
                            self.metrics + list(self.set_values)},
                "n_images": len(self.pairs),
                "images": [{"image": p.name, "ref": str(p.ref), "dist": str(p.dist),
                            **{m: num(self.values[p.name][m]) for m in self.metrics}} for p in self.pairs],
                "mean": {m: num(v) for m, v in self.mean().items()},
                "set": {m: num(v) for m, v in self.set_values.items()}}


def match_pairs(ref: str | Path, dist: str | Path, recursive: bool = False) -> list[Pair]:
    """Two image files, or two folders whose image files are matched by stem (relative path
    without the suffix). Every image must have its partner: unmatched stems raise
    :class:`DataNotFoundError` naming them, as do a missing path or a stem present twice."""
    from .datasets.base import list_images

    ref, dist = Path(ref), Path(dist)
    for p in (ref, dist):
        if not p.exists():
            raise DataNotFoundError(f"{p} does not exist")
    if ref.is_file() and dist.is_file():
        return [Pair(ref.stem, ref, dist)]
    if ref.is_file() or dist.is_file():
        raise ConfigError(f"give two image files or two folders (got {ref} and {dist})")

    def by_stem(folder: Path) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for p in list_images(folder, recursive):
            stem = p.relative_to(folder).with_suffix("").as_posix()
            if stem in out:
                raise DataNotFoundError(f"{folder}: two images with the stem {stem!r} ({out[stem].name}, {p.name})")
            out[stem] = p
        if not out:
            raise DataNotFoundError(f"{folder} holds no image files")
        return out

    a, b = by_stem(ref), by_stem(dist)
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        parts = [f"{len(s)} only in {f}: {', '.join(s[:5])}{' …' if len(s) > 5 else ''}"
                 for s, f in ((only_a, ref), (only_b, dist)) if s]
        raise DataNotFoundError("unmatched file stems: " + "; ".join(parts))
    return [Pair(stem, a[stem], b[stem]) for stem in sorted(a)]


def measure_pairs(pairs: list[Pair], metrics: list[str] = list(DEFAULT_METRICS), crop_border: int | None = None,
                  mode: str = "auto", device: str = "cpu", seed: int = 0) -> Measurement:
    """Measure every pair with the named metric presets (the suite's ``metrics:`` names).

    Images are read as a folder dataset reads them (channel policy ``mode``); a pair whose
    sizes or channel counts differ raises :class:`ImageError`. Set-level metrics (FID/KID) need
    at least two pairs; their Inception features are computed on ``device``."""
    from . import metrics as metric_mod
    from .images import pixel_hash, read_image
    from .runner.stages import MetricRef
    from .runner.stages import measure as measure_one

    if not metrics:
        raise ConfigError("give at least one metric")
    if len(set(metrics)) != len(metrics):
        raise ConfigError(f"a metric is named twice: {metrics}")
    kinds = {name: metric_mod.describe(name, crop_border)[2] for name in metrics}   # unknown name: exit 2
    set_names = [n for n in metrics if kinds[n] == "distribution"]
    if set_names and len(pairs) < 2:
        raise ConfigError(f"{', '.join(set_names)}: set-level metrics need two folders of at least "
                          f"two images each (got {len(pairs)} pair)")
    built = [metric_mod.build(name, crop_border=crop_border) for name in metrics]   # missing weights: exit 3
    per_image = [m for m in built if m.kind != "distribution"]
    sets = [m for m in built if m.kind == "distribution"]
    refs = tuple(MetricRef(m.name, m.preset.get("crop_border") or None, m.key, m.version, m.kind)
                 for m in per_image)
    result = Measurement(pairs, [m.key for m in per_image],
                         higher_is_better={m.key: m.info.higher_is_better for m in built})
    for pair in pairs:
        x, y = read_image(pair.ref, mode), read_image(pair.dist, mode)   # type: ignore[arg-type]
        if x.shape != y.shape:
            raise ImageError(f"{pair.name}: {pair.ref} is {_size(x)} but {pair.dist} is {_size(y)}"
                             + (" (use --mode rgb or --mode gray)" if x.shape[:2] == y.shape[:2] else ""))
        if not refs:
            continue
        values, errors = measure_one(x, pixel_hash(x), y, refs, pair.name, "measured")
        if errors:
            key, msg = errors[0]
            raise QbenchError(f"{pair.name}: {key} failed: {msg.splitlines()[0]}")
        result.values[pair.name] = {v.metric: v.value for v in values}
    if sets:
        result.set_values = _set_values(pairs, sets, mode, device, seed)
    return result


def _size(img: np.ndarray) -> str:
    return f"{img.shape[1]}x{img.shape[0]}x{img.shape[2]}"


def _set_values(pairs: list[Pair], sets: list, mode: str, device: str, seed: int) -> dict[str, float]:
    """FID/KID between the reference folder and the other, as the run's set pass computes them."""
    from .images import read_image
    from .metrics.distribution import InceptionExtractor
    from .runner.environment import resolve_device
    from .runner.setpass import extract_stats

    extractor = InceptionExtractor(resolve_device(device))
    out: dict[str, float] = {}
    cache: dict = {}
    # one extraction per side and sampling (FID and KID of the same patches share it; KID needs the
    # features themselves, FID only their running sums, which a kept extraction also has)
    keeps: dict[tuple, bool] = {}
    for m in sets:
        keeps[(m.patch, m.crop_border)] = keeps.get((m.patch, m.crop_border), False) or m.preset["type"] == "kid"
    for m in sets:
        keep = keeps[(m.patch, m.crop_border)]
        stats = []
        for side in ("ref", "dist"):
            ident = (side, m.patch, m.crop_border)
            if ident not in cache:
                imgs = (read_image(getattr(p, side), mode) for p in pairs)   # type: ignore[arg-type]
                cache[ident] = extract_stats(extractor, imgs, m, keep)
            stats.append(cache[ident])
        value = m.value(stats[0], stats[1], seed)
        if not np.isfinite(value):
            raise ImageError(f"{m.key} is {value}")
        out[m.key] = float(value)
    return out
