"""Published RD curves as references: CompressAI-format results JSON or a small CSV of points.

A reference is a curve measured elsewhere (mean bpp and mean metric per point over a dataset, as a
paper or CompressAI's ``results/`` folder publishes it). A suite lists it under ``references:``
with the dataset it was measured on; reports draw it on that dataset's RD figures and it may be a
BD-rate ``anchor``. Nothing of it is measured here.

Metric names are mapped explicitly (:data:`COMPRESSAI_METRICS`): CompressAI's ``psnr-rgb`` (older
files: ``psnr``) is qbench's ``psnr_rgb`` and ``ms-ssim-rgb`` (``ms-ssim``) is ``ms_ssim_rgb``,
both on 8-bit RGB with data range 255 as ``compressai.utils.eval_model`` computes them (checked in
the tests against CompressAI's own functions). Timing keys are ignored; any other key is an error,
so a curve is never compared under a name that means something else.

File formats:

* JSON: ``{"name": ..., "description": ..., "results": {"bpp": [...], "psnr-rgb": [...], ...}}``
  (a bare ``results`` mapping is accepted too, as CompressAI's plot does); an optional top-level
  ``"dataset"`` (qbench's own export writes it) must match the suite's.
* CSV: optional ``# key: value`` lines (``name``, ``description``, ``dataset``, ``source``), then a
  header row ``bpp,<metric>,...`` where each metric is a qbench preset name or a CompressAI key.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

#: CompressAI results keys -> qbench metric presets (the same protocol, see the module docstring)
COMPRESSAI_METRICS: dict[str, str] = {
    "psnr-rgb": "psnr_rgb", "psnr": "psnr_rgb",
    "ms-ssim-rgb": "ms_ssim_rgb", "ms-ssim": "ms_ssim_rgb",
}
#: qbench presets -> the key CompressAI's plot reads (export); other metrics keep their qbench name
EXPORT_KEYS: dict[str, str] = {"psnr_rgb": "psnr-rgb", "ms_ssim_rgb": "ms-ssim-rgb"}
#: keys of a results file that are not RD values (kept out of the curve)
IGNORED_KEYS = frozenset({"encoding_time", "decoding_time"})
#: the tag that reports give a published curve in place of a solver
PUBLISHED = "published"


class ReferenceError(ConfigError):
    """A reference file is missing, malformed, or does not fit the suite (dataset, metrics)."""


@dataclass(frozen=True)
class Reference:
    """One published curve: its points per qbench metric, where it came from and its dataset."""

    label: str
    name: str
    dataset: str
    source: str                                  # the path as the suite writes it
    sha256: str                                  # of the file's bytes
    bpp: tuple[float, ...]
    values: dict[str, tuple[float, ...]]         # qbench metric preset -> one value per point
    description: str = ""
    ignored: tuple[str, ...] = field(default_factory=tuple)

    def record(self) -> dict[str, Any]:
        """What the store keeps of it (the report reads this, never the file)."""
        out = asdict(self)
        out["bpp"], out["values"] = list(self.bpp), {m: list(v) for m, v in self.values.items()}
        out["ignored"] = list(self.ignored)
        return out

    @classmethod
    def from_record(cls, info: dict[str, Any]) -> Reference:
        """The reference as recorded in the store's components table."""
        return cls(info["label"], info.get("name", info["label"]), info["dataset"], info["source"],
                   info.get("sha256", ""), tuple(float(v) for v in info["bpp"]),
                   {m: tuple(float(x) for x in v) for m, v in info["values"].items()},
                   info.get("description", ""), tuple(info.get("ignored", ())))

    def curve(self, metric: str) -> tuple[list[float], list[float]] | None:
        """(bpp, values) of ``metric`` sorted by rate, or None when the file has no such metric."""
        if metric not in self.values:
            return None
        pts = sorted(zip(self.bpp, self.values[metric]))
        return [p[0] for p in pts], [p[1] for p in pts]

    @property
    def caption(self) -> str:
        """How reports name it: ``vtm (published: vtm.json, kodak)``."""
        return f"{self.label} ({PUBLISHED}: {Path(self.source).name}, {self.dataset})"


