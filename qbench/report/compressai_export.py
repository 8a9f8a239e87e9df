"""``qbench report RUN --format compressai``: one CompressAI-format results JSON per curve.

Writes ``compressai/<dataset>/<codec>.json`` (pass-through solver) or ``<codec>-<solver>.json``
beside the report, in the layout ``compressai.utils.plot`` reads (``python -m
compressai.utils.plot -f <files> -m psnr``)::

    {"name": "jpeg", "description": "...", "dataset": "kodak",
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...], "psnr_y": [...]},
     "qbench": {"suite": ..., "suite_hash": ..., "codec": ..., "solver": ..., "quality": [...], "n_images": [...]}}

Points are the leaderboard rows of the curve (mean bpp and mean per-image metric), sorted by bpp.
``psnr_rgb`` and ``ms_ssim_rgb`` take CompressAI's keys (:data:`qbench.references.EXPORT_KEYS`),
other metrics keep their qbench names; a non-finite mean (PSNR of an exact image) is ``null``.
The extra ``dataset`` key makes the file usable as a suite reference of that dataset only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..references import EXPORT_KEYS
from .data import ReportData
from .files import write_text
from .formatting import file_slug

FOLDER = "compressai"


def _value(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def compressai_payloads(data: ReportData, summary) -> list[tuple[str, str, dict]]:
    """(dataset, file stem, document) of every (dataset, solver, codec) curve of ``summary``."""
    out = []
    if summary.empty:
        return out
    passthrough = {s for s, info in data.solvers.items() if info.passthrough}
    metrics = [m for m in data.metric_names if m in summary.columns]
    for (dataset, solver, codec), curve in summary.groupby(["dataset", "solver", "codec"], sort=False):
        curve = curve.sort_values("bpp", kind="stable")
        alone = solver in passthrough or solver == "identity"
        name = str(codec) if alone else f"{codec} + {solver}"
        results = {"bpp": [_value(v) for v in curve["bpp"]]}
        for m in metrics:
            results[EXPORT_KEYS.get(m, m)] = [_value(v) for v in curve[m]]
        doc = {"name": name,
               "description": f"qbench suite {data.suite['name']} ({data.suite_hash}), {dataset}: {name}; "
                              "mean bpp and mean per-image metric per point",
               "dataset": str(dataset), "results": results,
               "qbench": {"suite": data.suite["name"], "suite_hash": data.suite_hash, "codec": str(codec),
                          "solver": str(solver), "quality": [float(q) for q in curve["quality"]],
                          "n_images": [int(n) for n in curve["n_images"]]}}
        out.append((str(dataset), file_slug(codec if alone else f"{codec}-{solver}"), doc))
    return out


def write_compressai(data: ReportData, summary, out_dir: str | Path) -> list[Path]:
    """Write the curves under ``out_dir/compressai/<dataset>/``; returns the files written."""
    written = []
    for dataset, stem, doc in compressai_payloads(data, summary):
        folder = Path(out_dir) / FOLDER / file_slug(dataset)
        folder.mkdir(parents=True, exist_ok=True)
        written.append(write_text(folder / f"{stem}.json", json.dumps(doc, indent=1, allow_nan=False) + "\n"))
    return written