def _metric_of(key: str, allowed: set[str] | None, source: str) -> str | None:
    """The qbench metric of a results key; None for a timing key; raise on anything else."""
    if key in IGNORED_KEYS:
        return None
    if key in COMPRESSAI_METRICS:
        return COMPRESSAI_METRICS[key]
    if allowed is not None and key in allowed:
        return key
    known = sorted(COMPRESSAI_METRICS) + (sorted(allowed) if allowed else [])
    raise ReferenceError(f"{source}: unknown metric key {key!r}; a reference maps only {', '.join(known)} "
                         f"(timings {', '.join(sorted(IGNORED_KEYS))} are ignored)")


def _numbers(values: Any, key: str, source: str) -> tuple[float, ...]:
    if not isinstance(values, list) or not values:
        raise ReferenceError(f"{source}: {key!r} must be a non-empty list of numbers")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise ReferenceError(f"{source}: {key!r} holds {v!r}, not a finite number")
        out.append(float(v))
    return tuple(out)


def _curve(results: dict[str, Any], source: str, allowed: set[str] | None):
    """bpp and the mapped metric values of a ``results`` mapping, checked."""
    if "bpp" not in results:
        raise ReferenceError(f"{source}: no 'bpp' values (keys: {', '.join(map(str, results)) or 'none'})")
    bpp = _numbers(results["bpp"], "bpp", source)
    if len(bpp) < 2 or any(b <= 0 for b in bpp):
        raise ReferenceError(f"{source}: 'bpp' needs at least 2 positive values")
    values: dict[str, tuple[float, ...]] = {}
    keys: dict[str, str] = {}
    ignored = []
    for key, raw in results.items():
        if key == "bpp":
            continue
        metric = _metric_of(str(key), allowed, source)
        if metric is None:
            ignored.append(str(key))
            continue
        if metric in values:
            raise ReferenceError(f"{source}: both {keys[metric]!r} and {key!r} map to {metric}; keep one")
        vals = _numbers(raw, str(key), source)
        if len(vals) != len(bpp):
            raise ReferenceError(f"{source}: {key!r} has {len(vals)} values for {len(bpp)} bpp values")
        values[metric], keys[metric] = vals, str(key)
    if not values:
        raise ReferenceError(f"{source}: no metric values beside 'bpp'")
    return bpp, values, tuple(ignored)


def parse_compressai_json(text: str, source: str = "<json>") -> dict[str, Any]:
    """A CompressAI-format results JSON -> name, description, dataset (or None), bpp, values."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReferenceError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ReferenceError(f"{source}: top level must be an object")
    results = data.get("results", data)
    if not isinstance(results, dict):
        raise ReferenceError(f"{source}: 'results' must be an object")
    results = {k: v for k, v in results.items() if "results" in data or k not in ("name", "description", "dataset")}
    bpp, values, ignored = _curve(results, source, None)
    return {"name": str(data.get("name") or Path(source).stem), "description": str(data.get("description") or ""),
            "dataset": data.get("dataset"), "bpp": bpp, "values": values, "ignored": ignored}


def parse_csv(text: str, source: str = "<csv>", presets: set[str] | None = None) -> dict[str, Any]:
    """A CSV of points (``# key: value`` lines, then ``bpp,<metric>,...``) -> as :func:`parse_compressai_json`.

    ``presets`` are the qbench metric names a column may carry (default: the per-image presets)."""
    if presets is None:
        from .metrics.presets import PRESETS

        presets = set(PRESETS)
    meta: dict[str, str] = {}
    body = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            key, sep, value = line.lstrip()[1:].partition(":")
            if sep:
                meta[key.strip().lower()] = value.strip()
        elif line.strip():
            body.append(line)
    rows = list(csv.reader(io.StringIO("\n".join(body))))
    if len(rows) < 2:
        raise ReferenceError(f"{source}: needs a header row (bpp,<metric>,...) and at least 2 rows of points")
    header = [h.strip() for h in rows[0]]
    columns: dict[str, list] = {h: [] for h in header}
    if len(columns) != len(header):
        raise ReferenceError(f"{source}: a column name repeats in {header}")
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ReferenceError(f"{source}: data row {n - 1} has {len(row)} fields for {len(header)} columns")
        for h, cell in zip(header, row):
            try:
                columns[h].append(float(cell))
            except ValueError:
                raise ReferenceError(f"{source}: column {h!r}, data row {n - 1}: {cell!r} is not a number") from None
    bpp, values, ignored = _curve(columns, source, presets)
    return {"name": meta.get("name") or Path(source).stem, "description": meta.get("description", ""),
            "dataset": meta.get("dataset"), "bpp": bpp, "values": values, "ignored": ignored,
            "source_note": meta.get("source", "")}


def resolve_path(path: str, root: str | Path | None) -> Path:
    """``path`` as written in a suite: absolute, else under the suite's folder ``root``, else under
    the working directory."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    if root is not None and (Path(root) / p).is_file():
        return Path(root) / p
    return p


def load_reference(path: str, dataset: str, label: str | None = None, root: str | Path | None = None) -> Reference:
    """Read one reference file (``.json``: CompressAI format, ``.csv``: points) for ``dataset``.

    Raises :class:`ReferenceError` when the file is missing or malformed, or declares another dataset."""
    file = resolve_path(path, root)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        where = f" (looked under {root} and the working directory)" if root is not None else ""
        raise ReferenceError(f"reference file {path} not found{where}") from None
    except OSError as exc:
        raise ReferenceError(f"reference file {path}: cannot read ({exc})") from None
    text = raw.decode("utf-8-sig", errors="replace")
    suffix = file.suffix.lower()
    if suffix == ".json":
        parsed = parse_compressai_json(text, path)
    elif suffix == ".csv":
        parsed = parse_csv(text, path)
    else:
        raise ReferenceError(f"reference file {path}: give a .json (CompressAI results) or .csv (points) file")
    declared = parsed.get("dataset")
    if declared is not None and str(declared) != dataset:
        raise ReferenceError(f"reference file {path} was measured on dataset {declared!r}, not {dataset!r}: "
                             "a published curve only applies to the dataset it was measured on")
    description = parsed["description"]
    if parsed.get("source_note"):
        description = f"{description} (source: {parsed['source_note']})".strip()
    return Reference(label or Path(path).stem, parsed["name"], dataset, path, hashlib.sha256(raw).hexdigest(),
                     parsed["bpp"], parsed["values"], description, parsed["ignored"])


def suite_references(suite) -> list[Reference]:
    """The suite's references, loaded (paths relative to the suite's folder when it was read from a file)."""
    root = getattr(suite, "source_dir", None)
    return [load_reference(r.path, r.dataset, r.key, root) for r in suite.references]


def check_suite_references(suite) -> list[str]:
    """Problems of the suite's references, each with its key path (empty when all fit): unreadable
    files, a dataset the file contradicts, no metric in common with the suite."""
    problems = []
    root = getattr(suite, "source_dir", None)
    metrics = {m.name for m in suite.metrics if not m.crop_border}
    for i, spec in enumerate(suite.references):
        try:
            ref = load_reference(spec.path, spec.dataset, spec.key, root)
        except ReferenceError as exc:
            problems.append(f"references[{i}]: {exc}")
            continue
        if not metrics & set(ref.values):
            problems.append(f"references[{i}]: {spec.path} has {', '.join(sorted(ref.values))}, none of which the "
                            f"suite measures ({', '.join(sorted(metrics)) or 'no uncropped metric'})")
    return problems


def partial_dataset_notes(suite: dict[str, Any], references: dict[str, Reference]) -> list[str]:
    """Warnings for references whose dataset this run did not measure as published: a ``limit``
    (the published mean covers every image) or a gray ``mode`` (published curves are RGB)."""
    specs = {(d.get("label") or _dataset_label(d)): d for d in suite.get("datasets", [])}
    notes = []
    for ref in references.values():
        d = specs.get(ref.dataset)
        if d is None:
            continue
        if d.get("limit"):
            notes.append(f"{ref.label}: the published curve averages all of {ref.dataset}; this run measured at "
                         f"most {d['limit']} of its images (datasets limit), so the comparison is not like for like")
        if d.get("mode") == "gray":
            notes.append(f"{ref.label}: the published curve is on RGB images; this run reads {ref.dataset} as gray")
    return notes


def _dataset_label(d: dict[str, Any]) -> str:
    if d.get("name") == "folder" and "path" in (d.get("params") or {}):
        return Path(str(d["params"]["path"])).name or "folder"
    return str(d.get("name"))


__all__ = ["COMPRESSAI_METRICS", "EXPORT_KEYS", "PUBLISHED", "Reference", "ReferenceError", "check_suite_references",
           "load_reference", "parse_compressai_json", "parse_csv", "partial_dataset_notes", "suite_references"]
